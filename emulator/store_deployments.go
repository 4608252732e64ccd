package emulator

import (
	"fmt"
	"net/http"
	"slices"
	"time"
)

const consoleBase = "https://app.pulumi.com"

func consoleURL(d Deployment) string {
	return fmt.Sprintf("%s/%s/%s/%s/deployments/%d", consoleBase, d.Org, d.Project, d.Stack, d.Version)
}

// operationChangesStack marks the operations that write a new checkpoint, and so bump the stack version.
var operationChangesStack = map[string]bool{
	"update": true, "refresh": true, "destroy": true, "remediate-drift": true,
}

// StartDeployment starts a deployment of a stack, as asked through the API, and the cascade its events
// set off. Its configuration is the stack's settings (with inheritSettings, when the stack must have
// some) merged with the request's own settings, which the emulator takes on trust.
func (s *store) StartDeployment(org, project, name, operation string, inheritSettings bool, own map[string]any) (Deployment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.stackLocked(org, project, name)
	if err != nil {
		return Deployment{}, err
	}
	if operation == "" {
		return Deployment{}, errorf(http.StatusBadRequest, "operation is required")
	}
	if _, ok := operationEventPrefix[operation]; !ok {
		return Deployment{}, errorf(http.StatusBadRequest,
			"operation %q is invalid: use update, preview, refresh, destroy, detect-drift or remediate-drift", operation)
	}
	if inheritSettings && st.settings == nil {
		return Deployment{}, errorf(http.StatusBadRequest,
			"Stack '%s/%s/%s' has no deployment settings to inherit", st.org, st.project, st.name)
	}
	var config map[string]any
	if inheritSettings {
		config = st.settings
	}
	c := s.newCascade()
	d := c.startDeployment(st, operation, Cause{Kind: CauseAPI}, mergePatch(config, own))
	c.run()
	return d, nil
}

// StackDeployments returns one stack's deployments, oldest first.
func (s *store) StackDeployments(org, project, name string) ([]Deployment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.stackLocked(org, project, name)
	if err != nil {
		return nil, err
	}
	var mine []Deployment
	for _, d := range s.deployments {
		if d.stackID == st.id {
			mine = append(mine, d)
		}
	}
	return mine, nil
}

// StackDeployment finds one deployment of a stack by id or, when id is empty, by version, and returns
// it with the stack's latest deployment version. Either missing is a 404.
func (s *store) StackDeployment(org, project, name, id string, version int) (d Deployment, latest int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.stackLocked(org, project, name)
	if err != nil {
		return Deployment{}, 0, err
	}
	for _, d := range s.deployments {
		if d.stackID != st.id {
			continue
		}
		if (id != "" && d.ID == id) || (id == "" && d.Version == version) {
			return d, st.deployments, nil
		}
	}
	if id == "" {
		id = fmt.Sprintf("version %d", version)
	}
	return Deployment{}, 0, errorf(http.StatusNotFound, "Deployment %s of stack '%s/%s/%s' not found", id, org, project, name)
}

// AllDeployments returns every deployment in the order they were created.
func (s *store) AllDeployments() []Deployment {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.deployments)
}

func (s *store) DeploymentCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.deployments)
}

// Manual deployments.
//
// By default a deployment runs to its end the moment it is created, inside the cascade that created it,
// so a stack never has one running while another arrives, and its queue never holds anything. That keeps
// FireUpdate's answer a complete account of a cascade, which most tests want.
//
// With manual deployments on, a new deployment is created not-started at the end of its stack's queue
// and nothing runs until a test says so:
//
//   - StartDeployments starts, on every stack with nothing running, the oldest waiting deployment. When
//     the stack's settings have operationContext.options.skipIntermediateDeployments true, the queue
//     first collapses to its newest deployment and the others become skipped (they raise no events).
//   - FinishDeployment ends one running deployment as its stack's DeploymentBehaviour says (with
//     success by default), which raises its events and runs their cascade; the deployments that starts wait in their stacks' queues.
//   - StepDeployments finishes every running deployment (in creation order) and then starts waiting
//     ones: one tick of a clock on which every running deployment takes the same time. Deployments
//     queued by the same tick are waiting together when the tick starts the next ones, which is when a
//     collapse can happen.
//   - RunDeployments steps until nothing runs or waits.
//
// Deleting a stack fails its running and waiting deployments. Turning manual deployments off runs
// whatever waits first.

// SetManualDeployments turns manual deployments on or off. Turning them off (to synchronous
// deployments, whatever the mode was) first runs everything that is running or waiting, and returns that
// run; should it be truncated (a webhook cycle), what is left is skipped.
func (s *store) SetManualDeployments(on bool) CascadeResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case on:
		return s.setModeLocked(DeploymentMode{Mode: DeploymentsManual, Duration: s.defaultDuration,
			Concurrency: s.concurrency})
	case s.mode != DeploymentsSynchronous:
		return s.setModeLocked(DeploymentMode{Mode: DeploymentsSynchronous, Duration: s.defaultDuration,
			Concurrency: s.concurrency})
	}
	return CascadeResult{Deployments: []Deployment{}, FailedDeliveries: []Delivery{}}
}

