package emulator

import (
	"encoding/json"
	"net/http"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWebhookLifecycleInEveryScope(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		collection string
		scope      map[string]any
	}{
		{"organization", "/api/orgs/acme/hooks", map[string]any{"organizationName": "acme"}},
		{"stack", "/api/stacks/acme/app/dev/hooks",
			map[string]any{"organizationName": "acme", "projectName": "app", "stackName": "dev"}},
		{"environment", "/api/esc/environments/acme/app/prod/hooks",
			map[string]any{"organizationName": "acme", "projectName": "app", "envName": "prod"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			require.NoError(t, h.srv.CreateStack("acme", "app", "dev"))
			require.NoError(t, h.srv.CreateEnvironment("acme", "app", "prod"))

			body := override(map[string]any{
				"name": "notify", "displayName": "Notify", "payloadUrl": "https://example.com/x",
				"active": true, "filters": []string{"update_succeeded"},
			}, tc.scope)
			created := must[map[string]any](t, h.call(http.MethodPost, tc.collection, body), http.StatusCreated)
			want := override(map[string]any{
				"name": "notify", "displayName": "Notify", "payloadUrl": "https://example.com/x", "active": true,
				"format": "raw", "filters": []any{"update_succeeded"}, "hasSecret": false, "secretCiphertext": "",
			}, tc.scope)
			assert.Equal(t, want, created)

			list := must[[]map[string]any](t, h.call(http.MethodGet, tc.collection, nil), http.StatusOK)
			assert.Equal(t, []map[string]any{want}, list)
			got := must[map[string]any](t, h.call(http.MethodGet, tc.collection+"/notify", nil), http.StatusOK)
			assert.Equal(t, want, got)

			patched := must[map[string]any](t, h.call(http.MethodPatch, tc.collection+"/notify",
				override(body, map[string]any{"displayName": "Renamed", "active": false})), http.StatusOK)
			assert.Equal(t, "Renamed", patched["displayName"])
			assert.Equal(t, false, patched["active"])

			del := h.call(http.MethodDelete, tc.collection+"/notify", nil)
			assert.Equal(t, http.StatusNoContent, del.status)
			assert.Empty(t, del.body)
			mustError(t, h.call(http.MethodGet, tc.collection+"/notify", nil), http.StatusNotFound)
			mustError(t, h.call(http.MethodDelete, tc.collection+"/notify", nil), http.StatusNotFound)
			mustError(t, h.call(http.MethodPatch, tc.collection+"/notify", body), http.StatusNotFound)
		})
	}
}

func TestWebhookListIsInCreationOrderAndEmptyIsArray(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := h.call(http.MethodGet, "/api/orgs/acme/hooks", nil)
	require.Equal(t, http.StatusOK, r.status)
	assert.JSONEq(t, "[]", string(r.body))

	for _, name := range []string{"zz", "aa", "mm"} {
		body := map[string]any{"organizationName": "acme", "name": name, "displayName": name,
			"payloadUrl": "https://example.com", "active": true}
		must[map[string]any](t, h.call(http.MethodPost, "/api/orgs/acme/hooks", body), http.StatusCreated)
	}
	list := must[[]webhookWire](t, h.call(http.MethodGet, "/api/orgs/acme/hooks", nil), http.StatusOK)
	require.Len(t, list, 3)
	assert.Equal(t, []string{"zz", "aa", "mm"}, []string{list[0].Name, list[1].Name, list[2].Name})
}

func TestWebhookSecretIsNeverReturned(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	require.NoError(t, h.srv.CreateStack("acme", "app", "dev"))
	r := h.call(http.MethodPost, "/api/stacks/acme/app/dev/hooks",
		stackHook("acme", "app", "dev", map[string]any{"secret": "s3cret"}))
	created := must[map[string]any](t, r, http.StatusCreated)
	assert.NotContains(t, created, "secret")
	assert.Equal(t, true, created["hasSecret"])
	assert.NotEmpty(t, created["secretCiphertext"])
	assert.NotContains(t, string(r.body), "s3cret")
	assert.Equal(t, "s3cret", h.srv.Webhooks()[0].Secret, "in-process accessors keep the secret for tests")
}

