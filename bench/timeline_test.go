//go:build e2e

package bench

import (
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
)

// benchTimeline records when each API request of a phase ran, as the emulator answered
// it, to tell where a phase's wall time goes: the CLI and plugin starting before the first
// request, reads before the first write, the writes, and the CLI finishing after the last
// request; and how many requests were in flight at most, which shows the client's bounds.
type benchTimeline struct {
	mu      sync.Mutex
	started time.Time
	spans   []benchSpan
}

type benchSpan struct {
	start, end time.Time
	write      bool
}

// benchTimes is what a phase's timeline says, as offsets from the command's start.
type benchTimes struct {
	FirstRequest, FirstWrite, LastWrite, LastRequest time.Duration // zero when there was none
	PeakReads, PeakWrites                            int
}

// reset starts a new phase's timeline at started.
func (tl *benchTimeline) reset(started time.Time) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.started, tl.spans = started, nil
}

// record is the emulator's OnRequest hook. The record's Time is when the answer was
// written, on the emulator's clock, which the harness only shifts while seeding.
func (tl *benchTimeline) record(rec emulator.RequestRecord) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.spans = append(tl.spans, benchSpan{start: rec.Time.Add(-rec.Duration), end: rec.Time,
		write: rec.Method != http.MethodGet && rec.Method != http.MethodHead})
}

// times sums up the phase's timeline.
func (tl *benchTimeline) times() benchTimes {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	var out benchTimes
	type event struct {
		at    time.Time
		delta int
		write bool
	}
	var events []event
	var firstRequest, firstWrite, lastWrite, lastRequest time.Time
	for _, s := range tl.spans {
		if firstRequest.IsZero() || s.start.Before(firstRequest) {
			firstRequest = s.start
		}
		lastRequest = later(lastRequest, s.end)
		if s.write {
			if firstWrite.IsZero() || s.start.Before(firstWrite) {
				firstWrite = s.start
			}
			lastWrite = later(lastWrite, s.end)
		}
		events = append(events, event{s.start, 1, s.write}, event{s.end, -1, s.write})
	}
	// Ends before starts at the same instant: back-to-back requests are not both in flight.
	slices.SortFunc(events, func(a, b event) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return a.delta - b.delta
	})
	reads, writes := 0, 0
	for _, e := range events {
		if e.write {
			writes += e.delta
		} else {
			reads += e.delta
		}
		out.PeakReads, out.PeakWrites = max(out.PeakReads, reads), max(out.PeakWrites, writes)
	}
	since := func(t time.Time) time.Duration {
		if t.IsZero() {
			return 0
		}
		return t.Sub(tl.started)
	}
	out.FirstRequest, out.FirstWrite = since(firstRequest), since(firstWrite)
	out.LastWrite, out.LastRequest = since(lastWrite), since(lastRequest)
	return out
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
