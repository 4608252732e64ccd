package provider

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/pulumi/pulumi/sdk/v3/go/property"

	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator/emulatortest"
)

// isolateEnv clears every variable the config reads and points the CLI's credential
// store at an empty temporary home, so the machine's own login never leaks in.
func isolateEnv(t *testing.T) {
	t.Helper()
	for _, key := range []string{"PULUMI_ACCESS_TOKEN", "PULUMI_BACKEND_URL", "PULUMI_API"} {
		t.Setenv(key, "")
	}
	t.Setenv("PULUMI_HOME", t.TempDir())
	t.Setenv("PULUMI_CREDENTIALS_PATH", "")
}

func TestResolveAPIURL(t *testing.T) {
	cases := []struct {
		name       string
		configured string
		env        map[string]string
		want       string
		wantErr    string
	}{
		{name: "default", want: "https://api.pulumi.com"},
		{name: "config wins", configured: "https://api.example.com/", want: "https://api.example.com",
			env: map[string]string{"PULUMI_BACKEND_URL": "https://other.example.com"}},
		{name: "final /api is dropped", configured: "https://pulumi.example.com/api", want: "https://pulumi.example.com"},
		{name: "final /api/ is dropped", configured: "https://pulumi.example.com/api/", want: "https://pulumi.example.com"},
		{name: "path is kept", configured: "https://pulumi.example.com/selfhosted",
			want: "https://pulumi.example.com/selfhosted"},
		{name: "path keeps its escapes", configured: "https://pulumi.example.com/self%2Fhosted/",
			want: "https://pulumi.example.com/self%2Fhosted"},
		{name: "path before /api is kept", configured: "https://pulumi.example.com/selfhosted/api/",
			want: "https://pulumi.example.com/selfhosted"},
		{name: "only a final /api segment", configured: "https://pulumi.example.com/myapi",
			want: "https://pulumi.example.com/myapi"},
		{name: "query and fragment dropped", configured: "https://pulumi.example.com/p/?x=1#y",
			want: "https://pulumi.example.com/p"},
		{name: "backend URL path kept", env: map[string]string{"PULUMI_BACKEND_URL": "https://self.example.com/pulumi/"},
			want: "https://self.example.com/pulumi"},
		{name: "backend URL when http", env: map[string]string{"PULUMI_BACKEND_URL": "https://self.example.com"},
			want: "https://self.example.com"},
		{name: "file backend ignored", env: map[string]string{"PULUMI_BACKEND_URL": "file:///tmp/state",
			"PULUMI_API": "https://api2.example.com"}, want: "https://api2.example.com"},
		{name: "loopback http allowed", configured: "http://127.0.0.1:8383", want: "http://127.0.0.1:8383"},
		{name: "localhost http allowed", configured: "http://localhost:8383", want: "http://localhost:8383"},
		{name: "remote http refused", configured: "http://api.example.com",
			wantErr: `auto-deploy:apiUrl "http://api.example.com" uses plain http:// to a remote host, which would ` +
				`send the access token unencrypted: use https://, or http:// only with localhost or a loopback address`},
		{name: "not a URL", configured: "api.pulumi.com",
			wantErr: `auto-deploy:apiUrl "api.pulumi.com" is not a Pulumi Cloud API URL: use an absolute https:// ` +
				`URL such as https://api.pulumi.com`},
		{name: "bad env URL names the variable", env: map[string]string{"PULUMI_API": "ftp://x"},
			wantErr: `PULUMI_API "ftp://x" is not a Pulumi Cloud API URL`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			isolateEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var configured *string
			if tc.configured != "" {
				configured = &tc.configured
			}
			got, err := resolveAPIURL(configured)
			if tc.wantErr != "" {
				assert.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

// The path of apiUrl reaches the server: every request goes to <path>/api/...
func TestConfiguredAPIURLPathReachesServer(t *testing.T) {
	for _, tc := range []struct{ suffix, wantPath string }{
		{"/selfhosted", "/selfhosted/api/stacks/o/p/s"},
		{"/selfhosted/", "/selfhosted/api/stacks/o/p/s"},
		{"/selfhosted/api", "/selfhosted/api/stacks/o/p/s"},
		{"/api", "/api/stacks/o/p/s"},
		{"", "/api/stacks/o/p/s"},
	} {
		t.Run(tc.suffix, func(t *testing.T) {
			isolateEnv(t)
			var mu sync.Mutex
			var paths []string
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				paths = append(paths, r.URL.Path)
				mu.Unlock()
				_, _ = io.WriteString(w, `{"stackName":"s"}`)
			}))
			t.Cleanup(hs.Close)
			apiURL, token := hs.URL+tc.suffix, "tok"
			conn, err := (&Config{APIURL: &apiURL, AccessToken: &token}).connection()
			require.NoError(t, err)
			client, err := NewCloudClient(conn.apiURL, conn.token)
			require.NoError(t, err)
			_, err = client.GetStack(t.Context(), "o", "p", "s")
			require.NoError(t, err)
			mu.Lock()
			defer mu.Unlock()
			assert.Equal(t, []string{tc.wantPath}, paths)
		})
	}
}

func TestStoredTokenForPathPrefixedBackend(t *testing.T) {
	isolateEnv(t)
	require.NoError(t, workspace.StoreCredentials(workspace.Credentials{
		Current: "https://pulumi.example.com/selfhosted/",
		AccessTokens: map[string]string{
			"https://pulumi.example.com/selfhosted/": "selfhosted-token",
			"https://pulumi.example.com":             "root-token",
		},
	}))
	got, err := resolveAccessToken(nil, "https://pulumi.example.com/selfhosted")
	require.NoError(t, err)
	assert.Equal(t, "selfhosted-token", got)
	got, err = resolveAccessToken(nil, "https://pulumi.example.com")
	require.NoError(t, err)
	assert.Equal(t, "root-token", got, "a login to another path of the same host is another backend")
	_, err = resolveAccessToken(nil, "https://pulumi.example.com/other")
	assert.Error(t, err)
}

func TestResolveAccessToken(t *testing.T) {
	isolateEnv(t)
	configured := "from-config"

	_, err := resolveAccessToken(nil, "https://api.pulumi.com")
	assert.EqualError(t, err, "no Pulumi Cloud access token for https://api.pulumi.com: set it with "+
		"`pulumi config set --secret auto-deploy:accessToken <token>`, or export PULUMI_ACCESS_TOKEN, "+
		"or run `pulumi login https://api.pulumi.com`")

	// The token `pulumi login` stored for this backend.
	require.NoError(t, workspace.StoreCredentials(workspace.Credentials{
		Current:      "https://api.pulumi.com",
		AccessTokens: map[string]string{"https://api.pulumi.com/": "from-login", "https://other.example": "x"},
	}))
	got, err := resolveAccessToken(nil, "https://api.pulumi.com")
	require.NoError(t, err)
	assert.Equal(t, "from-login", got)
	_, err = resolveAccessToken(nil, "https://third.example.com")
	assert.Error(t, err, "a token stored for another backend is never sent to this one")

	t.Setenv("PULUMI_ACCESS_TOKEN", "from-env")
	got, err = resolveAccessToken(nil, "https://api.pulumi.com")
	require.NoError(t, err)
	assert.Equal(t, "from-env", got)

	got, err = resolveAccessToken(&configured, "https://api.pulumi.com")
	require.NoError(t, err)
	assert.Equal(t, "from-config", got)
	_, err = os.Stat(filepath.Join(os.Getenv("PULUMI_HOME"), "credentials.json"))
	require.NoError(t, err, "the test wrote credentials into its own home, not the machine's")
}

func TestConfigureWithoutTokenFails(t *testing.T) {
	isolateEnv(t)
	prov, err := New(NewCloudClient)
	require.NoError(t, err)
	server := newServerFor(t, prov)
	err = server.Configure(p.ConfigureRequest{Args: property.NewMap(map[string]property.Value{
		"apiUrl": property.New("http://127.0.0.1:9"),
	})})
	assert.ErrorContains(t, err, "no Pulumi Cloud access token for http://127.0.0.1:9: set it with "+
		"`pulumi config set --secret auto-deploy:accessToken <token>`, or export PULUMI_ACCESS_TOKEN")
}

func TestRefusedTokenIsExplained(t *testing.T) {
	t.Parallel()
	tc := newTestCloud(t)
	tc.cloud.SeedDeployable(t, "org", "network", "prod")
	server := newServer(t, tc.cloud.URL, "not-the-token")
	_, err := engineCreate(server, webhookURN, stackWebhook("prod", nil))
	require.Error(t, err)
	// Which call meets the 401 first (a create, or the webhook listing a create starts with) is the
	// resource's business; the explanation and the stack are what matter here.
	assert.Contains(t, err.Error(), "org/network/prod: Pulumi Cloud refused "+
		"the access token (401): check auto-deploy:accessToken or PULUMI_ACCESS_TOKEN, or run `pulumi login` again")
	assert.NotContains(t, err.Error(), "not-the-token", "the token never appears in an error")
	assert.Empty(t, tc.cloud.Webhooks())
}

func TestTLSVerificationStaysOn(t *testing.T) {
	t.Parallel()
	tc := newTestCloud(t, emulatortest.WithTLS()) // a certificate no trust store knows
	require.NoError(t, tc.cloud.CreateStack("org", "network", "prod"))
	_, err := engineCreate(tc.server, webhookURN, stackWebhook("prod", nil))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "certificate")
	assert.Empty(t, tc.cloud.Webhooks(), "nothing was sent to a server whose certificate failed")
}
