package emulator

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// buildTree wires the blog post's graph: a → b, c and b → d, e, f.
func buildTree(t *testing.T, h *harness) {
	t.Helper()
	seedStacks(t, h.srv, "acme", "dep", "a", "b", "c", "d", "e", "f")
	for _, edge := range [][2]string{{"a", "b"}, {"a", "c"}, {"b", "d"}, {"b", "e"}, {"b", "f"}} {
		must[map[string]any](t, h.call(http.MethodPost, "/api/stacks/acme/dep/"+edge[0]+"/hooks",
			deployHook("acme", "dep", edge[0], edge[1])), http.StatusCreated)
	}
}

func TestCascadeDeploysTheTreeOnceInBreadthFirstOrder(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	buildTree(t, h)

	res, err := h.srv.FireUpdate("acme", "dep", "a")
	require.NoError(t, err)
	assert.False(t, res.Truncated)
	assert.Empty(t, res.FailedDeliveries)
	assert.Equal(t, []string{"b", "c", "d", "e", "f"}, stackNames(res.Deployments))
	assert.Equal(t, res.Deployments, h.srv.Deployments())
	assert.Equal(t, len(res.Deployments), h.srv.DeploymentCount())

	for _, d := range res.Deployments {
		assert.Equal(t, "update", d.Operation)
		assert.Equal(t, "succeeded", d.Status)
		assert.Equal(t, CauseWebhook, d.Cause.Kind)
		assert.Equal(t, "update_succeeded", d.Cause.Event)
		assert.NotEmpty(t, d.Cause.DeliveryID)
	}
	assert.Equal(t, "a", res.Deployments[1].Cause.Webhook.Stack, "c was deployed by a's webhook")
	assert.Equal(t, "b", res.Deployments[4].Cause.Webhook.Stack, "f was deployed by b's webhook")

	for stack, version := range map[string]float64{"a": 1, "b": 1, "f": 1} {
		got := must[map[string]any](t, h.call(http.MethodGet, "/api/stacks/acme/dep/"+stack, nil), http.StatusOK)
		assert.Equal(t, version, got["version"], stack)
	}

	// Each delivery that started a deployment says which one.
	var started []string
	for _, d := range h.srv.Deliveries() {
		if d.DeploymentID != "" {
			started = append(started, d.DeploymentID)
			assert.Equal(t, http.StatusAccepted, d.ResponseCode)
			assert.Equal(t, "update_succeeded", d.Event)
			assert.Equal(t, "stack_update", d.Kind, "the service's event kind, as Pulumi-Webhook-Kind carries it")
		}
	}
	assert.Len(t, started, 5)
}

// In a deeper graph, breadth first means every stack of one level deploys before any of the next.
func TestCascadeGoesLevelByLevel(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	seedStacks(t, h.srv, "acme", "dep", "a", "b", "c", "d", "e", "f")
	for _, edge := range [][2]string{{"a", "b"}, {"a", "c"}, {"b", "d"}, {"c", "e"}, {"d", "f"}} {
		must[map[string]any](t, h.call(http.MethodPost, "/api/stacks/acme/dep/"+edge[0]+"/hooks",
			deployHook("acme", "dep", edge[0], edge[1])), http.StatusCreated)
	}
	res, err := h.srv.FireUpdate("acme", "dep", "a")
	require.NoError(t, err)
	assert.Equal(t, []string{"b", "c", "d", "e", "f"}, stackNames(res.Deployments))
}

func TestAdminUpdateRouteRunsTheCascade(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	buildTree(t, h)
	res := must[CascadeResult](t, h.send(http.MethodPost, "/_emulator/stacks/acme/dep/b/update", nil, nil), http.StatusOK)
	assert.Equal(t, []string{"d", "e", "f"}, stackNames(res.Deployments))
	mustError(t, h.send(http.MethodPost, "/_emulator/stacks/acme/dep/nope/update", nil, nil), http.StatusNotFound)
}