// ManualDeployments reports whether manual deployments are on.
func (s *store) ManualDeployments() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mode == DeploymentsManual
}

// DeploymentStep is what one StepDeployments did, and whether the emulator is idle after it.
type DeploymentStep struct {
	// Finished are the deployments that ended (as their behaviour says: with success by default), in
	// creation order.
	Finished []Deployment `json:"finished"`
	// Queued are the deployments the finished ones' events started through webhooks, and
	// FailedDeliveries the deliveries of those events that failed; Truncated is set when those
	// cascades hit the deployment cap.
	Queued           []Deployment `json:"queued"`
	FailedDeliveries []Delivery   `json:"failedDeliveries"`
	Truncated        bool         `json:"truncated"`
	// Skipped are the waiting deployments a collapsing queue dropped, Started those now running.
	Skipped []Deployment `json:"skipped"`
	Started []Deployment `json:"started"`
	// Idle is set when, after the step, no deployment is running or waiting, but for those that wait for a
	// person's update of their stack to end: nothing is left for a step to do.
	Idle bool `json:"idle"`
}

// StartDeployments starts the oldest waiting deployment of every stack that has nothing running,
// collapsing queues first where the stack skips intermediate deployments. It returns the deployments
// started and skipped.
func (s *store) StartDeployments() (started, skipped []Deployment) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.startWaitingLocked()
}

// FinishDeployment ends a running deployment as its stack's behaviour says (with success by default) and
// runs the cascade its events set off. A deployment that is not running is a 409, an unknown one a 404.
func (s *store) FinishDeployment(id string) (CascadeResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.deployments, func(d Deployment) bool { return d.ID == id })
	if i < 0 {
		return CascadeResult{}, errorf(http.StatusNotFound, "Deployment %s not found", id)
	}
	if d := s.deployments[i]; d.Status != StatusRunning {
		return CascadeResult{}, errorf(http.StatusConflict, "Deployment %s is %s, not running", id, d.Status)
	}
	c := s.newCascade()
	c.endDeployment(s.deploymentStackLocked(i), i)
	return c.run(), nil
}

// StepDeployments finishes every running deployment, then starts waiting ones.
func (s *store) StepDeployments() DeploymentStep {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stepLocked()
}

// RunDeployments steps until no deployment runs or waits, and returns every deployment that finished,
// in order, with the failed deliveries. More than Options.MaxCascadeDeployments finished deployments
// (a webhook cycle) stop it with Truncated set, leaving the rest where they are.
func (s *store) RunDeployments() CascadeResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runDeploymentsLocked()
}

func (s *store) runDeploymentsLocked() CascadeResult {
	res := CascadeResult{Deployments: []Deployment{}, FailedDeliveries: []Delivery{}}
	for {
		step := s.stepLocked()
		res.Deployments = append(res.Deployments, step.Finished...)
		res.FailedDeliveries = append(res.FailedDeliveries, step.FailedDeliveries...)
		if step.Idle {
			return res
		}
		if step.Truncated || len(res.Deployments) >= s.maxCascade {
			res.Truncated = true
			return res
		}
	}
}

func (s *store) stepLocked() DeploymentStep {
	c := s.newCascade()
	var running []int
	for i, d := range s.deployments {
		if d.Status == StatusRunning {
			running = append(running, i)
		}
	}
	for _, i := range running {
		c.endDeployment(s.deploymentStackLocked(i), i)
	}
	res := c.run()
	step := DeploymentStep{
		Finished: []Deployment{}, Queued: res.Deployments, FailedDeliveries: res.FailedDeliveries, Truncated: res.Truncated,
	}
	for _, i := range running {
		step.Finished = append(step.Finished, s.deployments[i])
	}
	step.Started, step.Skipped = s.startWaitingLocked()
	step.Idle = true
	for _, st := range s.stacks {
		if st.running >= 0 || st.canStart() {
			step.Idle = false
			break
		}
	}
	return step
}

// startWaitingLocked starts the oldest waiting deployment of every idle stack, in the order of those
// deployments' creation, as long as its organization runs fewer deployments than the cap. Callers hold
// s.mu.
func (s *store) startWaitingLocked() (started, skipped []Deployment) {
	started, skipped = []Deployment{}, []Deployment{}
	var ready []*stack
	running := map[string]int{} // by organization
	for _, st := range s.stacks {
		if st.canStart() {
			ready = append(ready, st)
		}
		if st.running >= 0 {
			running[st.org]++
		}
	}
	slices.SortFunc(ready, func(a, b *stack) int { return a.waiting[0] - b.waiting[0] })
	now := s.now()
	for _, st := range ready {
		if s.concurrency > 0 && running[st.org] >= s.concurrency {
			continue
		}
		running[st.org]++
		i, dropped := s.startNextLocked(st, now)
		for _, j := range dropped {
			skipped = append(skipped, s.deployments[j])
		}
		if s.mode == DeploymentsTimed {
			s.armTimerLocked(st, i)
		}
		started = append(started, s.deployments[i])
	}
	return started, skipped
}

