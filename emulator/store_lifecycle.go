package emulator

import (
	"net/http"
	"time"
)

// A deployment's life: created not-started (startDeployment), running (beginDeploymentLocked), and
// ended (endDeployment) with the outcome its stack's DeploymentBehaviour gives. When that happens depends
// on the deployment mode: at once inside the cascade that created it (synchronous, the default), when a
// test steps it (manual, store_deployments.go), or after a while of its own (timed, store_timed.go).

// Deployment outcomes a DeploymentBehaviour can ask for.
const (
	OutcomeSucceeded = StatusSucceeded
	OutcomeFailed    = StatusFailed
)

// DeploymentBehaviour is how a stack's deployments run and end. The zero value is the default: they
// succeed, take the mode's default duration, and leave the stack's outputs as they were.
type DeploymentBehaviour struct {
	// Duration is how long a deployment runs with timed deployments; 0 takes the mode's default. The
	// other modes ignore it.
	Duration time.Duration
	// Outcome is succeeded (also when empty) or failed.
	Outcome string
	// FailTimes makes the stack's next FailTimes deployments fail whatever Outcome says; each failure
	// counts one down, so a test can have a deployment fail and its retry succeed.
	FailTimes int
	// Outputs are what an update deployment that succeeds leaves as the stack's outputs; nil leaves
	// them as they were, which is how a test makes an update that changes no output. A refresh or a
	// drift remediation keeps the outputs, and a destroy leaves none.
	Outputs *StackOutputs
	// Hang makes a timed deployment that starts from now on run until it is cancelled or its stack is
	// deleted: its timer is never armed. (A test may still end it with FinishDeployment or a step.)
	Hang bool
}

func (b DeploymentBehaviour) clone() DeploymentBehaviour {
	if b.Outputs != nil {
		o := StackOutputs{Plain: copyJSON(b.Outputs.Plain), Secret: copyJSON(b.Outputs.Secret)}
		b.Outputs = &o
	}
	return b
}

// maxBehaviourDuration bounds a deployment's duration: longer would be a typo, not a test.
const maxBehaviourDuration = time.Hour

// validateOutcome checks the outcome a deployment behaviour or a person's update asks for.
func validateOutcome(outcome string) error {
	switch outcome {
	case "", OutcomeSucceeded, OutcomeFailed:
		return nil
	}
	return errorf(http.StatusBadRequest, "outcome %q is invalid: use %q or %q", outcome, OutcomeSucceeded, OutcomeFailed)
}

func validateBehaviour(b DeploymentBehaviour) (DeploymentBehaviour, error) {
	if err := validateOutcome(b.Outcome); err != nil {
		return b, err
	}
	if b.Duration < 0 || b.Duration > maxBehaviourDuration {
		return b, errorf(http.StatusBadRequest, "durationMs %d is invalid: use 0 (the mode's default) to %d",
			b.Duration.Milliseconds(), maxBehaviourDuration.Milliseconds())
	}
	if b.FailTimes < 0 {
		return b, errorf(http.StatusBadRequest, "failTimes %d is invalid: use 0 or more", b.FailTimes)
	}
	outputs, err := normalizeOutputs(b.Outputs)
	if err != nil {
		return b, err
	}
	b.Outputs = outputs
	return b, nil
}

// SetDeploymentBehaviour replaces how a stack's deployments run and end. It applies to deployments
// that end from now on, including one running now.
func (s *store) SetDeploymentBehaviour(org, project, name string, b DeploymentBehaviour) error {
	b, err := validateBehaviour(b)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.stackLocked(org, project, name)
	if err != nil {
		return err
	}
	st.behaviour = b
	return nil
}

// DeploymentBehaviourOf returns a stack's deployment behaviour.
func (s *store) DeploymentBehaviourOf(org, project, name string) (DeploymentBehaviour, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.stackLocked(org, project, name)
	if err != nil {
		return DeploymentBehaviour{}, err
	}
	return st.behaviour.clone(), nil
}

// startDeployment creates a deployment of st with the given configuration. Synchronously (the default)
// it runs to its end on the spot and queues the events it raises. Otherwise, or while a person's update
// of the stack runs, it waits, not-started, at the end of the stack's queue, for a step (manual), the
// scheduler (timed) or the update's end (synchronous) to start it. Callers hold s.mu.
func (c *cascade) startDeployment(st *stack, op string, cause Cause, config map[string]any) Deployment {
	s := c.s
	st.deployments++
	now := s.now()
	i := len(s.deployments)
	s.deployments = append(s.deployments, Deployment{
		ID: s.newID(), Org: st.org, Project: st.project, Stack: st.name, Operation: op,
		Status: StatusNotStarted, Version: st.deployments, Created: now, Modified: now, Cause: cause,
		configuration: config, stackID: st.id,
	})
	if s.mode == DeploymentsSynchronous && st.person == nil {
		s.beginDeploymentLocked(st, i, now)
		c.endDeployment(st, i)
	} else {
		st.waiting = append(st.waiting, i)
	}
	d := s.deployments[i]
	if cause.Kind == CauseWebhook {
		c.res.Deployments = append(c.res.Deployments, d)
	}
	return d
}

// beginDeploymentLocked makes the deployment at index i st's running one. Its update starts: one that
// changes the stack is the stack's latest update and current operation until it ends. Callers hold
// s.mu.
func (s *store) beginDeploymentLocked(st *stack, i int, now time.Time) {
	s.order++
	d := &s.deployments[i]
	d.Status = StatusRunning
	d.Started, d.Modified = now, now
	d.StartOrder = s.order
	if operationChangesStack[d.Operation] {
		d.UpdateID = s.startUpdateLocked(st, updateKinds[d.Operation], now, true)
	} else {
		d.UpdateID = s.newUpdateID()
	}
	st.running = i
}

// endDeployment ends st's running deployment, the one at index i, as the stack's behaviour says.
// Callers hold s.mu.
func (c *cascade) endDeployment(st *stack, i int) {
	failed := st.behaviour.Outcome == OutcomeFailed
	if st.behaviour.FailTimes > 0 {
		st.behaviour.FailTimes--
		failed = true
	}
	c.concludeDeployment(st, i, failed)
}

// concludeDeployment ends st's running deployment, the one at index i, failed or succeeded. A success of
// an operation that changes the stack writes a new stack version with the outputs the behaviour gives;
// either way the deployment's two events join the queue. Callers hold s.mu.
func (c *cascade) concludeDeployment(st *stack, i int, failed bool) {
	s := c.s
	now := s.now()
	d := &s.deployments[i]
	if failed {
		d.Status = StatusFailed
	} else {
		d.Status = StatusSucceeded
		if operationChangesStack[d.Operation] {
			var outputs *StackOutputs
			switch d.Operation {
			case "update":
				outputs = st.behaviour.Outputs
			case "destroy":
				outputs = &StackOutputs{}
			}
			s.writeVersionLocked(st, now, outputs)
		}
		d.StackVersion = st.version
	}
	s.order++
	d.Modified, d.Finished = now, now
	d.EndOrder = s.order
	st.running = -1
	endUpdateLocked(st)
	s.stopTimerLocked(i)
	c.queue = append(c.queue, deploymentEvents(st, *d)...)
}
