package relay

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestSlotWait: while due stacks wait for a slot, a deployment of minutes is looked at once a second,
// not ten times, and a short one, one not answered yet or one of a stack never timed, every tenth of a
// second; from one interval before a deployment's expected end on, every twentieth of its estimate.
func TestSlotWait(t *testing.T) {
	now := time.UnixMilli(1_000_000)
	startedAgo := func(d time.Duration) int64 { return now.Add(-d).UnixMilli() }
	// inFlight is a deployment in flight: its stack's estimate and when it was answered (0: not yet).
	type inFlight struct {
		estimate  time.Duration
		startedMS int64
	}
	cases := []struct {
		name    string
		flights map[string]inFlight
		want    time.Duration
	}{
		{"nothing in flight", nil, time.Second},
		{"a five-minute deployment a minute in",
			map[string]inFlight{"p/long": {5 * time.Minute, startedAgo(time.Minute)}}, time.Second},
		{"a five-minute deployment overdue",
			map[string]inFlight{"p/long": {5 * time.Minute, startedAgo(7 * time.Minute)}}, time.Second},
		{"a 4-second deployment 3.5 s in",
			map[string]inFlight{"p/mid": {4 * time.Second, startedAgo(3500 * time.Millisecond)}}, 300 * time.Millisecond},
		{"a 4-second deployment 3.9 s in",
			map[string]inFlight{"p/mid": {4 * time.Second, startedAgo(3900 * time.Millisecond)}}, 200 * time.Millisecond},
		{"a short one beside a long one", map[string]inFlight{
			"p/long":  {5 * time.Minute, startedAgo(time.Minute)},
			"p/short": {300 * time.Millisecond, startedAgo(0)},
		}, 200 * time.Millisecond},
		{"a stack never timed", map[string]inFlight{
			"p/long": {5 * time.Minute, startedAgo(time.Minute)},
			"p/new":  {0, startedAgo(0)},
		}, 100 * time.Millisecond},
		{"asked for, not answered yet", map[string]inFlight{"p/long": {5 * time.Minute, 0}}, 100 * time.Millisecond},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rn := &runner{o: newOrg("acme")}
			rn.o.stackOf("p/idle").estimateMS = 100
			for ref, f := range c.flights {
				s := rn.o.stackOf(ref)
				s.estimateMS = f.estimate.Milliseconds()
				s.flight = &flight{ID: "d-" + ref, StartedMS: f.startedMS}
			}
			assert.Equal(t, c.want, rn.slotWait(now))
		})
	}
}