// canStart reports whether the stack's oldest waiting deployment may start: nothing of the stack runs,
// neither a deployment nor a person's update.
func (st *stack) canStart() bool { return st.running < 0 && st.person == nil && len(st.waiting) > 0 }

// startNextLocked starts st's oldest waiting deployment and returns its index, with those of the
// waiting deployments a collapsing queue skipped first where the stack skips intermediate deployments.
// Callers hold s.mu and have checked st.canStart.
func (s *store) startNextLocked(st *stack, now time.Time) (started int, skipped []int) {
	if n := len(st.waiting); n > 1 && skipsIntermediateDeployments(st.settings) {
		for _, i := range st.waiting[:n-1] {
			s.endLocked(i, StatusSkipped, now)
		}
		skipped = st.waiting[:n-1]
		st.waiting = st.waiting[n-1:]
	}
	started = st.waiting[0]
	st.waiting = slices.Delete(st.waiting, 0, 1)
	s.beginDeploymentLocked(st, started, now)
	return started, skipped
}

// endLocked ends a deployment without running it to success. Callers hold s.mu.
func (s *store) endLocked(i int, status string, now time.Time) {
	s.stopTimerLocked(i)
	d := &s.deployments[i]
	d.Status = status
	d.Modified, d.Finished = now, now
}

// deploymentStackLocked is the stack of the deployment at index i, which is running or waiting and so
// belongs to a stack that exists (DeleteStack ends them). Callers hold s.mu.
func (s *store) deploymentStackLocked(i int) *stack {
	d := s.deployments[i]
	return s.stacks[resourceKey(d.Org, d.Project, d.Stack)]
}

// abandonDeploymentsLocked fails the running and waiting deployments of a stack being deleted. Callers
// hold s.mu.
func (s *store) abandonDeploymentsLocked(st *stack) {
	if st.running < 0 && len(st.waiting) == 0 {
		return
	}
	now := s.now()
	if st.running >= 0 {
		s.endLocked(st.running, StatusFailed, now)
		endUpdateLocked(st)
	}
	for _, i := range st.waiting {
		s.endLocked(i, StatusFailed, now)
	}
	st.running, st.waiting = -1, nil
}

// skipsIntermediateDeployments reads operationContext.options.skipIntermediateDeployments.
func skipsIntermediateDeployments(settings map[string]any) bool {
	oc, _ := settings["operationContext"].(map[string]any)
	opts, _ := oc["options"].(map[string]any)
	skip, _ := opts["skipIntermediateDeployments"].(bool)
	return skip
}

// CancelDeployment stops a deployment of a stack. A running one fails at once, raising
// deployment_failed and its operation's _failed event (the update it ran failed) and writing no
// version; a waiting one leaves its stack's queue, fails and raises nothing, since it never ran. Either
// way its status is failed (the service has no cancelled status) and Cancelled is set. A deployment
// that has already ended is a 409, an unknown one (or another stack's) a 404.
func (s *store) CancelDeployment(org, project, name, id string) (CascadeResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.stackLocked(org, project, name)
	if err != nil {
		return CascadeResult{}, err
	}
	i := slices.IndexFunc(s.deployments, func(d Deployment) bool { return d.ID == id && d.stackID == st.id })
	if i < 0 {
		return CascadeResult{}, errorf(http.StatusNotFound, "Deployment %s of stack '%s/%s/%s' not found", id, org,
			project, name)
	}
	c := s.newCascade()
	switch status := s.deployments[i].Status; status {
	case StatusRunning:
		c.concludeDeployment(st, i, true)
	case StatusNotStarted:
		st.waiting = slices.DeleteFunc(st.waiting, func(j int) bool { return j == i })
		s.endLocked(i, StatusFailed, s.now())
	default:
		return CascadeResult{}, errorf(http.StatusConflict,
			"Deployment %s has already ended (%s): there is nothing to cancel", id, status)
	}
	s.deployments[i].Cancelled = true
	return c.run(), nil
}

// OrgDeployments returns the deployments of an organization's stacks, oldest first. Those of deleted
// stacks are gone with them.
func (s *store) OrgDeployments(org string) []Deployment {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []Deployment{}
	for _, d := range s.deployments {
		if st := s.stacks[resourceKey(d.Org, d.Project, d.Stack)]; d.Org == org && st != nil && st.id == d.stackID {
			out = append(out, d)
		}
	}
	return out
}
