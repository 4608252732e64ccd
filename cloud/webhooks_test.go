package cloud

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	orgScope   = WebhookScope{Organization: "acme"}
	stackScope = WebhookScope{Organization: "acme", Project: "web", Stack: "prod"}
	envScope   = WebhookScope{Organization: "acme", Project: "shared", Environment: "creds"}
)

func TestWebhookScope(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		scope      WebhookScope
		kind, str  string
		collection string
		invalid    string
	}{
		{name: "organization", scope: orgScope, kind: "organization", str: "acme",
			collection: "orgs/acme/hooks"},
		{name: "stack", scope: stackScope, kind: "stack", str: "acme/web/prod",
			collection: "stacks/acme/web/prod/hooks"},
		{name: "environment", scope: envScope, kind: "environment", str: "acme/environment/shared/creds",
			collection: "esc/environments/acme/shared/creds/hooks"},
		{name: "no organization", scope: WebhookScope{Project: "p", Stack: "s"}, kind: "stack",
			str: "/p/s", invalid: "organization is required"},
		{name: "stack without project", scope: WebhookScope{Organization: "o", Stack: "s"}, kind: "stack",
			str: "o//s", invalid: "needs its project"},
		{name: "environment without project", scope: WebhookScope{Organization: "o", Environment: "e"},
			kind: "environment", str: "o/environment//e", invalid: "needs its project"},
		{name: "stack and environment",
			scope: WebhookScope{Organization: "o", Project: "p", Stack: "s", Environment: "e"},
			kind:  "environment", str: "o/environment/p/e", invalid: "cannot both be set"},
		{name: "project alone", scope: WebhookScope{Organization: "o", Project: "p"}, kind: "organization",
			str: "o", invalid: "a project alone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.kind, tt.scope.Kind())
			assert.Equal(t, tt.str, tt.scope.String())
			err := tt.scope.validate()
			if tt.invalid != "" {
				assert.ErrorContains(t, err, tt.invalid)
				return
			}
			require.NoError(t, err)
			req := request{segs: tt.scope.collection()}
			path, err := req.path()
			require.NoError(t, err)
			assert.Equal(t, "/api/"+tt.collection, path)
		})
	}
}

func TestInvalidScopeSendsNothing(t *testing.T) {
	t.Parallel()
	srv := &recordingServer{status: http.StatusOK, body: "[]"}
	c, _ := newTestClient(t, srv, RetryPolicy{})
	_, err := c.ListWebhooks(t.Context(), WebhookScope{Organization: "o", Stack: "s"})
	require.Error(t, err)
	assert.Zero(t, c.Stats().Requests)
}

const hookJSON = `{"organizationName":"acme","projectName":"web","stackName":"prod","name":"a1b2c3d4",
	"displayName":"Deploy","payloadUrl":"web/staging","active":true,"format":"pulumi_deployments",
	"filters":["update_succeeded"],"groups":["stacks","deployments"],"hasSecret":true,"secretCiphertext":"AAAA"}`

const deliveryJSON = `{"id":"d-1","kind":"ping","payload":"{}","timestamp":1767225600,"duration":42,
	"requestUrl":"https://example.com/hook","requestHeaders":"X-A: 1","responseCode":200,
	"responseHeaders":"Content-Type: text/plain","responseBody":"ok"}`