func TestWebhookValidation(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	require.NoError(t, h.srv.CreateStack("acme", "app", "dev"))
	require.NoError(t, h.srv.CreateEnvironment("acme", "app", "prod"))
	const (
		org   = "/api/orgs/acme/hooks"
		stack = "/api/stacks/acme/app/dev/hooks"
		env   = "/api/esc/environments/acme/app/prod/hooks"
	)
	orgBody := func(o map[string]any) map[string]any {
		return override(map[string]any{"organizationName": "acme", "displayName": "d",
			"payloadUrl": "https://example.com", "active": true}, o)
	}
	envBody := func(o map[string]any) map[string]any {
		return orgBody(override(map[string]any{"projectName": "app", "envName": "prod"}, o))
	}
	stackBody := func(o map[string]any) map[string]any { return stackHook("acme", "app", "dev", o) }

	cases := []struct {
		name string
		path string
		body map[string]any
		want string // a part of the message, usually the field's name
	}{
		{"organizationName missing", org, orgBody(map[string]any{"organizationName": nil}), "organizationName"},
		{"organizationName mismatch", org, orgBody(map[string]any{"organizationName": "other"}), "organizationName"},
		{"projectName mismatch", stack, stackBody(map[string]any{"projectName": "other"}), "projectName"},
		{"stackName mismatch", stack, stackBody(map[string]any{"stackName": "other"}), "stackName"},
		{"stackName missing", stack, stackBody(map[string]any{"stackName": nil}), "stackName"},
		{"envName mismatch", env, envBody(map[string]any{"envName": "other"}), "envName"},
		{"envName on a stack webhook", stack, stackBody(map[string]any{"envName": "prod"}), "envName"},
		{"stackName on an org webhook", org, orgBody(map[string]any{"stackName": "dev"}), "stackName"},
		{"displayName missing", org, orgBody(map[string]any{"displayName": nil}), "displayName"},
		{"displayName empty", org, orgBody(map[string]any{"displayName": ""}), "displayName"},
		{"payloadUrl missing", org, orgBody(map[string]any{"payloadUrl": nil}), "payloadUrl"},
		{"payloadUrl not http", org, orgBody(map[string]any{"payloadUrl": "ftp://example.com"}), "payloadUrl"},
		{"payloadUrl not a URL", org, orgBody(map[string]any{"payloadUrl": "example"}), "payloadUrl"},
		{"active missing", org, orgBody(map[string]any{"active": nil}), "active"},
		{"active not a bool", org, orgBody(map[string]any{"active": "true"}), "active"},
		{"format unknown", org, orgBody(map[string]any{"format": "xml"}), "format"},
		{"pulumi_deployments on org", org, orgBody(map[string]any{"format": "pulumi_deployments", "payloadUrl": "app/dev"}),
			"'pulumi_deployments' format can only be used on stack or environment webhooks"},
		{"pulumi_deployments URL", stack, stackBody(map[string]any{"format": "pulumi_deployments"}), "payloadUrl"},
		{"pulumi_deployments bad stack name", stack,
			stackBody(map[string]any{"format": "pulumi_deployments", "payloadUrl": "app/de v"}), "payloadUrl"},
		{"pulumi_deployments three parts", stack,
			stackBody(map[string]any{"format": "pulumi_deployments", "payloadUrl": "acme/app/dev"}), "payloadUrl"},
		{"filter unknown", stack, stackBody(map[string]any{"filters": []string{"nope"}}), "filters"},
		{"org-only filter on stack", stack, stackBody(map[string]any{"filters": []string{"stack_created"}}), "filters"},
		{"org-only filter on env", env, envBody(map[string]any{"filters": []string{"environment_deleted"}}), "filters"},
		{"change request filter on stack", stack,
			stackBody(map[string]any{"filters": []string{"change_request_created"}}), "filters"},
		{"group unknown", org, orgBody(map[string]any{"groups": []string{"nope"}}), "groups"},
		{"org-only group on stack", stack, stackBody(map[string]any{"groups": []string{"change_requests"}}), "groups"},
		{"name too long", org, orgBody(map[string]any{"name": "a234567890123456789012345678901234"}), "name"},
		{"name with a slash", org, orgBody(map[string]any{"name": "a/b"}), "name"},
		{"name with a space", org, orgBody(map[string]any{"name": "a b"}), "name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			msg := mustError(t, h.call(http.MethodPost, tc.path, tc.body), http.StatusBadRequest)
			assert.Contains(t, msg, tc.want)
		})
	}
	assert.Empty(t, h.srv.Webhooks(), "no refused create may store anything")
}

