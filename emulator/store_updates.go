package emulator

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Updates: what Pulumi Cloud records when a program's operation runs on a stack, whether a person runs it
// (pulumi up on a laptop) or a deployment does.
//
// The service's stack list gives lastUpdate, the time the stack's latest update STARTED; its end does not
// move it. GET stack gives activeUpdate, the id of the latest update, finished or not, and
// currentOperation, the operation running now or null. The emulator keeps the three on the stack and
// sets them at an update's start; the end only clears currentOperation.

// StackOperation is an operation running on a stack, as GET stack's currentOperation shows it.
type StackOperation struct {
	// Kind is the update kind: update, refresh or destroy.
	Kind string `json:"kind"`
	// Author is the login of who started it: always the emulator's one user.
	Author string `json:"author"`
	// Started is when it started; the API answers Unix seconds.
	Started time.Time `json:"started"`
}

// updateKinds is the kind of update each deployment operation runs, in the service's update kinds
// (AppUpdateKind). The service does not say which kind a drift run records; the emulator chooses a
// refresh for a detection and an update for a remediation, the commands they amount to.
var updateKinds = map[string]string{
	"update": "update", "preview": "preview", "refresh": "refresh", "destroy": "destroy",
	"detect-drift": "refresh", "remediate-drift": "update",
}

// newUpdateID returns a UUID-shaped update id. Update ids have a counter of their own and another
// variant digit than the store's other ids, so that adding updates leaves every other id of a run as
// it was. Callers hold s.mu.
func (s *store) newUpdateID() string {
	s.updateSeq++
	return fmt.Sprintf("00000000-0000-4000-9000-%012x", s.updateSeq)
}

// startUpdateLocked records that an update of st starts now and returns its id: lastUpdate and
// activeUpdate move to it. An update that takes time also shows as the stack's current operation of
// the given kind until endUpdateLocked. Callers hold s.mu.
func (s *store) startUpdateLocked(st *stack, kind string, now time.Time, takesTime bool) string {
	id := s.newUpdateID()
	st.lastUpdate, st.activeUpdate = now, id
	if takesTime {
		st.operation = &StackOperation{Kind: kind, Author: emulatorUser.GitHubLogin, Started: now}
	}
	return id
}

// endUpdateLocked records that st's running update ended: nothing runs on it any more. lastUpdate
// stays the update's start. Callers hold s.mu.
func endUpdateLocked(st *stack) { st.operation = nil }

// A person's update: pulumi up or pulumi refresh run from a laptop rather than by a deployment.
//
// FireUpdate's update is instantaneous: it starts and ends in one step. StartUpdate can also run one for
// a while, as a real `pulumi up` does: the stack shows it as its current operation, and a deployment of
// the stack that arrives meanwhile waits not-started until it ends (the emulator's choice: the service
// does not say, but it runs one update of a stack at a time). Its timer ends it, or FinishUpdate does
// before its time.

// Update kinds a person's update can have.
const (
	UpdateKindUpdate  = "update"
	UpdateKindRefresh = "refresh"
)

// Update is an update a person runs on a stack, for StartUpdate. The zero value is FireUpdate's: an
// update that succeeds at once and leaves the outputs and the references as they were.
type Update struct {
	// Kind is update (also when empty) or refresh. Both write a new version when they succeed; a refresh
	// raises refresh_succeeded instead of update_succeeded.
	Kind string
	// Outcome is succeeded (also when empty) or failed. A failed update writes no version, leaves the
	// outputs and references as they were, and raises update_failed (refresh_failed).
	Outcome string
	// Duration is how long the update runs, up to an hour; 0 starts and ends it at once.
	Duration time.Duration
	// Outputs are the whole set of outputs a successful update leaves; nil leaves them as they were.
	Outputs *StackOutputs
	// Reads, unless nil, are the stacks of the same organization ("project/stack") whose outputs the
	// stack's program reads through StackReferences after this update: a successful update records them
	// as its upstream references when it ENDS, after lastUpdate moved at its start. An empty list
	// forgets every reference; nil keeps them.
	Reads []string
}

