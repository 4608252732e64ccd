package emulator

import (
	"net/http"
	"time"
)

// Deployment modes.
//
// Synchronous (the default): a deployment ends the moment it is created, inside the cascade that created
// it, so FireUpdate's answer is a whole cascade. Manual: deployments wait until a test steps them
// (store_deployments.go). Timed: deployments run on their own, as the service's do, one at a time per
// stack in queue order: the scheduler starts a stack's oldest waiting deployment when nothing of the
// stack runs (collapsing the queue first where the stack skips intermediate deployments), and a timer
// ends it after its duration, its stack's DeploymentBehaviour.Duration or the mode's default. Ending it
// raises its events, whose cascade may queue more deployments, which the scheduler then starts. A
// webhook cycle in timed mode deploys for ever, as it would on the service: there is no cascade whose
// size could be capped.
const (
	DeploymentsSynchronous = "synchronous"
	DeploymentsManual      = "manual"
	DeploymentsTimed       = "timed"
)

// DeploymentMode is how deployments run (see the constants above); Duration is the default duration of a
// timed deployment, which a stack's DeploymentBehaviour may override. Concurrency caps the deployments
// that run at once in one organization, as the service's plans do (Free 1, Team 5, Enterprise 25...):
// beyond it they wait not-started, and start in the order they were created across the organization. 0
// (the default) sets no cap. It binds in manual and timed modes; synchronous deployments run one at a
// time anyway.
type DeploymentMode struct {
	Mode        string
	Duration    time.Duration
	Concurrency int
}

// timerEntry is the timer that will end a running timed deployment. gen tells a timer that fires
// after it was replaced or stopped from the current one.
type timerEntry struct {
	timer *time.Timer
	gen   uint64
}

// SetDeploymentMode switches how deployments run. Leaving manual or timed for synchronous first runs
// whatever runs or waits to its end, as SetManualDeployments(false) always did, and returns that run.
// Switching to manual stops the clocks of timed deployments, which then wait for steps; switching to
// timed gives every running deployment a full duration from now and starts what can start.
func (s *store) SetDeploymentMode(m DeploymentMode) (CascadeResult, error) {
	switch m.Mode {
	case DeploymentsSynchronous, DeploymentsManual, DeploymentsTimed:
	default:
		return CascadeResult{}, errorf(http.StatusBadRequest, "mode %q is invalid: use %q, %q or %q", m.Mode,
			DeploymentsSynchronous, DeploymentsManual, DeploymentsTimed)
	}
	if m.Duration < 0 || m.Duration > maxBehaviourDuration {
		return CascadeResult{}, errorf(http.StatusBadRequest, "durationMs %d is invalid: use 0 to %d",
			m.Duration.Milliseconds(), maxBehaviourDuration.Milliseconds())
	}
	if m.Concurrency < 0 {
		return CascadeResult{}, errorf(http.StatusBadRequest,
			"concurrency %d is invalid: use 0 (no cap) or the number of deployments an organization may run at once",
			m.Concurrency)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.setModeLocked(m), nil
}

func (s *store) setModeLocked(m DeploymentMode) CascadeResult {
	res := CascadeResult{Deployments: []Deployment{}, FailedDeliveries: []Delivery{}}
	s.stopAllTimersLocked()
	s.defaultDuration, s.concurrency = m.Duration, m.Concurrency
	switch m.Mode {
	case DeploymentsSynchronous:
		if s.mode != DeploymentsSynchronous {
			// Drained step by step, as manual deployments are; only then are new ones synchronous.
			s.mode = DeploymentsManual
			res = s.runDeploymentsLocked()
			now := s.now()
			for _, st := range s.stacks {
				if st.person != nil {
					continue // they run when the update ends
				}
				for _, i := range st.waiting {
					s.endLocked(i, StatusSkipped, now)
				}
				if st.running >= 0 {
					s.endLocked(st.running, StatusSkipped, now)
					endUpdateLocked(st)
				}
				st.waiting, st.running = nil, -1
			}
		}
	case DeploymentsTimed:
		s.mode = DeploymentsTimed
		for _, st := range s.stacks {
			if st.running >= 0 {
				s.armTimerLocked(st, st.running)
			}
		}
		s.scheduleTimedLocked()
	}
	s.mode = m.Mode
	s.changes.broadcast()
	return res
}

// Mode returns how deployments run.
func (s *store) Mode() DeploymentMode {
	s.mu.Lock()
	defer s.mu.Unlock()
	return DeploymentMode{Mode: s.mode, Duration: s.defaultDuration, Concurrency: s.concurrency}
}

// scheduleTimedLocked starts, with timed deployments, the oldest waiting deployment of every stack
// with nothing running. Callers hold s.mu.
func (s *store) scheduleTimedLocked() {
	if s.mode == DeploymentsTimed && !s.closed {
		s.startWaitingLocked()
	}
}

// armTimerLocked sets the clock that ends the running deployment at index i of st. Callers hold s.mu.
func (s *store) armTimerLocked(st *stack, i int) {
	if s.closed {
		return
	}
	s.stopTimerLocked(i)
	if st.behaviour.Hang {
		return
	}
	d := st.behaviour.Duration
	if d == 0 {
		d = s.defaultDuration
	}
	s.timerGen++
	gen := s.timerGen
	s.timers[i] = timerEntry{gen: gen, timer: time.AfterFunc(d, func() { s.timerFired(i, gen) })}
}

// stopTimerLocked stops the clock of the deployment at index i, if it has one. Callers hold s.mu.
func (s *store) stopTimerLocked(i int) {
	if e, ok := s.timers[i]; ok {
		e.timer.Stop()
		delete(s.timers, i)
	}
}

func (s *store) stopAllTimersLocked() {
	for i := range s.timers {
		s.stopTimerLocked(i)
	}
}

// timerFired ends a timed deployment whose duration is over, unless its timer was replaced or stopped
// meanwhile, or something else ended it.
func (s *store) timerFired(i int, gen uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.timers[i]
	if !ok || e.gen != gen || s.mode != DeploymentsTimed || s.deployments[i].Status != StatusRunning {
		return
	}
	delete(s.timers, i)
	c := s.newCascade()
	c.endDeployment(s.deploymentStackLocked(i), i)
	c.run()
}

// close stops every clock; timed deployments and person's updates running now stay running. Nothing is
// armed afterwards.
func (s *store) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.stopAllTimersLocked()
	s.stopUpdateTimersLocked()
}

// Idle reports whether no deployment or person's update runs, no deployment waits and no delivery is
// on its way. Deliveries are handed to the outbox under s.mu, so the answer is consistent across the
// two.
func (s *store) Idle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.stacks {
		if st.running >= 0 || len(st.waiting) > 0 || st.person != nil {
			return false
		}
	}
	return s.outbox.idle()
}
