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
	assert.True(t, e.claim(ev, now), "a first delivery")
	assert.False(t, e.claim(ev, now.Add(recentEventsFor-time.Second)), "a second delivery of it")
	assert.True(t, e.claim(Event{Organization: "acme", Project: "app", Stack: "web", Version: 4}, now),
		"another version of the stack is another update")
	assert.True(t, e.claim(ev, now.Add(recentEventsFor)), "after a minute it is recorded again")

	other := Event{Organization: "acme", Project: "app", Stack: "db", Version: 1}
	assert.True(t, e.claim(other, now.Add(3*recentEventsFor)))
	assert.NotContains(t, e.received, ev, "what expired is forgotten")
	assert.Contains(t, e.received, other)

	e.release(other)
	assert.True(t, e.claim(other, now.Add(3*recentEventsFor)), "a released claim is claimed again")
}
