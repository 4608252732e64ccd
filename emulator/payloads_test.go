package emulator

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPayloadShapes pins what each kind of event delivers, in the shapes of Pulumi's webhook
// documentation, through an organization webhook that gets every event.
func TestPayloadShapes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	must[map[string]any](t, h.call(http.MethodPost, "/api/orgs/acme/hooks", map[string]any{
		"organizationName": "acme", "name": "all", "displayName": "all", "payloadUrl": "https://example.com/hook",
		"active": true,
	}), http.StatusCreated)
	seedStacks(t, h.srv, "acme", "app", "web")
	require.NoError(t, h.srv.CreateEnvironment("acme", "app", "shared"))
	_, err := h.srv.FireEnvironmentRevision("acme", "app", "shared")
	require.NoError(t, err)
	var ids []string
	for _, op := range []string{"preview", "detect-drift", "remediate-drift", "destroy"} {
		ref := must[map[string]any](t, h.call(http.MethodPost, "/api/stacks/acme/app/web/deployments",
			map[string]any{"operation": op}), http.StatusAccepted)
		ids = append(ids, ref["id"].(string))
	}
	require.NoError(t, h.srv.SetDeploymentBehaviour("acme", "app", "web", DeploymentBehaviour{Outcome: OutcomeFailed}))
	must[map[string]any](t, h.call(http.MethodPost, "/api/stacks/acme/app/web/deployments",
		map[string]any{"operation": "update"}), http.StatusAccepted)

	user := `"user":{"name":"Pulumi Cloud Emulator","githubLogin":"emulator","avatarUrl":"https://app.pulumi.com/emulator/avatar.png"},` +
		`"organization":{"name":"acme","githubLogin":"acme","avatarUrl":"https://app.pulumi.com/acme/avatar.png"}`
	web := `"projectName":"app","stackName":"web"`
	want := []struct{ event, kind, payload string }{
		{"stack_created", "stack", `{` + user + `,"action":"created",` + web + `}`},
		{"environment_created", "environment", `{` + user + `,"projectName":"app","environmentName":"shared","action":"created"}`},
		{"environment_revision_created", "environment_revision",
			`{` + user + `,"projectName":"app","environmentName":"shared","action":"created","revision":2}`},
		{"deployment_succeeded", "deployment", `{` + user + `,` + web +
			`,"deploymentUrl":"https://app.pulumi.com/acme/app/web/deployments/1","version":1,"operation":"preview","status":"succeeded"}`},
		{"preview_succeeded", "stack_preview", `{` + user + `,` + web + `,"updateUrl":"https://app.pulumi.com/acme/app/web/previews/` +
			ids[0] + `","kind":"update","result":"succeeded","resourceChanges":{},"isPreview":true}`},
		{"deployment_succeeded", "deployment", ""},
		{"drift_detection_succeeded", "drift_detection", `{` + user + `,` + web + `,"driftDetected":false,"driftRunId":"` + ids[1] +
			`","status":"succeeded","resourceChanges":{},"referenceUrl":"https://app.pulumi.com/acme/app/web/deployments/2"}`},
		{"deployment_succeeded", "deployment", ""},
		{"drift_remediation_succeeded", "drift_remediation", `{` + user + `,` + web +
			`,"status":"succeeded","resourceChanges":{},"referenceUrl":"https://app.pulumi.com/acme/app/web/deployments/3"}`},
		{"deployment_succeeded", "deployment", ""},
		{"destroy_succeeded", "stack_update", `{` + user + `,` + web +
			`,"updateUrl":"https://app.pulumi.com/acme/app/web/updates/2","kind":"destroy","result":"succeeded","resourceChanges":{},"isPreview":false}`},
		{"deployment_failed", "deployment", `{` + user + `,` + web +
			`,"deploymentUrl":"https://app.pulumi.com/acme/app/web/deployments/5","version":5,"operation":"update","status":"failed"}`},
		{"update_failed", "stack_update", `{` + user + `,` + web +
			`,"updateUrl":"https://app.pulumi.com/acme/app/web/updates/3","kind":"update","result":"failed","resourceChanges":{},"isPreview":false}`},
	}
	ds := deliveriesOf(h.srv, "all")
	require.Len(t, ds, len(want))
	for i, w := range want {
		assert.Equal(t, w.event, ds[i].Event, "delivery %d", i)
		assert.Equal(t, w.kind, ds[i].Kind, "delivery %d (%s)", i, w.event)
		assert.Contains(t, ds[i].RequestHeaders, "Pulumi-Webhook-Kind: "+w.kind+"\r\n")
		if w.payload != "" {
			assert.JSONEq(t, w.payload, ds[i].Payload, "delivery %d (%s)", i, w.event)
		}
		var p map[string]any
		require.NoError(t, json.Unmarshal([]byte(ds[i].Payload), &p))
		assert.NotContains(t, p, "timestamp", "payloads carry no time")
	}
	outs, err := h.srv.StackOutputs("acme", "app", "web", 2)
	require.NoError(t, err)
	assert.Empty(t, outs.Plain, "a destroy leaves no outputs")
}