func TestWebhookAcceptsEveryDocumentedFilterAndGroup(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var all []string
	for _, events := range groupEvents {
		all = append(all, events...)
	}
	body := map[string]any{"organizationName": "acme", "displayName": "all", "payloadUrl": "https://example.com",
		"active": true, "filters": all,
		"groups": []string{"stacks", "deployments", "environments", "policies", "change_requests"}}
	created := must[webhookWire](t, h.call(http.MethodPost, "/api/orgs/acme/hooks", body), http.StatusCreated)
	assert.ElementsMatch(t, all, created.Filters)
	assert.Len(t, created.Groups, 5)
	for _, f := range []string{"policy_violation_mandatory", "import_failed", "deployment_file_ingestion_failed",
		"change_request_submitted", "environment_rotation_failed"} {
		assert.Contains(t, created.Filters, f)
	}
}

func TestWebhookDuplicateName(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	require.NoError(t, h.srv.CreateStack("acme", "app", "dev"))
	body := stackHook("acme", "app", "dev", map[string]any{"name": "same"})
	h.createStackHook(t, body)
	msg := mustError(t, h.call(http.MethodPost, "/api/stacks/acme/app/dev/hooks", body), http.StatusConflict)
	assert.Equal(t, "Webhook with name same already exists", msg)

	// Names are unique per scope, not globally.
	orgBody := map[string]any{"organizationName": "acme", "name": "same", "displayName": "d",
		"payloadUrl": "https://example.com", "active": true}
	must[map[string]any](t, h.call(http.MethodPost, "/api/orgs/acme/hooks", orgBody), http.StatusCreated)
}

func TestWebhookGeneratedNames(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	require.NoError(t, h.srv.CreateStack("acme", "app", "dev"))
	hex8 := regexp.MustCompile(`^[0-9a-f]{8}$`)
	seen := map[string]bool{}
	for _, name := range []any{nil, ""} {
		body := stackHook("acme", "app", "dev", map[string]any{"name": name})
		created := h.createStackHook(t, body)
		assert.Regexp(t, hex8, created.Name)
		assert.False(t, seen[created.Name])
		seen[created.Name] = true
	}
}

func TestWebhookPatchAbsentKeysKeepStoredValues(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	require.NoError(t, h.srv.CreateStack("acme", "app", "dev"))
	const path = "/api/stacks/acme/app/dev/hooks/keep"
	full := stackHook("acme", "app", "dev", map[string]any{
		"name": "keep", "format": "slack", "filters": []string{"update_failed"},
		"groups": []string{"deployments"}, "secret": "k",
	})
	h.createStackHook(t, full)

	// What the official provider sends when format, filters, groups and secret are empty.
	sparse := stackHook("acme", "app", "dev", map[string]any{"name": "keep", "displayName": "changed"})
	got := must[webhookWire](t, h.call(http.MethodPatch, path, sparse), http.StatusOK)
	assert.Equal(t, "changed", got.DisplayName)
	assert.Equal(t, "slack", got.Format)
	assert.Equal(t, []string{"update_failed"}, got.Filters)
	assert.Equal(t, []string{"deployments"}, got.Groups)
	assert.True(t, got.HasSecret)

	// Present values replace; an empty list or secret clears.
	cleared := override(sparse, map[string]any{"filters": []string{}, "groups": []string{}, "secret": ""})
	got = must[webhookWire](t, h.call(http.MethodPatch, path, cleared), http.StatusOK)
	assert.Empty(t, got.Filters)
	assert.Empty(t, got.Groups)
	assert.False(t, got.HasSecret)
	assert.Empty(t, got.SecretCiphertext)
	assert.Equal(t, "slack", got.Format)
}

func TestWebhookRefusedPatchChangesNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	require.NoError(t, h.srv.CreateStack("acme", "app", "dev"))
	body := stackHook("acme", "app", "dev", map[string]any{"name": "w"})
	h.createStackHook(t, body)
	before := h.srv.Webhooks()

	cases := map[string]map[string]any{
		"format needs a stack URL": {"displayName": "x", "format": "pulumi_deployments"},
		"rename":                   {"name": "other"},
		"stack mismatch":           {"stackName": "prod"},
		"empty displayName":        {"displayName": ""},
	}
	for name, o := range cases {
		msg := mustError(t, h.call(http.MethodPatch, "/api/stacks/acme/app/dev/hooks/w", override(map[string]any{}, o)),
			http.StatusBadRequest)
		assert.NotEmpty(t, msg, name)
	}
	assert.Equal(t, before, h.srv.Webhooks())
}

func TestWebhookGroupsAndFiltersComeBackAsSortedSets(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	require.NoError(t, h.srv.CreateStack("acme", "app", "dev"))
	body := stackHook("acme", "app", "dev", map[string]any{
		"groups":  []string{"stacks", "deployments", "stacks"},
		"filters": []string{"update_succeeded", "deployment_failed"},
	})
	got := h.createStackHook(t, body)
	assert.Equal(t, []string{"deployments", "stacks"}, got.Groups)
	assert.Equal(t, []string{"deployment_failed", "update_succeeded"}, got.Filters)
}