// StackUpdate is a person's update as the emulator recorded it.
type StackUpdate struct {
	ID      string `json:"id"`
	Org     string `json:"orgName"`
	Project string `json:"projectName"`
	Stack   string `json:"stackName"`
	Kind    string `json:"kind"`
	// Status is running, succeeded or failed. An update whose stack was deleted under it failed.
	Status string `json:"status"`
	// Version is the stack version a successful update wrote; 0 otherwise.
	Version  int       `json:"version,omitempty"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitzero"`
}

// UpdateResult is what StartUpdate answers: the update and, for one that ended at once, what its end
// set off.
type UpdateResult struct {
	Update StackUpdate `json:"update"`
	CascadeResult
}

// personUpdate is a stored person's update: its record, its stack and what its end does.
type personUpdate struct {
	StackUpdate
	st      *stack
	outcome string
	outputs *StackOutputs
	reads   []string
	timer   *time.Timer
}

func validateUpdate(u Update) (Update, error) {
	switch u.Kind {
	case "":
		u.Kind = UpdateKindUpdate
	case UpdateKindUpdate, UpdateKindRefresh:
	default:
		return u, errorf(http.StatusBadRequest, "kind %q is invalid: use %q or %q", u.Kind, UpdateKindUpdate,
			UpdateKindRefresh)
	}
	if err := validateOutcome(u.Outcome); err != nil {
		return u, err
	}
	if u.Duration < 0 || u.Duration > maxBehaviourDuration {
		return u, errorf(http.StatusBadRequest, "durationMs %d is invalid: use 0 (at once) to %d",
			u.Duration.Milliseconds(), maxBehaviourDuration.Milliseconds())
	}
	for i, r := range u.Reads {
		project, name, ok := strings.Cut(r, "/")
		if !ok || validateNames("project name", project, "stack name", name) != nil {
			return u, errorf(http.StatusBadRequest, "reads[%d] %q is invalid: use project/stack", i, r)
		}
	}
	outputs, err := normalizeOutputs(u.Outputs)
	u.Outputs = outputs
	return u, err
}

