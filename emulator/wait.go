package emulator

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Waiting for the emulator, without sleeping.
//
// With timed deployments and deliveries over HTTP, things happen after the call that caused them has
// returned. A test waits for them with WaitIdle (nothing runs, waits or is on its way) or WaitFor (a
// condition of its own), which re-check whenever the store reports a change and, since a change may
// come from outside it (a receiver calling the API), at least every waitPoll.

// waitPoll is how often a wait re-checks when nothing wakes it.
const waitPoll = 20 * time.Millisecond

// signal wakes everyone waiting on it when broadcast; a waiter takes the channel before it checks its
// condition, so a broadcast between the check and the wait is never lost.
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

func (s *signal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

func (s *signal) broadcast() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}

// WaitFor returns once cond holds, or with ctx's error, wrapped, once ctx is done. cond is called without
// any lock held, so it may use the Server's accessors.
func (s *Server) WaitFor(ctx context.Context, cond func() bool) error {
	tick := time.NewTicker(waitPoll)
	defer tick.Stop()
	for {
		changed := s.store.changes.wait()
		if cond() {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("emulator: the condition did not hold before the wait ended: %w", ctx.Err())
		case <-changed:
		case <-tick.C:
		}
	}
}

// WaitIdle returns once no deployment runs or waits and no delivery is on its way, or with ctx's error.
// In manual mode that takes a test's steps. A webhook receiver that acts only after it has answered
// its delivery can still act after WaitIdle returns: wait for what it does with WaitFor.
func (s *Server) WaitIdle(ctx context.Context) error {
	if err := s.WaitFor(ctx, s.store.Idle); err != nil {
		return fmt.Errorf("emulator: not idle: %w", err)
	}
	return nil
}

// Idle reports whether no deployment runs or waits and no delivery is on its way.
func (s *Server) Idle() bool { return s.store.Idle() }
