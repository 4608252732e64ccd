package provider

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/property"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
	"github.com/autodeploy-dev/pulumi-auto-deploy/edge"
)

// Another program writes between this one's checks and its read back: the fake client's
// afterCreate plays it, deterministically. These are the races of two `pulumi up`s at
// once; examples/race_test.go runs them through the CLI with real concurrency.

var otherProgram = string(resource.NewURN("prod", "other", "", deploymentGraphToken, "g"))

// TestRaceThatClosesALoopIsUndone: this program adds m → n while another adds n → m. The
// read back finds the loop, deletes this program's new webhook and fails, naming the other.
func TestRaceThatClosesALoopIsUndone(t *testing.T) {
	t.Parallel()
	f := newFakeClient()
	f.addStacks("org", "p", "m", "n")
	f.afterCreate = func(f *fakeClient) {
		f.addHookLocked("org/p/n", desiredEdgeWebhook("p/m", otherProgram, direct))
	}
	resp, err := engineCreate(fakeServer(t, f), graphURN("g"), property.NewMap(map[string]property.Value{
		"organization": property.New("org"),
		"edges": property.New(property.NewMap(map[string]property.Value{
			"p/m": stringList("p/n"),
		})),
	}))
	require.Error(t, err)
	assert.Contains(t, failureText(resp, err), `edges["p/m"]: the edge p/m → p/n was written and undone: it now closes the `+
		`deployment cycle p/m → p/n → p/m, with p/n → p/m by webhook `+edge.Name("p/m")+` (owner: `+
		otherProgram+`) written meanwhile by another program`)
	assert.Contains(t, failureText(resp, err), "the next run keeps exactly one")
	assert.Equal(t, []string{"p/n → p/m"}, f.edges(), "no loop: only the other program's half")
}

// TestRaceThatDoublesAnEdgeIsUndone: a DeploymentGraph adds a → b while a Webhook resource
// of another program adds the same edge; and the other way round.
func TestRaceThatDoublesAnEdgeIsUndone(t *testing.T) {
	t.Parallel()
	t.Run("graph meets a Webhook resource", func(t *testing.T) {
		t.Parallel()
		f := newFakeClient()
		f.addStacks("org", "p", "a", "b")
		f.afterCreate = func(f *fakeClient) {
			f.addHookLocked("org/p/a", cloud.Webhook{Name: "autodeploy-wh-0badf00d", DisplayName: "deploy b",
				PayloadURL: "p/b", Active: true, Format: "pulumi_deployments", Filters: []string{"update_succeeded"}})
		}
		resp, err := engineCreate(fakeServer(t, f), graphURN("g"), property.NewMap(map[string]property.Value{
			"organization": property.New("org"),
			"edges":        property.New(property.NewMap(map[string]property.Value{"p/a": stringList("p/b")})),
		}))
		require.Error(t, err)
		assert.Contains(t, failureText(resp, err), `the edge p/a → p/b was written and undone: it now doubles the Webhook `+
			`resource's webhook autodeploy-wh-0badf00d (display name "deploy b"), written meanwhile by another `+
			`program, so p/b would deploy twice after each update of p/a`)
		assert.Equal(t, []string{"p/a → p/b"}, f.edges(), "exactly one edge: the Webhook resource's")
	})
	t.Run("Webhook resource meets a graph", func(t *testing.T) {
		t.Parallel()
		f := newFakeClient()
		f.addStacks("org", "p", "a", "b")
		f.afterCreate = func(f *fakeClient) {
			f.addHookLocked("org/p/a", desiredEdgeWebhook("p/b", otherProgram, direct))
		}
		server := fakeServer(t, f)
		urn := resource.NewURN("test", "provider", "", "auto-deploy:index:Webhook", "w")
		inputs := property.NewMap(map[string]property.Value{
			"organizationName": property.New("org"), "projectName": property.New("p"),
			"stackName": property.New("a"), "format": property.New("pulumi_deployments"),
			"payloadUrl": property.New("p/b"), "active": property.New(true), "displayName": property.New("deploy b"),
			"filters": stringList("update_succeeded"),
		})
		resp, err := engineCreate(server, urn, inputs)
		require.Error(t, err)
		assert.Contains(t, failureText(resp, err), `payloadUrl: the edge p/a → p/b was written and undone: it now doubles the `+
			`edge webhook `+edge.Name("p/b")+` (owner: `+otherProgram+`)`)
		assert.Equal(t, []string{"p/a → p/b"}, f.edges(), "exactly one edge: the graph's")
	})
}

// TestFailedWebhookCreateIsNotPlanned: a Webhook resource whose create fails leaves no
// plan behind, so an AutoDeployer of the same run that removes the same edge still deletes
// its own webhook instead of leaving it to a create that never landed.
func TestFailedWebhookCreateIsNotPlanned(t *testing.T) {
	t.Parallel()
	tc := graphCloud(t, "a", "b")
	deployer, err := engineCreate(tc.server, deployerURN("a"), deployerInputs("a", "graph/b"))
	require.NoError(t, err)
	run := newServer(t, tc.cloud.URL, testToken)
	urn := resource.NewURN("test", "provider", "", "auto-deploy:index:Webhook", "w")
	inputs := property.NewMap(map[string]property.Value{
		"organizationName": property.New("org"), "projectName": property.New("graph"),
		"stackName": property.New("a"), "format": property.New("pulumi_deployments"),
		"payloadUrl": property.New("graph/b"), "active": property.New(true), "displayName": property.New("d"),
	})
	_, err = engineCreate(run, urn, inputs)
	require.Error(t, err, "the AutoDeployer's edge is in place")
	require.NoError(t, run.Delete(p.DeleteRequest{ID: "org/graph/a", Urn: deployerURN("a"),
		Properties: deployer.Properties}))
	assert.Empty(t, tc.cloud.Webhooks(), "the AutoDeployer's delete removed its webhook")
}

// failureText is a create's error with the reasons of a partial failure, which the
// engine shows as the step's errors.
func failureText(resp p.CreateResponse, err error) string {
	if err == nil {
		return ""
	}
	text := err.Error()
	if resp.PartialState != nil {
		text += ": " + strings.Join(resp.PartialState.Reasons, "; ")
	}
	return text
}
