//go:build e2e

package examples

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
)

// The relay's deliveries end to end through the CLI (see relay_test.go): signatures,
// duplicates and redeliveries, and a relay killed mid-cascade.

// deliveriesOf lists the deliveries of the webhooks on stack, oldest first.
func (e *relayEnv) deliveriesOf(stack string) []emulator.Delivery {
	var out []emulator.Delivery
	for _, d := range e.c.Deliveries() {
		if d.Webhook.Project == relayProject && d.Webhook.Stack == stack {
			out = append(out, d)
		}
	}
	return out
}

// TestRelayChecksSignaturesAndTakesEachUpdateOnce: root → a, root → b, x → y. With a wrong
// secret in the stack's config every delivery is refused with 401, and the relay finds the update
// at its next poll instead (deliveries are hints; Pulumi Cloud's versions are the truth); the right
// secret is one PATCH per edge; then the two deliveries of one update of the root (one per edge)
// are one cascade, a redelivery starts nothing, and a webhook whose secret was removed behind
// Pulumi's back delivers unsigned, is refused, is found by polling, and is set right by the next
// refresh and up.
func TestRelayChecksSignaturesAndTakesEachUpdateOnce(t *testing.T) {
	t.Parallel()
	e := newRelayEnv(t, "root", "a", "b", "x", "y")
	edges := [][2]string{{"root", "a"}, {"root", "b"}, {"x", "y"}}
	below := []string{"a", "b", "y"}
	e.secret = "not-the-relay-secret"
	e.up(edges, true)

	// A wrong signature: 401, and the update is found by polling.
	e.fire("root", map[string]any{"v": 1}, nil)
	c := e.waitCascades(1)
	refused := e.deliveriesOf("root")
	require.Len(t, refused, 2, "one delivery per edge")
	for _, d := range refused {
		assert.Equal(t, http.StatusUnauthorized, d.ResponseCode)
		assert.Contains(t, d.ResponseBody, "Pulumi-Webhook-Signature does not match the body")
	}
	assert.Contains(t, c.Cause, "found by polling")
	assert.Equal(t, map[string]int{"a": 1, "b": 1, "y": 0}, e.counts(below...))

	// The right secret: one PATCH per edge, nothing created or deleted.
	e.w.pulumi("config", "set", "--secret", "relaySecret", relaySecret)
	stats := e.up(edges, true)
	assert.Equal(t, map[string]int{http.MethodPatch: 3}, writesByMethod(stats), "%v", stats.ByRoute)

	// One update, two deliveries (one per edge): one cascade, each stack deployed once.
	e.fire("root", map[string]any{"v": 2}, nil)
	c = e.waitCascades(2)
	assert.Equal(t, "an update announced by a delivery", c.Cause)
	accepted := e.deliveriesOf("root")[2:]
	require.Len(t, accepted, 2)
	duplicates := 0
	for _, d := range accepted {
		assert.Equal(t, http.StatusAccepted, d.ResponseCode, d.ResponseBody)
		if assert.Contains(t, d.ResponseBody, `"version":2`) {
			duplicates += countTrue(d.ResponseBody)
		}
	}
	assert.Equal(t, 1, duplicates, "the second delivery of the update is a duplicate")
	assert.Equal(t, map[string]int{"a": 2, "b": 2, "y": 0}, e.counts(below...))

	// A redelivery (the emulator's redeliver route, as from the console's delivery log) of
	// an update already taken starts nothing new.
	var redelivered emulator.Delivery
	e.c.api(t, http.MethodPost, fmt.Sprintf("/api/stacks/org/%s/root/hooks/%s/deliveries/%s/redeliver", relayProject,
		accepted[0].Webhook.Name, accepted[0].ID), nil, http.StatusOK, &redelivered)
	assert.Equal(t, http.StatusAccepted, redelivered.ResponseCode)
	assert.Contains(t, redelivered.ResponseBody, `"duplicate":true`)
	e.c.WaitIdle(t)
	assert.Len(t, e.cascades(), 2)
	assert.Equal(t, map[string]int{"a": 2, "b": 2, "y": 0}, e.counts(below...))

	// No signature at all: x's webhook loses its secret behind Pulumi's back. Its delivery is
	// refused, and the poll finds x's update.
	var hook emulator.Webhook
	for _, h := range withoutMarks(e.c.Webhooks()) {
		if h.Stack == "x" {
			hook = h
		}
	}
	e.c.api(t, http.MethodPatch, fmt.Sprintf("/api/stacks/org/%s/x/hooks/%s", relayProject, hook.Name),
		map[string]any{"secret": ""}, http.StatusOK)
	e.fire("x", map[string]any{"v": 1}, nil)
	c = e.waitCascades(3)
	xs := e.deliveriesOf("x")
	require.Len(t, xs, 1)
	unsigned := xs[0]
	assert.Equal(t, http.StatusUnauthorized, unsigned.ResponseCode)
	assert.Contains(t, unsigned.ResponseBody, "the delivery has no Pulumi-Webhook-Signature header")
	assert.NotContains(t, unsigned.RequestHeaders, "Pulumi-Webhook-Signature")
	assert.Equal(t, "org/rel/x", c.Root)
	assert.Contains(t, c.Cause, "found by polling")
	assert.Len(t, e.deployments("y"), 1)

	// Refresh sees it and drops the edge from the state; the next up creates it again,
	// which finds the webhook in place (409) and rewrites it with the secret (and finds its
	// mark in place too); x's next update is delivered and deploys y.
	out := e.w.pulumi("refresh", "--yes", "--skip-preview")
	assert.Contains(t, out, "its secret was removed, so the relay refuses its deliveries")
	stats = e.up(edges, true)
	assert.Equal(t, map[string]int{http.MethodPost: 2, http.MethodPatch: 1}, writesByMethod(stats), "%v",
		stats.ByRoute)
	require.Len(t, withoutMarks(e.c.Webhooks()), 3)
	for _, h := range withoutMarks(e.c.Webhooks()) {
		assert.Equal(t, relaySecret, h.Secret, "%s → %s", h.Stack, h.PayloadURL)
	}
	e.fire("x", map[string]any{"v": 2}, nil)
	c = e.waitCascades(4)
	assert.Equal(t, "org/rel/x", c.Root)
	assert.Equal(t, "an update announced by a delivery", c.Cause)
	assert.Equal(t, map[string]int{"a": 2, "b": 2, "y": 2}, e.counts(below...))
	t.Logf("deployments per stack after a refused update, one taken twice and redelivered, and x's: %v",
		e.counts(below...))
}

