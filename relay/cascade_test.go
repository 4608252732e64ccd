package relay

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A cascade's rows follow the schedule: root → a → b and root → b. a deploys (after the cascade
// began), b waits for it, then b is found unchanged, and the cascade is done.
func TestCascadeRowsFollowTheSchedule(t *testing.T) {
	began := time.UnixMilli(1_000)
	c := &cascade{created: began, state: cascadeRunning, rows: []*cascadeRow{
		{stack: "a", parents: []string{"root"}, state: StateWaiting},
		{stack: "b", parents: []string{"root", "a"}, state: StateWaiting},
	}}
	facts := map[string]rowFacts{
		"a": {phase: PhaseDeploying, flight: &flight{ID: "d1", IntentMS: 1_500, Covers: map[string]int{"root": 2},
			Reason: "outputs of root changed"}},
		"b": {phase: PhaseWaiting, why: "waits for a above it"},
	}
	get := func(s string) rowFacts { return facts[s] }
	assert.False(t, c.advance(get))
	assert.Equal(t, StateDeploying, c.rows[0].state)
	assert.Equal(t, "deployment d1 running: outputs of root changed", c.rows[0].reason)
	assert.Equal(t, map[string]int{"root": 2}, c.rows[0].covers)
	assert.Equal(t, 1, c.rows[0].deployments)
	assert.Equal(t, StateWaiting, c.rows[1].state)
	assert.Equal(t, "waits for a above it", c.rows[1].reason)

	facts["a"] = rowFacts{last: &flight{ID: "d1", IntentMS: 1_500, Covers: map[string]int{"root": 2}, Outcome: outcomeSucceeded,
		Why: "deployment d1 succeeded", Version: 4}, version: 4}
	facts["b"] = rowFacts{skipReason: "no parent's outputs changed: a version 3 to 4", version: 7}
	require.True(t, c.advance(get))
	assert.Equal(t, cascadeDone, c.state)
	assert.Equal(t, StateSucceeded, c.rows[0].state)
	assert.Equal(t, 1, c.rows[0].deployments, "the deployment counted once, deploying and then ended")
	assert.Equal(t, 4, c.rows[0].version)
	assert.Equal(t, StateSkippedUnchanged, c.rows[1].state)
	assert.Equal(t, "no parent's outputs changed: a version 3 to 4", c.rows[1].reason)
}

// A deployment asked for before the cascade began is for an earlier change: the row waits for the
// stack to be judged again after it.
func TestCascadeRowIgnoresAnEarlierDeployment(t *testing.T) {
	began := time.UnixMilli(2_000)
	row := cascadeRow{stack: "x", parents: []string{"root"}, state: StateWaiting}
	f := rowFacts{phase: PhaseDeploying, flight: &flight{ID: "old", IntentMS: 1_000}}
	got := advanceRow(row, began, f, map[string]State{}, map[string]bool{})
	assert.Equal(t, StateWaiting, got.state)
	assert.Contains(t, got.reason, "its deployment old for an earlier change runs")

	f = rowFacts{last: &flight{ID: "old", IntentMS: 1_000, Outcome: outcomeSucceeded}}
	got = advanceRow(got, began, f, map[string]State{}, map[string]bool{})
	assert.Equal(t, StateSkippedUnchanged, got.state, "idle after it, with nothing above to wait for")
}

// A failure stops what is below it in the cascade; a deleted parent does not, and a deleted stack
// fails its row with a reason that says so.
func TestCascadeRowsBelowFailuresAndDeletions(t *testing.T) {
	began := time.UnixMilli(0)
	states := map[string]State{"f": StateFailed, "gone": StateFailed}
	deleted := map[string]bool{"gone": true}
	below := advanceRow(cascadeRow{stack: "below", parents: []string{"f"}, state: StateWaiting}, began, rowFacts{},
		states, deleted)
	assert.Equal(t, StateSkippedUpstreamFailed, below.state)
	assert.Equal(t, "its parent f failed", below.reason)

	orphan := advanceRow(cascadeRow{stack: "t", parents: []string{"gone"}, state: StateWaiting}, began,
		rowFacts{skipReason: "no parent's outputs changed"}, states, deleted)
	assert.Equal(t, StateSkippedUnchanged, orphan.state, "nothing waits on a deleted stack")

	gone := advanceRow(cascadeRow{stack: "gone", parents: []string{"root"}, state: StateWaiting}, began,
		rowFacts{deleted: true}, map[string]State{}, map[string]bool{})
	assert.Equal(t, StateFailed, gone.state)
	assert.Contains(t, gone.reason, "deleted")

	blocked := advanceRow(cascadeRow{stack: "b", parents: []string{"root"}, state: StateWaiting}, began,
		rowFacts{phase: PhaseBlocked, why: "waits: f above it failed and is not fixed yet"}, map[string]State{},
		map[string]bool{})
	assert.Equal(t, StateSkippedUpstreamFailed, blocked.state)
}

// A finished row never changes again.
func TestCascadeRowFinishedStays(t *testing.T) {
	row := cascadeRow{stack: "x", state: StateSucceeded, reason: "done"}
	got := advanceRow(row, time.UnixMilli(0), rowFacts{deleted: true}, nil, nil)
	assert.Equal(t, row, got)
}
