package emulator

import (
	"fmt"
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
