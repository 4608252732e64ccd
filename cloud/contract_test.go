package cloud_test

// Contract tests: the REST client in this package against the in-process Pulumi Cloud emulator.
//
// The client and the emulator were written independently from the same facts
// (docs/cloud-api.md), so these tests check that the two agree on the wire:
// paths, methods, bodies, status codes, error bodies, headers (Retry-After, X-Pulumi-Request-ID) and
// the retry semantics that follow from them. Only exported API of both packages is used. Assertions
// about the emulator's store go through its in-process accessors (Webhooks, Deployments, Stats), so a
// change that the client only believes happened is caught.
//
// The tests are split by area: contract_webhooks_test.go, contract_stacks_test.go,
// contract_deployments_test.go and contract_errors_test.go (auth, error answers, faults, retries). This
// file holds what they share: one emulator per test from emulatortest, a client for it, the three webhook
// scopes and the assertions on errors.

import (
	"context"
	"errors"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator/emulatortest"
)

const (
	contractToken = "pul-contract-7f3e91c2d4b5a608"
	wrongToken    = "pul-wrong-0c1d2e3f4a5b6c7d"
	contractOrg   = "acme"
	contractProj  = "infra"
)

// contractNow is the emulator's clock, so delivery timestamps are exact.
var contractNow = time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)

var (
	orgScope   = cloud.WebhookScope{Organization: contractOrg}
	stackScope = cloud.WebhookScope{Organization: contractOrg, Project: contractProj, Stack: "prod"}
	envScope   = cloud.WebhookScope{Organization: contractOrg, Project: contractProj, Environment: "shared"}

	generatedName = regexp.MustCompile(`^[0-9a-f]{8}$`)
)

// scopeCase is one of the three webhook scopes, with what the emulator calls it and the route template
// the client must hit.
type scopeCase struct {
	name    string
	scope   cloud.WebhookScope
	emuType string
	route   string // collection route template as the emulator's Stats().ByRoute keys it
}

var scopeCases = []scopeCase{
	{"organization", orgScope, emulator.ScopeOrganization, "/api/orgs/{org}/hooks"},
	{"stack", stackScope, emulator.ScopeStack, "/api/stacks/{org}/{project}/{stack}/hooks"},
	{"environment", envScope, emulator.ScopeEnvironment, "/api/esc/environments/{org}/{project}/{env}/hooks"},
}

// inEveryScope runs test once per webhook scope, as parallel subtests named after the scope, each with a
// fresh emulator in which the scope's stack or environment exists.
func inEveryScope(t *testing.T, test func(t *testing.T, k *contract, sc scopeCase)) {
	t.Helper()
	for _, sc := range scopeCases {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			k := newContract(t)
			k.ensureScope(t, sc.scope)
			test(t, k, sc)
		})
	}
}

func noSleep(context.Context, time.Duration) error { return nil }

// contract is one emulator behind a real listener and a client pointed at it.
type contract struct {
	srv    *emulatortest.Cloud
	ts     *httptest.Server
	client *cloud.Client
}

// newContract starts a fresh emulator for one test. The client retries without sleeping; opts come after
// that default, so a test's own WithRetry replaces it.
func newContract(t *testing.T, opts ...cloud.Option) *contract {
	t.Helper()
	srv := emulatortest.Start(t, emulatortest.WithToken(contractToken),
		emulatortest.WithNow(func() time.Time { return contractNow }))
	return &contract{srv: srv, ts: srv.HTTP, client: newContractClient(t, srv.HTTP, contractToken, opts...)}
}

func newContractClient(t *testing.T, ts *httptest.Server, token string, opts ...cloud.Option) *cloud.Client {
	t.Helper()
	all := append([]cloud.Option{cloud.WithRetry(cloud.RetryPolicy{Sleep: noSleep})}, opts...)
	c, err := cloud.New(ts.Client(), ts.URL, token, all...)
	require.NoError(t, err)
	return c
}

// ensureScope creates the stack or environment a scope needs, through the emulator's own API.
func (k *contract) ensureScope(t *testing.T, s cloud.WebhookScope) {
	t.Helper()
	switch {
	case s.Stack != "":
		require.NoError(t, k.srv.CreateStack(s.Organization, s.Project, s.Stack))
	case s.Environment != "":
		require.NoError(t, k.srv.CreateEnvironment(s.Organization, s.Project, s.Environment))
	}
}

