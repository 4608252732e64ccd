package cloud_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
	"github.com/autodeploy-dev/pulumi-auto-deploy/provider/cloud"
)

// CreateWebhookOnce against the emulator's faults: an answer lost after the create landed,
// a refusal before it did, and a name someone else took first.
func TestContractCreateWebhookOnce(t *testing.T) {
	t.Parallel()
	hook := func(name string) cloud.Webhook {
		w := sampleWebhook(stackScope)
		w.Name = name
		return w
	}
	cases := []struct {
		name        string
		faults      []emulator.FaultRule
		before      bool // the name is taken before the call
		wantOutcome cloud.CreateOutcome
		wantPosts   int
	}{
		{"answer lost after the create landed",
			[]emulator.FaultRule{{Method: http.MethodPost, Nth: 1, Status: 503, AfterApply: true}},
			false, cloud.Created, 1},
		{"refused twice before anything landed",
			[]emulator.FaultRule{{Method: http.MethodPost, Status: 503, Limit: 2}},
			false, cloud.Created, 3},
		{"answer lost, then a retry meets the landed create",
			[]emulator.FaultRule{{Method: http.MethodPost, Nth: 1, Status: 503, AfterApply: true},
				{Method: http.MethodGet, PathContains: "/hooks/", Nth: 1, Status: 404}},
			false, cloud.Created, 2},
		{"taken before the call", nil, true, cloud.Occupied, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			k := newContract(t)
			k.ensureScope(t, stackScope)
			if tc.before {
				_, err := k.client.CreateWebhook(t.Context(), stackScope, hook("taken"))
				require.NoError(t, err)
			}
			k.srv.SetFaults(emulator.Faults{Rules: tc.faults})
			k.srv.ResetStats()
			outcome, live, err := k.client.CreateWebhookOnce(t.Context(), stackScope, hook("taken"))
			require.NoError(t, err)
			assert.Equal(t, tc.wantOutcome, outcome)
			assert.Equal(t, "taken", live.Name)
			assert.Len(t, k.srv.Webhooks(), 1, "never two webhooks")
			assert.Equal(t, tc.wantPosts, k.srv.Stats().ByMethod[http.MethodPost])
		})
	}
}