// StartUpdate starts a person's update of a stack: at once to its end for a Duration of 0, otherwise in
// the background until its timer or FinishUpdate ends it. Another person's update of the stack still
// running is a 409, and so is a deployment of it running for an update that takes time (an
// instantaneous one lands between two steps of the deployment, as FireUpdate always did). A stack it
// reads must exist (404) and be another stack (400).
func (s *store) StartUpdate(org, project, name string, u Update) (UpdateResult, error) {
	u, err := validateUpdate(u)
	if err != nil {
		return UpdateResult{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.stackLocked(org, project, name)
	if err != nil {
		return UpdateResult{}, err
	}
	if st.person != nil {
		return UpdateResult{}, errorf(http.StatusConflict,
			"Stack '%s/%s/%s' has an update in progress (%s): another cannot start until it ends", org, project,
			name, st.person.ID)
	}
	if u.Duration > 0 && st.running >= 0 {
		return UpdateResult{}, errorf(http.StatusConflict,
			"Stack '%s/%s/%s' is being deployed (deployment %s): an update that takes time cannot start until it ends",
			org, project, name, s.deployments[st.running].ID)
	}
	for i, r := range u.Reads {
		upProject, upName, _ := strings.Cut(r, "/")
		up := s.stacks[resourceKey(org, upProject, upName)]
		if up == nil {
			return UpdateResult{}, errorf(http.StatusNotFound, "reads[%d]: Stack '%s/%s/%s' not found", i, org,
				upProject, upName)
		}
		if up == st {
			return UpdateResult{}, errorf(http.StatusBadRequest, "reads[%d]: a stack cannot reference itself", i)
		}
	}
	now := s.now()
	rec := &personUpdate{
		StackUpdate: StackUpdate{ID: s.startUpdateLocked(st, u.Kind, now, u.Duration > 0), Org: st.org,
			Project: st.project, Stack: st.name, Kind: u.Kind, Status: StatusRunning, Started: now},
		st: st, outcome: u.Outcome, outputs: u.Outputs, reads: u.Reads,
	}
	s.updates = append(s.updates, rec)
	c := s.newCascade()
	if u.Duration == 0 {
		c.finishUpdate(rec)
		res := c.run()
		return UpdateResult{Update: rec.StackUpdate, CascadeResult: res}, nil
	}
	st.person = rec
	if !s.closed {
		rec.timer = time.AfterFunc(u.Duration, func() { s.updateTimerFired(rec) })
	}
	return UpdateResult{Update: rec.StackUpdate, CascadeResult: c.run()}, nil
}

// finishUpdate ends a person's update as its outcome says and queues its event. Deployments of the
// stack that waited for it may start now: with synchronous deployments they run to their ends here;
// otherwise the scheduler (timed) or a step (manual) starts them. Callers hold s.mu.
func (c *cascade) finishUpdate(rec *personUpdate) {
	s, st := c.s, rec.st
	now := s.now()
	if rec.timer != nil {
		rec.timer.Stop()
	}
	rec.Finished = now
	if st.person == rec {
		st.person = nil
		endUpdateLocked(st)
	}
	if rec.outcome == OutcomeFailed {
		rec.Status = StatusFailed
		c.queue = append(c.queue, updateEvent(st, rec.Kind, StatusFailed, st.version+1))
	} else {
		s.writeVersionLocked(st, now, rec.outputs)
		rec.Status, rec.Version = StatusSucceeded, st.version
		if rec.reads != nil {
			s.replaceReadsLocked(st, rec.reads)
		}
		c.queue = append(c.queue, updateEvent(st, rec.Kind, StatusSucceeded, st.version))
	}
	if s.mode == DeploymentsSynchronous {
		for st.canStart() {
			i, _ := s.startNextLocked(st, now)
			c.endDeployment(st, i)
		}
	}
}

// updateTimerFired ends a person's update whose time is up, unless something ended it first.
func (s *store) updateTimerFired(rec *personUpdate) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rec.Status != StatusRunning {
		return
	}
	c := s.newCascade()
	c.finishUpdate(rec)
	c.run()
}

// FinishUpdate ends a person's update before its time and runs the cascade its event sets off. An
// unknown update is a 404, one that is not running a 409.
func (s *store) FinishUpdate(id string) (CascadeResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.updates, func(u *personUpdate) bool { return u.ID == id })
	if i < 0 {
		return CascadeResult{}, errorf(http.StatusNotFound, "Update %s not found", id)
	}
	rec := s.updates[i]
	if rec.Status != StatusRunning {
		return CascadeResult{}, errorf(http.StatusConflict, "Update %s is %s, not running", id, rec.Status)
	}
	c := s.newCascade()
	c.finishUpdate(rec)
	return c.run(), nil
}

// Updates returns every person's update, oldest first.
func (s *store) Updates() []StackUpdate {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]StackUpdate, len(s.updates))
	for i, u := range s.updates {
		out[i] = u.StackUpdate
	}
	return out
}

// abandonUpdateLocked fails the person's update running on a stack being deleted; it raises nothing.
// Callers hold s.mu.
func (s *store) abandonUpdateLocked(st *stack) {
	if rec := st.person; rec != nil {
		if rec.timer != nil {
			rec.timer.Stop()
		}
		rec.Status, rec.Finished = StatusFailed, s.now()
		st.person = nil
		endUpdateLocked(st)
	}
}

// stopUpdateTimersLocked stops the clocks of the person's updates running now (Server.Close); they stay
// running until FinishUpdate. Callers hold s.mu.
func (s *store) stopUpdateTimersLocked() {
	for _, st := range s.stacks {
		if st.person != nil && st.person.timer != nil {
			st.person.timer.Stop()
		}
	}
}
