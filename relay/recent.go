package relay

import (
	"sync"
	"time"
)

// An update is delivered once per edge leaving its stack, often at the same moment. recentEvents
// remembers the updates received in the last recentEventsFor, so that the second and later deliveries
// of one are answered as duplicates without a write: a delivery claims its update before recording
// it, and gives the claim back when the recording failed, so that a redelivery records it.
const recentEventsFor = time.Minute

type recentEvents struct {
	mu       sync.Mutex
	received map[Event]time.Time // when each update was claimed
	swept    time.Time           // when received was last rid of what it no longer needs
}

// claim reports whether ev is new (not claimed in the last recentEventsFor), and claims it if so,
// forgetting the updates claimed too long ago.
func (e *recentEvents) claim(ev Event, now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if at, ok := e.received[ev]; ok && now.Sub(at) < recentEventsFor {
		return false
	}
	if e.received == nil {
		e.received = map[Event]time.Time{}
	}
	if now.Sub(e.swept) >= recentEventsFor {
		for old, at := range e.received {
			if now.Sub(at) >= recentEventsFor {
				delete(e.received, old)
			}
		}
		e.swept = now
	}
	e.received[ev] = now
	return true
}

// release gives back the claim of an update whose recording failed.
func (e *recentEvents) release(ev Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.received, ev)
}