// countTrue is 1 when a relay's answer says "duplicate":true, else 0.
func countTrue(body string) int {
	var answer struct{ Duplicate bool }
	if json.Unmarshal([]byte(body), &answer) == nil && answer.Duplicate {
		return 1
	}
	return 0
}

// TestRelayKilledMidCascadeFinishesIt: root → a → {b, c} → d, a's and d's deployments
// slow. The relay is killed with SIGKILL while a deploys and again while d deploys, and
// started each time on the same database: the cascade finishes, every stack deployed
// once, d after b and c.
func TestRelayKilledMidCascadeFinishesIt(t *testing.T) {
	t.Parallel()
	e := newRelayEnv(t, "root", "a", "b", "c", "d")
	below := []string{"a", "b", "c", "d"}
	slow := emulator.DeploymentBehaviour{Duration: time.Second}
	e.behave("a", slow)
	e.behave("d", slow)
	e.up([][2]string{{"root", "a"}, {"a", "b"}, {"a", "c"}, {"b", "d"}, {"c", "d"}}, true)

	e.fire("root", map[string]any{"v": 1}, nil)
	for _, stack := range []string{"a", "d"} {
		e.waitFor(stack+" deploying", func() bool {
			ds := e.deployments(stack)
			return len(ds) == 1 && ds[0].Status == emulator.StatusRunning
		})
		e.killRelay()
	}
	c := e.waitCascades(1)
	assert.Equal(t, map[string]string{"a": "succeeded", "b": "succeeded", "c": "succeeded", "d": "succeeded"},
		c.states())
	assert.Equal(t, map[string]int{"a": 1, "b": 1, "c": 1, "d": 1}, e.counts(below...), "nothing twice, nothing missed")
	requireAfter(t, last(t, e.deployments("d")), last(t, e.deployments("b")), last(t, e.deployments("c")))
	t.Logf("deployments per stack after two SIGKILLs: %v", e.counts(below...))
}
