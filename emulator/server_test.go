package emulator

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAuth(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	require.NoError(t, h.srv.CreateStack("acme", "app", "dev"))

	cases := []struct {
		name   string
		auth   string
		status int
	}{
		{"missing", "", http.StatusUnauthorized},
		{"wrong token", "token nope", http.StatusUnauthorized},
		{"bearer scheme", "Bearer " + testToken, http.StatusUnauthorized},
		{"token without scheme", testToken, http.StatusUnauthorized},
		{"right token", "token " + testToken, http.StatusOK},
		{"scheme is case-insensitive", "Token " + testToken, http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			headers := map[string]string{}
			if tc.auth != "" {
				headers["Authorization"] = tc.auth
			}
			r := h.send(http.MethodGet, "/api/stacks/acme/app/dev", nil, headers)
			assert.NotEmpty(t, r.header.Get(requestIDHeader))
			if tc.status == http.StatusUnauthorized {
				mustError(t, r, http.StatusUnauthorized)
				return
			}
			assert.Equal(t, tc.status, r.status)
		})
	}
}

func TestUnauthorizedWritesChangeNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := h.send(http.MethodPost, "/api/stacks/acme/app", map[string]any{"stackName": "dev"}, nil)
	mustError(t, r, http.StatusUnauthorized)
	mustError(t, h.call(http.MethodGet, "/api/stacks/acme/app/dev", nil), http.StatusNotFound)
}

// The official provider sends Content-Type on every request, GET and DELETE included, and either Accept
// version; a server that refused them would break it.
func TestAcceptsProviderHeadersOnEveryMethod(t *testing.T) {
	t.Parallel()
	for _, accept := range []string{"", "application/vnd.pulumi+8", "application/vnd.pulumi+9"} {
		t.Run("accept "+accept, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			headers := map[string]string{"Authorization": "token " + testToken, "Content-Type": "application/json"}
			if accept != "" {
				headers["Accept"] = accept
			}
			require.Equal(t, http.StatusOK,
				h.send(http.MethodPost, "/api/stacks/acme/app", map[string]any{"stackName": "dev"}, headers).status)
			assert.Equal(t, http.StatusOK, h.send(http.MethodGet, "/api/stacks/acme/app/dev", nil, headers).status)
			assert.Equal(t, http.StatusOK, h.send(http.MethodGet, "/api/orgs/acme/hooks", nil, headers).status)
			assert.Equal(t, http.StatusNoContent, h.send(http.MethodDelete, "/api/stacks/acme/app/dev", nil, headers).status)
		})
	}
}

func TestUnknownRoutes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)

	r := h.call(http.MethodGet, "/api/nothing/here", nil)
	assert.Equal(t, http.StatusNotFound, r.status)
	assert.Contains(t, r.header.Get("Content-Type"), "text/plain", "unknown routes answer like a router")
	assert.NotEmpty(t, r.header.Get(requestIDHeader))

	// The token is checked before routing, as at the real edge.
	mustError(t, h.send(http.MethodGet, "/api/nothing/here", nil, nil), http.StatusUnauthorized)

	assert.Equal(t, http.StatusMethodNotAllowed, h.call(http.MethodPut, "/api/orgs/acme/hooks", nil).status)
	assert.Equal(t, http.StatusNotFound, h.call(http.MethodGet, "/elsewhere", nil).status)
}

func TestRequestIDsDiffer(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	a := h.call(http.MethodGet, "/api/orgs/acme/hooks", nil).header.Get(requestIDHeader)
	b := h.call(http.MethodGet, "/api/orgs/acme/hooks", nil).header.Get(requestIDHeader)
	assert.NotEmpty(t, a)
	assert.NotEqual(t, a, b)
}

func TestMalformedJSON(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	msg := mustError(t, h.call(http.MethodPost, "/api/orgs/acme/hooks", "{not json"), http.StatusBadRequest)
	assert.Contains(t, msg, "JSON")
	msg = mustError(t, h.call(http.MethodPost, "/api/orgs/acme/hooks", `{"active":"yes"}`), http.StatusBadRequest)
	assert.Contains(t, msg, "active")
}

func TestNewRequiresToken(t *testing.T) {
	t.Parallel()
	assert.Panics(t, func() { New(Options{}) })
}

func TestMoreTokensAreAccepted(t *testing.T) {
	t.Parallel()
	srv := New(Options{Token: testToken, MoreTokens: []string{"rotated", ""}})
	require.NoError(t, srv.CreateStack("acme", "app", "dev"))
	for auth, want := range map[string]bool{
		"token " + testToken: true, "token rotated": true, "token ": false, "token other": false,
	} {
		assert.Equal(t, want, srv.authorized(auth), "%q", auth)
	}
}

func TestDefaultOrganization(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *Options) { o.DefaultOrganization = "acme" })
	r := h.send(http.MethodGet, "/api/user/organizations/default", nil, map[string]string{
		"Authorization": "token " + testToken})
	require.Equal(t, http.StatusOK, r.status)
	assert.JSONEq(t, `{"GitHubLogin":"acme","Messages":[]}`, string(r.body))
}