func TestCascadeRecordsFailedDeliveries(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	seedStacks(t, h.srv, "acme", "app", "a")
	require.NoError(t, h.srv.CreateStack("acme", "app", "bare"))
	for _, to := range []string{"missing", "bare"} {
		h.createStackHook(t, deployHook("acme", "app", "a", to))
	}

	res, err := h.srv.FireUpdate("acme", "app", "a")
	require.NoError(t, err)
	assert.Empty(t, res.Deployments)
	assert.Empty(t, h.srv.Deployments())
	require.Len(t, res.FailedDeliveries, 2)
	assert.Equal(t, http.StatusNotFound, res.FailedDeliveries[0].ResponseCode)
	assert.Equal(t, "app/missing", res.FailedDeliveries[0].RequestURL)
	assert.Contains(t, res.FailedDeliveries[0].ResponseBody, "not found")
	assert.Equal(t, http.StatusBadRequest, res.FailedDeliveries[1].ResponseCode)
	assert.Contains(t, res.FailedDeliveries[1].ResponseBody, "no deployment settings")

	// The failures are in the webhook's delivery log, and a redelivery succeeds once the target is ready.
	hookName := res.FailedDeliveries[1].Webhook.Name
	base := "/api/stacks/acme/app/a/hooks/" + hookName
	list := must[[]DeliveryRecord](t, h.call(http.MethodGet, base+"/deliveries", nil), http.StatusOK)
	require.Len(t, list, 1)
	assert.Equal(t, http.StatusBadRequest, list[0].ResponseCode)

	require.NoError(t, h.srv.SetDeploymentSettings("acme", "app", "bare", map[string]any{"sourceContext": map[string]any{}}))
	again := must[DeliveryRecord](t, h.call(http.MethodPost, base+"/deliveries/"+list[0].ID+"/redeliver", nil), http.StatusOK)
	assert.Equal(t, http.StatusAccepted, again.ResponseCode)
	assert.Equal(t, []string{"bare"}, stackNames(h.srv.Deployments()))
}

func TestCascadeSkipsInactiveAndUninterestedWebhooks(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	seedStacks(t, h.srv, "acme", "app", "a", "b", "c", "d", "e")
	hooks := []map[string]any{
		override(deployHook("acme", "app", "a", "b"), map[string]any{"active": false}),
		override(deployHook("acme", "app", "a", "c"), map[string]any{"filters": []string{"update_failed"}}),
		override(deployHook("acme", "app", "a", "d"), map[string]any{"filters": nil, "groups": []string{"deployments"}}),
		override(deployHook("acme", "app", "a", "e"), map[string]any{"filters": nil, "groups": []string{"stacks"}}),
	}
	for _, body := range hooks {
		h.createStackHook(t, body)
	}
	res, err := h.srv.FireUpdate("acme", "app", "a")
	require.NoError(t, err)
	assert.Equal(t, []string{"e"}, stackNames(res.Deployments), "only the stacks group selects update_succeeded")
	assert.Len(t, h.srv.Deliveries(), 1)
}

// With neither filters nor groups a webhook gets every event, including the deployment events that a
// deployment of its own stack raises.
func TestWebhookWithoutFiltersGetsEveryEvent(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	seedStacks(t, h.srv, "acme", "app", "a", "b")
	h.createStackHook(t, deployHook("acme", "app", "a", "b"))
	h.createStackHook(t, stackHook("acme", "app", "b", map[string]any{"name": "all"}))

	_, err := h.srv.FireUpdate("acme", "app", "a")
	require.NoError(t, err)
	var kinds []string
	for _, d := range h.srv.Deliveries() {
		if d.Webhook.Name == "all" {
			kinds = append(kinds, d.Event+" "+d.Kind)
			assert.Equal(t, notSentBody, d.ResponseBody, "no network calls")
		}
	}
	assert.Equal(t, []string{"deployment_succeeded deployment", "update_succeeded stack_update"}, kinds)
}

func TestCascadeStopsAtTheCapOnACycle(t *testing.T) {
	t.Parallel()
	for _, limit := range []int{0, 7} {
		h := newHarness(t, func(o *Options) { o.MaxCascadeDeployments = limit })
		seedStacks(t, h.srv, "acme", "app", "a", "b")
		for _, edge := range [][2]string{{"a", "b"}, {"b", "a"}} {
			must[map[string]any](t, h.call(http.MethodPost, "/api/stacks/acme/app/"+edge[0]+"/hooks",
				deployHook("acme", "app", edge[0], edge[1])), http.StatusCreated)
		}
		res, err := h.srv.FireUpdate("acme", "app", "a")
		require.NoError(t, err)
		want := limit
		if want == 0 {
			want = defaultMaxCascade
		}
		assert.True(t, res.Truncated)
		assert.Len(t, res.Deployments, want)
		assert.Equal(t, "b", res.Deployments[0].Stack)
		assert.Equal(t, "a", res.Deployments[1].Stack)
	}
}