func TestWebhookRequests(t *testing.T) {
	t.Parallel()
	desired := Webhook{
		Name:        "",
		DisplayName: "Deploy",
		PayloadURL:  "web/staging",
		Active:      true,
		Format:      "pulumi_deployments",
		Filters:     []string{"update_succeeded"},
		Secret:      "hmac-key",
		// Response-only fields and stale scope fields must not reach the wire.
		OrganizationName: "other",
		HasSecret:        true,
		SecretCiphertext: "stale",
	}
	tests := []struct {
		name     string
		status   int
		response string
		call     func(ctx context.Context, c *Client) (any, error)
		method   string
		uri      string
		body     string
		want     any
	}{
		{
			name: "create in organization", status: http.StatusCreated, response: hookJSON,
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.CreateWebhook(ctx, WebhookScope{Organization: "my org"}, desired)
			},
			method: http.MethodPost, uri: "/api/orgs/my%20org/hooks",
			body: `{"organizationName":"my org","name":"","displayName":"Deploy","payloadUrl":"web/staging",
				"active":true,"format":"pulumi_deployments","filters":["update_succeeded"],"secret":"hmac-key"}`,
			want: Webhook{OrganizationName: "acme", ProjectName: "web", StackName: "prod", Name: "a1b2c3d4",
				DisplayName: "Deploy", PayloadURL: "web/staging", Active: true, Format: "pulumi_deployments",
				Filters: []string{"update_succeeded"}, Groups: []string{"stacks", "deployments"},
				HasSecret: true, SecretCiphertext: "AAAA"},
		},
		{
			name: "create on stack with a slash in its name", status: http.StatusCreated, response: hookJSON,
			call: func(ctx context.Context, c *Client) (any, error) {
				w := desired
				w.Name = "chosen"
				w.Secret = ""
				return c.CreateWebhook(ctx, WebhookScope{Organization: "acme", Project: "web", Stack: "a/b"}, w)
			},
			method: http.MethodPost, uri: "/api/stacks/acme/web/a%2Fb/hooks",
			body: `{"organizationName":"acme","projectName":"web","stackName":"a/b","name":"chosen",
				"displayName":"Deploy","payloadUrl":"web/staging","active":true,"format":"pulumi_deployments",
				"filters":["update_succeeded"]}`,
		},
		{
			name: "create on environment", status: http.StatusCreated, response: hookJSON,
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.CreateWebhook(ctx, envScope, Webhook{DisplayName: "d", PayloadURL: "https://x", Active: false})
			},
			method: http.MethodPost, uri: "/api/esc/environments/acme/shared/creds/hooks",
			body: `{"organizationName":"acme","projectName":"shared","envName":"creds","name":"",
				"displayName":"d","payloadUrl":"https://x","active":false}`,
		},
		{
			name: "list", status: http.StatusOK, response: "[" + hookJSON + "]",
			call: func(ctx context.Context, c *Client) (any, error) {
				hooks, err := c.ListWebhooks(ctx, stackScope)
				if err != nil {
					return nil, err
				}
				return len(hooks), nil
			},
			method: http.MethodGet, uri: "/api/stacks/acme/web/prod/hooks", want: 1,
		},
		{
			name: "get", status: http.StatusOK, response: hookJSON,
			call: func(ctx context.Context, c *Client) (any, error) {
				w, err := c.GetWebhook(ctx, orgScope, "name with space")
				return w.Name, err
			},
			method: http.MethodGet, uri: "/api/orgs/acme/hooks/name%20with%20space", want: "a1b2c3d4",
		},
		{
			name: "update carries the name", status: http.StatusOK, response: hookJSON,
			call: func(ctx context.Context, c *Client) (any, error) {
				w, err := c.UpdateWebhook(ctx, stackScope, "a1b2c3d4", desired)
				return w.Name, err
			},
			method: http.MethodPatch, uri: "/api/stacks/acme/web/prod/hooks/a1b2c3d4",
			body: `{"organizationName":"acme","projectName":"web","stackName":"prod","name":"a1b2c3d4",
				"displayName":"Deploy","payloadUrl":"web/staging","active":true,"format":"pulumi_deployments",
				"filters":["update_succeeded"],"groups":[],"secret":"hmac-key"}`,
			want: "a1b2c3d4",
		},
		{
			// The service may keep what a PATCH leaves out, so clearing must be explicit.
			name: "update clears filters, groups and secret", status: http.StatusOK, response: hookJSON,
			call: func(ctx context.Context, c *Client) (any, error) {
				_, err := c.UpdateWebhook(ctx, orgScope, "h", Webhook{DisplayName: "d", PayloadURL: "https://x",
					Format: "raw"})
				return nil, err
			},
			method: http.MethodPatch, uri: "/api/orgs/acme/hooks/h",
			body: `{"organizationName":"acme","name":"h","displayName":"d","payloadUrl":"https://x","active":false,
				"format":"raw","filters":[],"groups":[],"secret":""}`,
		},
		{
			name: "delete", status: http.StatusNoContent,
			call: func(ctx context.Context, c *Client) (any, error) {
				return nil, c.DeleteWebhook(ctx, envScope, "h")
			},
			method: http.MethodDelete, uri: "/api/esc/environments/acme/shared/creds/hooks/h",
		},
		{
			name: "ping", status: http.StatusOK, response: deliveryJSON,
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.PingWebhook(ctx, orgScope, "h")
			},
			method: http.MethodPost, uri: "/api/orgs/acme/hooks/h/ping",
			want: WebhookDelivery{ID: "d-1", Kind: "ping", Payload: "{}", Timestamp: 1767225600, Duration: 42,
				RequestURL: "https://example.com/hook", RequestHeaders: "X-A: 1", ResponseCode: 200,
				ResponseHeaders: "Content-Type: text/plain", ResponseBody: "ok"},
		},
		{
			name: "deliveries", status: http.StatusOK, response: "[" + deliveryJSON + "," + deliveryJSON + "]",
			call: func(ctx context.Context, c *Client) (any, error) {
				ds, err := c.ListWebhookDeliveries(ctx, stackScope, "h")
				if err != nil {
					return nil, err
				}
				return []any{len(ds), ds[1].ResponseCode}, nil
			},
			method: http.MethodGet, uri: "/api/stacks/acme/web/prod/hooks/h/deliveries", want: []any{2, 200},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := &recordingServer{status: tt.status, body: tt.response}
			c, _ := newTestClient(t, srv, RetryPolicy{})
			got, err := tt.call(t.Context(), c)
			require.NoError(t, err)
			srv.assertOnly(t, tt.method, tt.uri, tt.body)
			if tt.want != nil {
				assert.Equal(t, tt.want, got)
			}
		})
	}
}

func TestWebhookNotFound(t *testing.T) {
	t.Parallel()
	srv := &recordingServer{status: http.StatusNotFound, body: `{"code":404,"message":"Webhook 'h' not found"}`}
	c, _ := newTestClient(t, srv, RetryPolicy{})

	_, err := c.GetWebhook(t.Context(), stackScope, "h")
	require.ErrorIs(t, err, ErrNotFound)
	assert.EqualError(t, err, "GET /api/stacks/acme/web/prod/hooks/h: 404 Not Found: Webhook 'h' not found")

	err = c.DeleteWebhook(t.Context(), stackScope, "h")
	assert.ErrorIs(t, err, ErrNotFound)
}

func TestCreateWebhookDuplicateName(t *testing.T) {
	t.Parallel()
	srv := &recordingServer{status: http.StatusConflict,
		body: `{"code":409,"message":"Webhook with name h already exists"}`}
	c, _ := newTestClient(t, srv, RetryPolicy{})
	_, err := c.CreateWebhook(t.Context(), orgScope, Webhook{Name: "h", DisplayName: "d", PayloadURL: "u"})
	require.ErrorIs(t, err, ErrConflict)
	assert.NotErrorIs(t, err, ErrAmbiguous)
	assert.ErrorContains(t, err, "already exists")
	assert.Equal(t, int64(1), c.Stats().Requests)
}
