package relay

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestRecentEventsAnswersRepeatedDeliveriesForAMinute(t *testing.T) {
	var e recentEvents
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ev := Event{Organization: "acme", Project: "app", Stack: "web", Version: 3}
	assert.False(t, e.has(ev, now), "nothing is queued yet")
	e.add(ev, now)
	assert.True(t, e.has(ev, now.Add(recentEventsFor-time.Second)))
	assert.False(t, e.has(Event{Organization: "acme", Project: "app", Stack: "web", Version: 4}, now),
		"another version of the stack is another update")
	assert.False(t, e.has(ev, now.Add(recentEventsFor)), "after a minute the queue decides again")

	other := Event{Organization: "acme", Project: "app", Stack: "db", Version: 1}
	e.add(other, now.Add(2*recentEventsFor))
	assert.NotContains(t, e.queued, ev, "what expired is forgotten")
	assert.Contains(t, e.queued, other)
}