func TestDeliverySignature(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *Options) { o.Now = func() time.Time { return time.Unix(1700000000, 0) } })
	require.NoError(t, h.srv.CreateStack("acme", "app", "a"))
	h.createStackHook(t, stackHook("acme", "app", "a", map[string]any{"secret": "k3y"}))
	h.createStackHook(t, stackHook("acme", "app", "a", nil))

	_, err := h.srv.FireUpdate("acme", "app", "a")
	require.NoError(t, err)
	ds := h.srv.Deliveries()
	require.Len(t, ds, 2)

	mac := hmac.New(sha256.New, []byte("k3y"))
	mac.Write([]byte(ds[0].Payload))
	assert.Contains(t, ds[0].RequestHeaders, "Pulumi-Webhook-Signature: "+hex.EncodeToString(mac.Sum(nil)))
	assert.Equal(t, Sign("k3y", []byte(ds[0].Payload)), hex.EncodeToString(mac.Sum(nil)))
	assert.NotContains(t, ds[1].RequestHeaders, "Pulumi-Webhook-Signature", "no secret, no signature")
	assert.Equal(t, int64(1700000000), ds[0].Timestamp)

	assert.Contains(t, ds[0].RequestHeaders, "Pulumi-Webhook-Kind: stack_update\r\n")
	assert.Contains(t, ds[0].RequestHeaders, "Pulumi-Webhook-Id: "+ds[0].ID+"\r\n")
	var payload map[string]any
	require.NoError(t, json.Unmarshal([]byte(ds[0].Payload), &payload))
	assert.Equal(t, "update", payload["kind"])
	assert.Equal(t, "succeeded", payload["result"])
	assert.Equal(t, "a", payload["stackName"])
	assert.Equal(t, "app", payload["projectName"])
	assert.Equal(t, "https://app.pulumi.com/acme/app/a/updates/1", payload["updateUrl"])
}

func TestOrganizationWebhooksSeeTheirStacksEvents(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	must[map[string]any](t, h.call(http.MethodPost, "/api/orgs/acme/hooks", map[string]any{
		"organizationName": "acme", "name": "org", "displayName": "org", "payloadUrl": "https://example.com",
		"active": true, "filters": []string{"stack_created", "update_succeeded", "stack_deleted"},
	}), http.StatusCreated)
	require.NoError(t, h.srv.CreateStack("acme", "app", "a"))
	require.NoError(t, h.srv.CreateStack("other", "app", "a"))
	_, err := h.srv.FireUpdate("acme", "app", "a")
	require.NoError(t, err)
	require.Equal(t, http.StatusNoContent, h.call(http.MethodDelete, "/api/stacks/acme/app/a", nil).status)

	var kinds []string
	for _, d := range h.srv.Deliveries() {
		kinds = append(kinds, d.Event+" "+d.Kind)
	}
	assert.Equal(t, []string{"stack_created stack", "update_succeeded stack_update", "stack_deleted stack"}, kinds)
}

func TestEnvironmentWebhookRedeploysAStack(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	seedStacks(t, h.srv, "acme", "app", "svc")
	require.NoError(t, h.srv.CreateEnvironment("acme", "app", "shared"))
	must[map[string]any](t, h.call(http.MethodPost, "/api/esc/environments/acme/app/shared/hooks", map[string]any{
		"organizationName": "acme", "projectName": "app", "envName": "shared", "displayName": "redeploy",
		"payloadUrl": "app/svc", "active": true, "format": "pulumi_deployments",
		"filters": []string{"environment_revision_created"},
	}), http.StatusCreated)

	res := must[CascadeResult](t, h.send(http.MethodPost, "/_emulator/environments/acme/app/shared/revision", nil, nil),
		http.StatusOK)
	assert.Equal(t, []string{"svc"}, stackNames(res.Deployments))
	assert.Equal(t, ScopeEnvironment, res.Deployments[0].Cause.Webhook.Type)
	_, err := h.srv.FireEnvironmentRevision("acme", "app", "nope")
	assert.Error(t, err)
}

func TestFireUpdateOnMissingStack(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, err := h.srv.FireUpdate("acme", "app", "nope")
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, http.StatusNotFound, e.Code)
	assert.True(t, strings.Contains(e.Message, "not found"))
}
