package relay

import (
	"sync"
	"time"
)

// An update is delivered once per edge leaving its stack, and River's unique insert of the
// second and later deliveries is a write (an upsert that returns the job already queued), so on
// SQLite every delivery costs a synced commit. recentEvents remembers the updates received in
// the last recentEventsFor (queued, or held on the row of the relay's own deployment, or found
// already accounted for: queueUpdate), and a delivery of one of them is answered as a duplicate,
// without a write. A held or ignored update stays so, and a queued one's job is available, running,
// scheduled, retryable or completed, the states in which River refuses a duplicate, because
// the relay never cancels an event job and discarding one takes all its attempts, spread by
// River's backoff over hours.
const recentEventsFor = time.Minute

type recentEvents struct {
	mu     sync.Mutex
	queued map[Event]time.Time // when each update's job was committed
	swept  time.Time           // when queued was last rid of what it no longer needs
}

// has reports whether ev was queued less than recentEventsFor before now.
func (e *recentEvents) has(ev Event, now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	at, ok := e.queued[ev]
	return ok && now.Sub(at) < recentEventsFor
}

// add remembers that ev's job was committed at now, forgetting the updates queued too long ago.
func (e *recentEvents) add(ev Event, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.queued == nil {
		e.queued = map[Event]time.Time{}
	}
	if now.Sub(e.swept) >= recentEventsFor {
		for old, at := range e.queued {
			if now.Sub(at) >= recentEventsFor {
				delete(e.queued, old)
			}
		}
		e.swept = now
	}
	e.queued[ev] = now
}
