package emulator

import (
	"encoding/json"
	"net/http"
)

// This file is the Go API for tests that hold a *Server: thin wrappers over the store's and the traffic
// log's accessors, the same ones the HTTP handlers use. Everything returned is a copy that callers may
// keep and use from any goroutine.

// CreateStack creates a stack if it does not exist yet.
func (s *Server) CreateStack(org, project, name string) error {
	return s.store.EnsureStack(org, project, name)
}

// SetDeploymentSettings replaces a stack's deployment settings; nil removes them. The settings go through
// JSON, so any JSON-encodable map works and the caller keeps no reference into the store.
func (s *Server) SetDeploymentSettings(org, project, name string, settings map[string]any) error {
	var normalized map[string]any
	if settings != nil {
		data, err := json.Marshal(settings)
		if err != nil {
			return errorf(http.StatusBadRequest, "deployment settings are not JSON: %v", err)
		}
		if err := json.Unmarshal(data, &normalized); err != nil {
			return errorf(http.StatusBadRequest, "deployment settings are not a JSON object: %v", err)
		}
	}
	_, err := s.store.SetDeploymentSettings(org, project, name, normalized)
	return err
}

// CreateEnvironment creates an ESC environment if it does not exist yet.
func (s *Server) CreateEnvironment(org, project, name string) error {
	return s.store.EnsureEnvironment(org, project, name)
}

// Seed creates stacks and environments in one step. It stops at the first invalid name, keeping what it
// created before it.
func (s *Server) Seed(data SeedData) error { return s.store.Seed(data) }

// FireUpdate records a successful update of the stack, as `pulumi up` would, that starts and ends at once
// and leaves its outputs as they were, and runs the cascade of deployments its update_succeeded event
// sets off before returning (with timed deployments, the cascade goes on afterwards). While a person's
// update of the stack runs (StartUpdate) it is a 409 *Error.
func (s *Server) FireUpdate(org, project, name string) (CascadeResult, error) {
	return s.store.FireUpdate(org, project, name, nil)
}

// FireUpdateWithOutputs is FireUpdate for an update that leaves these outputs on the stack (nil: the
// previous version's). A name in both Plain and Secret, or a value JSON cannot encode, is a 400 *Error.
func (s *Server) FireUpdateWithOutputs(org, project, name string, outputs *StackOutputs) (CascadeResult, error) {
	return s.store.FireUpdate(org, project, name, outputs)
}

// StackOutputs returns a stack's outputs at a version, or at its latest for version 0, with secrets
// decrypted: for tests that check what an update left. The HTTP API answers secrets encrypted only.
func (s *Server) StackOutputs(org, project, name string, version int) (StackOutputs, error) {
	return s.store.StackOutputsAt(org, project, name, version)
}

// FireEnvironmentRevision records a new revision of the environment and runs the cascade its
// environment_revision_created event sets off, which is how environment webhooks redeploy stacks.
func (s *Server) FireEnvironmentRevision(org, project, name string) (CascadeResult, error) {
	return s.store.FireEnvironmentRevision(org, project, name)
}

// Webhooks returns every webhook, ordered by scope path and then by creation.
func (s *Server) Webhooks() []Webhook { return s.store.AllWebhooks() }

// Deployments returns every deployment in the order they were started.
func (s *Server) Deployments() []Deployment { return s.store.AllDeployments() }

// DeploymentCount is len(Deployments()) without the copy, for a WaitFor condition that runs at
// every change of a busy emulator.
func (s *Server) DeploymentCount() int { return s.store.DeploymentCount() }

// Deliveries returns every delivery in the order they were made.
func (s *Server) Deliveries() []Delivery { return s.store.AllDeliveries() }

// Stats returns a copy of the request counters.
func (s *Server) Stats() Stats { return s.traffic.Stats() }

// ResetStats zeroes the request counters. The request log is kept.
func (s *Server) ResetStats() { s.traffic.ResetStats() }

// Requests returns the last (up to 10,000) /api requests, oldest first.
func (s *Server) Requests() []RequestRecord { return s.traffic.Requests() }

// SetFaults replaces the fault configuration and restarts every rule's counters.
func (s *Server) SetFaults(f Faults) { s.traffic.SetFaults(f) }

// CurrentFaults returns the fault configuration in force.
func (s *Server) CurrentFaults() Faults { return s.traffic.Faults() }

// SetDeploymentMode switches how deployments run: DeploymentsSynchronous (the default), DeploymentsManual
// or DeploymentsTimed with m.Duration as the default duration. Leaving manual or timed for synchronous
// first runs what runs or waits, and returns that run. An unknown mode or a duration outside 0 to 1h is
// a 400 *Error.
func (s *Server) SetDeploymentMode(m DeploymentMode) (CascadeResult, error) {
	return s.store.SetDeploymentMode(m)
}

// DeploymentMode returns how deployments run.
func (s *Server) DeploymentMode() DeploymentMode { return s.store.Mode() }

// SetDeploymentBehaviour sets how a stack's deployments run and end: their duration when timed, their
// outcome, failures to come, and the outputs a successful update leaves. It applies to deployments that
// end from now on. A missing stack is a 404 *Error, an invalid behaviour a 400 one.
func (s *Server) SetDeploymentBehaviour(org, project, stack string, b DeploymentBehaviour) error {
	return s.store.SetDeploymentBehaviour(org, project, stack, b)
}

// DeploymentBehaviour returns how a stack's deployments run and end.
func (s *Server) DeploymentBehaviour(org, project, stack string) (DeploymentBehaviour, error) {
	return s.store.DeploymentBehaviourOf(org, project, stack)
}

// StackDeployments returns one stack's deployments, oldest first, with when each was created, started
// and ended (and the StartOrder and EndOrder that order those moments exactly).
func (s *Server) StackDeployments(org, project, stack string) ([]Deployment, error) {
	return s.store.StackDeployments(org, project, stack)
}

// CancelDeployment cancels a deployment of a stack as POST …/deployments/{id}/cancel does, and returns
// the cascade of the events a running one raises as it fails. A 404 *Error for an unknown deployment, 409
// for one that has already ended.
func (s *Server) CancelDeployment(org, project, stack, id string) (CascadeResult, error) {
	return s.store.CancelDeployment(org, project, stack, id)
}
