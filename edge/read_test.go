package edge_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
	"github.com/autodeploy-dev/pulumi-auto-deploy/edge"
	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator/emulatortest"
)

const relayURL = "https://relay.example.com"

// planCloud is an emulator whose clock a test moves, so deployments take exactly as long as it says.
type planCloud struct {
	*emulatortest.Cloud
	client *cloud.Client
	mu     sync.Mutex
	now    time.Time
}

func newPlanCloud(t *testing.T, stacks ...string) *planCloud {
	t.Helper()
	c := &planCloud{now: time.Unix(1_700_000_000, 0)}
	c.Cloud = emulatortest.Start(t, emulatortest.WithNow(func() time.Time {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.now
	}))
	c.SeedDeployable(t, "org", "p", stacks...)
	c.SetManualDeployments(true)
	client, err := cloud.New(nil, c.URL, c.Token)
	require.NoError(t, err)
	c.client = client
	return c
}

// deploy runs one deployment of p/stack for the given seconds.
func (c *planCloud) deploy(t *testing.T, stack, operation string, seconds int) {
	t.Helper()
	_, err := c.client.CreateDeployment(t.Context(), "org", "p", stack, operation)
	require.NoError(t, err)
	started, _ := c.StartDeployments()
	require.Len(t, started, 1)
	c.mu.Lock()
	c.now = c.now.Add(time.Duration(seconds) * time.Second)
	c.mu.Unlock()
	_, err = c.FinishDeployment(started[0].ID)
	require.NoError(t, err)
}

// hook creates webhook h on p/stack.
func (c *planCloud) hook(t *testing.T, stack string, h cloud.Webhook) {
	t.Helper()
	h.DisplayName = "made by " + t.Name()
	_, err := c.client.CreateWebhook(t.Context(), cloud.WebhookScope{Organization: "org", Project: "p", Stack: stack}, h)
	require.NoError(t, err)
}

func TestReadPlan(t *testing.T) {
	t.Parallel()
	c := newPlanCloud(t, "a", "b", "c", "d", "direct", "paused")
	// p/gone does not exist: it has no edges and no history.
	c.RelayEdges(t, "org", relayURL, "", "p/a>p/b", "p/a>p/c!", "p/b>p/d", "p/c>p/d", "p/d>p/gone")
	// Not relay edges that deliver: the relay does not follow them, so neither does the plan.
	c.hook(t, "a", edge.Desired("p/direct", edge.Form{}, true))
	c.hook(t, "a", edge.Desired("p/paused", edge.Form{RelayURL: relayURL}, false))
	c.hook(t, "a", cloud.Webhook{Name: "notify", PayloadURL: "https://hooks.example.com/x", Format: "slack",
		Active: true})

	// b: 10, 20 and 30 seconds; a failed update and a refresh say nothing of how long an update takes.
	for _, s := range []int{10, 30, 20} {
		c.deploy(t, "b", "update", s)
	}
	require.NoError(t, c.SetDeploymentBehaviour("org", "p", "b", emulator.DeploymentBehaviour{FailTimes: 1}))
	c.deploy(t, "b", "update", 500)
	c.deploy(t, "b", "refresh", 500)
	// c: only its 10 newest deployments count.
	for range 2 {
		c.deploy(t, "c", "update", 1000)
	}
	for range 10 {
		c.deploy(t, "c", "update", 5)
	}

	plan, err := edge.ReadPlan(t.Context(), c.client, "org", "p/a")
	require.NoError(t, err)
	assert.Equal(t, edge.Plan{
		Stack:              "p/a",
		Waves:              [][]string{{"p/b", "p/c"}, {"p/d"}, {"p/gone"}},
		CriticalPath:       []string{"p/b", "p/d", "p/gone"},
		EstimatedSeconds:   20 + 12.5 + 12.5,
		SkippedIfUnchanged: []string{"p/b"},
		Estimates: map[string]edge.Estimate{
			"p/b": {Seconds: 20}, "p/c": {Seconds: 5},
			"p/d": {Seconds: 12.5, Default: true}, "p/gone": {Seconds: 12.5, Default: true},
		},
	}, plan)
}

func TestReadPlanOfAMissingStack(t *testing.T) {
	t.Parallel()
	c := newPlanCloud(t, "a")
	_, err := edge.ReadPlan(t.Context(), c.client, "org", "p/nope")
	require.ErrorIs(t, err, cloud.ErrNotFound)
	assert.Contains(t, err.Error(), "listing the webhooks of org/p/nope")
}

func TestReadPlanRefusesACycle(t *testing.T) {
	t.Parallel()
	c := newPlanCloud(t, "a", "b")
	c.RelayEdges(t, "org", relayURL, "", "p/a>p/b", "p/b>p/a")
	_, err := edge.ReadPlan(t.Context(), c.client, "org", "p/a")
	var cycle *edge.CycleError
	require.True(t, errors.As(err, &cycle), "%v", err)
	assert.Equal(t, [][]string{{"p/a", "p/b", "p/a"}}, cycle.Cycles)
}

func TestReadPlanReportsAFailedRead(t *testing.T) {
	t.Parallel()
	c := newPlanCloud(t, "a")
	wrong, err := cloud.New(nil, c.URL, "pul-wrong-token")
	require.NoError(t, err)
	_, err = edge.ReadPlan(t.Context(), wrong, "org", "p/a")
	require.ErrorIs(t, err, cloud.ErrUnauthorized)
}

func TestDeploymentSeconds(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		d       cloud.Deployment
		seconds float64
		ok      bool
	}{
		{"the update's start to end", cloud.Deployment{Status: "succeeded", Operation: "update",
			Updates: []cloud.DeploymentUpdate{{StartTime: 100, EndTime: 142}}}, 42, true},
		{"created to modified when no update ended", cloud.Deployment{Status: "succeeded", Operation: "update",
			Created: "2026-01-02T03:04:05Z", Modified: "2026-01-02T03:05:35Z"}, 90, true},
		{"failed", cloud.Deployment{Status: "failed", Operation: "update",
			Updates: []cloud.DeploymentUpdate{{StartTime: 100, EndTime: 142}}}, 0, false},
		{"a preview", cloud.Deployment{Status: "succeeded", Operation: "preview",
			Updates: []cloud.DeploymentUpdate{{StartTime: 100, EndTime: 142}}}, 0, false},
		{"no times", cloud.Deployment{Status: "succeeded", Operation: "update"}, 0, false},
		{"modified before created", cloud.Deployment{Status: "succeeded", Operation: "update",
			Created: "2026-01-02T03:04:05Z", Modified: "2026-01-02T03:00:00Z"}, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			seconds, ok := edge.DeploymentSeconds(c.d)
			assert.Equal(t, c.ok, ok)
			assert.Equal(t, c.seconds, seconds)
		})
	}
}