// hooksIn returns what the emulator stores for a scope.
func (k *contract) hooksIn(s cloud.WebhookScope) []emulator.Webhook {
	var out []emulator.Webhook
	for _, w := range k.srv.Webhooks() {
		if w.Org == s.Organization && w.Project == s.Project && w.Stack == s.Stack && w.Env == s.Environment {
			out = append(out, w)
		}
	}
	return out
}

// storedHook returns the one stored webhook of scope called name.
func (k *contract) storedHook(t *testing.T, s cloud.WebhookScope, name string) emulator.Webhook {
	t.Helper()
	var found []emulator.Webhook
	for _, w := range k.hooksIn(s) {
		if w.Name == name {
			found = append(found, w)
		}
	}
	require.Len(t, found, 1, "the emulator should store exactly one webhook %q in %s", name, s)
	return found[0]
}

// createHook creates a valid webhook through the client and fails the test if that does not work.
func (k *contract) createHook(t *testing.T, s cloud.WebhookScope, w cloud.Webhook) cloud.Webhook {
	t.Helper()
	got, err := k.client.CreateWebhook(t.Context(), s, w)
	require.NoError(t, err)
	require.NotEmpty(t, got.Name)
	return got
}

// sampleWebhook is a valid webhook for the scope, with filters and groups sent out of order.
func sampleWebhook(s cloud.WebhookScope) cloud.Webhook {
	w := cloud.Webhook{
		DisplayName: "Notify on " + s.Kind() + " events",
		PayloadURL:  "https://hooks.example.com/pulumi",
		Active:      true,
	}
	switch s.Kind() {
	case "environment":
		w.Filters = []string{"environment_tag_created", "environment_revision_created"}
		w.Groups = []string{"environments"}
	case "stack":
		w.Filters = []string{"update_succeeded", "drift_detected", "deployment_failed"}
		w.Groups = []string{"stacks", "deployments"}
	default:
		w.Filters = []string{"update_succeeded", "stack_created", "deployment_failed"}
		w.Groups = []string{"stacks", "environments", "deployments"}
	}
	return w
}

// requireAPIError checks that err is an *APIError with the status, a message and the request id the
// emulator sends on every answer, and that the message reaches err.Error().
func requireAPIError(t *testing.T, err error, status int) *cloud.APIError {
	t.Helper()
	require.Error(t, err)
	var apiErr *cloud.APIError
	require.ErrorAs(t, err, &apiErr, "error %q should carry an *cloud.APIError", err)
	assert.Equal(t, status, apiErr.StatusCode, "status of %q", err)
	assert.NotEmpty(t, apiErr.Message, "the emulator's {code,message} body should become the message")
	assert.Contains(t, err.Error(), apiErr.Message)
	assert.NotEmpty(t, apiErr.RequestID, "X-Pulumi-Request-ID should be carried")
	assert.Contains(t, err.Error(), apiErr.RequestID)
	assert.NotContains(t, err.Error(), contractToken, "the token must never appear in an error")
	return apiErr
}

// sentinels are the client's status sentinels, for asserting that an error matches only the right one.
var sentinels = map[string]error{
	"ErrNotFound":     cloud.ErrNotFound,
	"ErrUnauthorized": cloud.ErrUnauthorized,
	"ErrForbidden":    cloud.ErrForbidden,
	"ErrConflict":     cloud.ErrConflict,
	"ErrRateLimited":  cloud.ErrRateLimited,
	"ErrAmbiguous":    cloud.ErrAmbiguous,
}

// assertOnlySentinels checks that err matches exactly the given sentinels and no other.
func assertOnlySentinels(t *testing.T, err error, want ...error) {
	t.Helper()
	for name, s := range sentinels {
		wanted := false
		for _, w := range want {
			if errors.Is(w, s) {
				wanted = true
			}
		}
		assert.Equal(t, wanted, errors.Is(err, s), "errors.Is(%q, cloud.%s)", err, name)
	}
}

// statsDelta is how many requests and retries the client made since before.
func statsDelta(c *cloud.Client, before cloud.ClientStats) cloud.ClientStats {
	now := c.Stats()
	return cloud.ClientStats{Requests: now.Requests - before.Requests, Retries: now.Retries - before.Retries}
}

func uniq(xs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}
