package emulatortest

import (
	"strings"
	"testing"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
	"github.com/autodeploy-dev/pulumi-auto-deploy/edge"
)

// RelayEdges creates relay edges in organization org, each written as the provider's relay mode
// writes it (package edge): a webhook on the source stack, delivering to the relay at relayURL, signed
// with secret (none when empty). Each spec is "project/source>project/target", or
// "project/source>project/target!" for an edge that always deploys (alwaysDeploy). Graph-shaped tests
// of the relay, its plan and the provider state their graph this way instead of building webhooks.
func (c *Cloud) RelayEdges(t testing.TB, org, relayURL, secret string, specs ...string) {
	t.Helper()
	client, err := cloud.New(nil, c.URL, c.Token)
	if err != nil {
		t.Fatalf("emulatortest: %v", err)
	}
	for _, spec := range specs {
		from, to, _ := strings.Cut(spec, ">")
		always := strings.HasSuffix(to, "!")
		to = strings.TrimSuffix(to, "!")
		project, stack, ok := edge.SplitRef(from)
		if _, _, okTo := edge.SplitRef(to); !ok || !okTo {
			t.Fatalf("emulatortest: edge %q is not project/stack>project/stack", spec)
		}
		hook := edge.Desired(to, edge.Form{RelayURL: relayURL, AlwaysDeploy: always}, true)
		hook.DisplayName, hook.Secret = "auto-deploy: "+to+" (a test's edge)", secret
		scope := cloud.WebhookScope{Organization: org, Project: project, Stack: stack}
		if _, err := client.CreateWebhook(t.Context(), scope, hook); err != nil {
			t.Fatalf("emulatortest: creating the edge %s: %v", spec, err)
		}
	}
}