func TestWebhookScopeMustExist(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	mustError(t, h.call(http.MethodPost, "/api/stacks/acme/app/nope/hooks", stackHook("acme", "app", "nope", nil)),
		http.StatusNotFound)
	mustError(t, h.call(http.MethodGet, "/api/stacks/acme/app/nope/hooks", nil), http.StatusNotFound)
	mustError(t, h.call(http.MethodGet, "/api/esc/environments/acme/app/nope/hooks", nil), http.StatusNotFound)
	// Any organization exists: the emulator is single-tenant.
	assert.Equal(t, http.StatusOK, h.call(http.MethodGet, "/api/orgs/anything/hooks", nil).status)
}

func TestDeletingAStackDeletesItsWebhooks(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	require.NoError(t, h.srv.CreateStack("acme", "app", "dev"))
	h.createStackHook(t, stackHook("acme", "app", "dev", map[string]any{"name": "w"}))
	require.Equal(t, http.StatusNoContent, h.call(http.MethodDelete, "/api/stacks/acme/app/dev?force=true", nil).status)
	require.NoError(t, h.srv.CreateStack("acme", "app", "dev"))
	list := must[[]webhookWire](t, h.call(http.MethodGet, "/api/stacks/acme/app/dev/hooks", nil), http.StatusOK)
	assert.Empty(t, list)
}

func TestPingDeliveriesAndRedeliver(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	require.NoError(t, h.srv.CreateStack("acme", "app", "dev"))
	const base = "/api/stacks/acme/app/dev/hooks/w"
	h.createStackHook(t, stackHook("acme", "app", "dev", map[string]any{"name": "w"}))

	ping := must[map[string]any](t, h.call(http.MethodPost, base+"/ping", nil), http.StatusOK)
	for _, key := range []string{"id", "kind", "payload", "timestamp", "duration", "requestUrl", "requestHeaders",
		"responseCode", "responseHeaders", "responseBody"} {
		assert.Contains(t, ping, key)
	}
	assert.Len(t, ping, 10, "a delivery has exactly the documented fields")
	assert.Equal(t, "ping", ping["kind"])
	assert.Equal(t, "https://example.com/hook", ping["requestUrl"])
	assert.IsType(t, "", ping["payload"])
	assert.IsType(t, "", ping["requestHeaders"])

	list := must[[]DeliveryRecord](t, h.call(http.MethodGet, base+"/deliveries", nil), http.StatusOK)
	require.Len(t, list, 1)
	assert.Equal(t, ping["id"], list[0].ID)

	again := must[DeliveryRecord](t, h.call(http.MethodPost, base+"/deliveries/"+list[0].ID+"/redeliver", nil), http.StatusOK)
	assert.NotEqual(t, list[0].ID, again.ID)
	assert.Equal(t, list[0].Payload, again.Payload)
	assert.Len(t, must[[]DeliveryRecord](t, h.call(http.MethodGet, base+"/deliveries", nil), http.StatusOK), 2)

	mustError(t, h.call(http.MethodPost, base+"/deliveries/nope/redeliver", nil), http.StatusNotFound)
	mustError(t, h.call(http.MethodPost, "/api/stacks/acme/app/dev/hooks/nope/ping", nil), http.StatusNotFound)
	mustError(t, h.call(http.MethodGet, "/api/stacks/acme/app/dev/hooks/nope/deliveries", nil), http.StatusNotFound)
}

func TestAccessorsReturnCopies(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	require.NoError(t, h.srv.CreateStack("acme", "app", "dev"))
	h.createStackHook(t, stackHook("acme", "app", "dev", map[string]any{"filters": []string{"update_succeeded"}}))
	hooks := h.srv.Webhooks()
	hooks[0].Filters[0] = "mutated"
	assert.Equal(t, []string{"update_succeeded"}, h.srv.Webhooks()[0].Filters)

	settings := map[string]any{"sourceContext": map[string]any{"git": map[string]any{"branch": "main"}}}
	require.NoError(t, h.srv.SetDeploymentSettings("acme", "app", "dev", settings))
	settings["sourceContext"].(map[string]any)["git"] = "mutated"
	got := must[map[string]any](t, h.call(http.MethodGet, "/api/stacks/acme/app/dev/deployments/settings", nil), http.StatusOK)
	data, err := json.Marshal(got)
	require.NoError(t, err)
	assert.JSONEq(t, `{"sourceContext":{"git":{"branch":"main"}}}`, string(data))
}
