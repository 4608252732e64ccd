package emulator

import (
	"net/http"
	"sync"
	"time"
)

const requestLogSize = 10000

// traffic is what the emulator knows about the /api requests themselves rather than about the state they
// change: counters, the request log and the fault configuration. It has its own lock, apart from the
// store's, so that a request waiting out injected latency never holds up the store, and so that stats
// and faults can be read and set while a cascade runs. Like the store, its methods with exported names
// take the lock and return copies.
type traffic struct {
	mu        sync.Mutex
	stats     Stats
	faults    Faults
	ruleState []ruleState
	requests  []RequestRecord // a ring of requestLogSize records once full
	next      int             // where the ring's next record goes
}

func newTraffic() *traffic {
	t := &traffic{}
	t.resetStatsLocked()
	return t
}

// Admit counts a request and picks the fault, if any, to answer it with, and says how long to wait
// before answering.
func (t *traffic) Admit(method, path, route string) (time.Duration, *FaultRule) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stats.Total++
	if isWrite(method) {
		t.stats.Writes++
	}
	t.stats.ByMethod[method]++
	t.stats.ByRoute[route]++
	rule := t.pickFaultLocked(method, path)
	if rule != nil {
		t.stats.Faults++
	}
	return t.faults.Latency, rule
}

func isWrite(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

// Log adds an answered request to the request log, dropping the oldest once the log is full.
func (t *traffic) Log(rec RequestRecord) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.requests) < requestLogSize {
		t.requests = append(t.requests, rec)
	} else {
		t.requests[t.next] = rec
	}
	t.next = (t.next + 1) % requestLogSize
}

// Stats returns a copy of the request counters.
func (t *traffic) Stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := t.stats
	out.ByMethod = copyCounts(t.stats.ByMethod)
	out.ByRoute = copyCounts(t.stats.ByRoute)
	return out
}

// ResetStats zeroes the request counters. The request log is kept.
func (t *traffic) ResetStats() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.resetStatsLocked()
}

func (t *traffic) resetStatsLocked() {
	t.stats = Stats{ByMethod: map[string]int{}, ByRoute: map[string]int{}}
}

// Requests returns the request log, oldest first.
func (t *traffic) Requests() []RequestRecord {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]RequestRecord, 0, len(t.requests))
	if len(t.requests) == requestLogSize {
		out = append(out, t.requests[t.next:]...)
		return append(out, t.requests[:t.next]...)
	}
	return append(out, t.requests...)
}

func copyCounts(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// SetFaults replaces the fault configuration and restarts every rule's counters.
func (t *traffic) SetFaults(f Faults) {
	f.Rules = append([]FaultRule(nil), f.Rules...)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.faults = f
	t.ruleState = make([]ruleState, len(f.Rules))
}

// Faults returns the fault configuration in force.
func (t *traffic) Faults() Faults {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.faults
	f.Rules = append([]FaultRule(nil), f.Rules...)
	return f
}
