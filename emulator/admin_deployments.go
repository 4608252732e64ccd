package emulator

import (
	"net/http"
	"time"
)

// registerManualDeploymentRoutes serves the admin routes that hold deployments and run them step by step
// (see "Manual deployments" in store_deployments.go).
func (s *Server) registerManualDeploymentRoutes() {
	const p = "/_emulator/deployments"
	s.handle(s.admin, "GET "+p+"/manual", func(*http.Request) (int, any, error) {
		return http.StatusOK, map[string]bool{"manual": s.store.ManualDeployments()}, nil
	})
	s.handle(s.admin, "PUT "+p+"/manual", func(r *http.Request) (int, any, error) {
		var req struct {
			Manual *bool `json:"manual"`
		}
		if err := decodeJSON(r, &req); err != nil {
			return 0, nil, err
		}
		if req.Manual == nil {
			return 0, nil, errorf(http.StatusBadRequest, `the body must be {"manual": true} or {"manual": false}`)
		}
		res := s.store.SetManualDeployments(*req.Manual)
		return http.StatusOK, map[string]any{"manual": *req.Manual, "ran": res}, nil
	})
	s.handle(s.admin, "POST "+p+"/start", func(*http.Request) (int, any, error) {
		started, skipped := s.store.StartDeployments()
		return http.StatusOK, map[string]any{"started": started, "skipped": skipped}, nil
	})
	s.handle(s.admin, "POST "+p+"/step", func(*http.Request) (int, any, error) {
		return http.StatusOK, s.store.StepDeployments(), nil
	})
	s.handle(s.admin, "POST "+p+"/run", func(*http.Request) (int, any, error) {
		return http.StatusOK, s.store.RunDeployments(), nil
	})
	s.handle(s.admin, "POST "+p+"/{id}/finish", func(r *http.Request) (int, any, error) {
		res, err := s.store.FinishDeployment(r.PathValue("id"))
		return http.StatusOK, res, err
	})
}

// SetManualDeployments turns manual deployments on or off. Off (the default), a deployment succeeds the
// moment it is created, inside the cascade that created it. On, it waits not-started in its stack's
// queue until StartDeployments or StepDeployments starts it, and runs until FinishDeployment or
// StepDeployments ends it, so a test can watch a stack's deployments queue and collapse. Turning it off
// runs whatever waits first, and returns that run.
func (s *Server) SetManualDeployments(on bool) CascadeResult { return s.store.SetManualDeployments(on) }

// StartDeployments starts the oldest waiting deployment of every stack with nothing running, after
// collapsing the queues of stacks that skip intermediate deployments. It returns what it started and
// what it skipped.
func (s *Server) StartDeployments() (started, skipped []Deployment) {
	return s.store.StartDeployments()
}

// FinishDeployment ends a running deployment with success and runs the cascade of its events; the
// deployments that cascade starts wait. An unknown deployment is a 404 *Error, one not running a 409.
func (s *Server) FinishDeployment(id string) (CascadeResult, error) {
	return s.store.FinishDeployment(id)
}

// StepDeployments finishes every running deployment, then starts the waiting ones StartDeployments would.
func (s *Server) StepDeployments() DeploymentStep { return s.store.StepDeployments() }

// RunDeployments steps until nothing runs or waits, and returns the deployments that finished, in order.
func (s *Server) RunDeployments() CascadeResult { return s.store.RunDeployments() }

// modeWire is the body of GET and PUT /_emulator/deployments/mode. A PUT sets every field: an absent
// concurrency is 0, no cap.
type modeWire struct {
	Mode        string `json:"mode"`
	DurationMs  int64  `json:"durationMs"`
	Concurrency int    `json:"concurrency"`
}

func toModeWire(m DeploymentMode) modeWire {
	return modeWire{Mode: m.Mode, DurationMs: m.Duration.Milliseconds(), Concurrency: m.Concurrency}
}

// behaviourWire is the body of GET and PUT …/deployment-behaviour. Absent outputs and secretOutputs
// (or both null) leave a stack's outputs as they were; either one present gives the whole new set.
type behaviourWire struct {
	DurationMs    int64          `json:"durationMs"`
	Outcome       string         `json:"outcome"`
	FailTimes     int            `json:"failTimes"`
	Outputs       map[string]any `json:"outputs,omitempty"`
	SecretOutputs map[string]any `json:"secretOutputs,omitempty"`
	Hang          bool           `json:"hang"`
}

func (b behaviourWire) behaviour() (DeploymentBehaviour, error) {
	d, err := durationFromMs("durationMs", b.DurationMs)
	if err != nil {
		return DeploymentBehaviour{}, err
	}
	out := DeploymentBehaviour{Duration: d, Outcome: b.Outcome, FailTimes: b.FailTimes, Hang: b.Hang}
	if b.Outputs != nil || b.SecretOutputs != nil {
		out.Outputs = &StackOutputs{Plain: b.Outputs, Secret: b.SecretOutputs}
	}
	return out, nil
}

// durationFromMs reads a field of milliseconds, refusing what is out of range before it can overflow.
func durationFromMs(field string, ms int64) (time.Duration, error) {
	if ms < 0 || ms > maxBehaviourDuration.Milliseconds() {
		return 0, errorf(http.StatusBadRequest, "%s %d is invalid: use 0 to %d", field, ms, maxBehaviourDuration.Milliseconds())
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// toBehaviourWire shows a behaviour; secret outputs are shown by name only, with "[secret]" for a value,
// since the admin API never answers a secret in plain text.
func toBehaviourWire(b DeploymentBehaviour) behaviourWire {
	w := behaviourWire{DurationMs: b.Duration.Milliseconds(), Outcome: b.Outcome, FailTimes: b.FailTimes, Hang: b.Hang}
	if w.Outcome == "" {
		w.Outcome = OutcomeSucceeded
	}
	if b.Outputs != nil {
		w.Outputs = nonNilMap(b.Outputs.Plain)
		w.SecretOutputs = map[string]any{}
		for name := range b.Outputs.Secret {
			w.SecretOutputs[name] = "[secret]"
		}
	}
	return w
}

func nonNilMap(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

// registerTimedDeploymentRoutes serves the admin routes that switch the deployment mode and set how a
// stack's deployments run and end (store_timed.go, store_lifecycle.go), and list a stack's deployments.
func (s *Server) registerTimedDeploymentRoutes() {
	s.handle(s.admin, "GET /_emulator/deployments/mode", func(*http.Request) (int, any, error) {
		return http.StatusOK, toModeWire(s.DeploymentMode()), nil
	})
	s.handle(s.admin, "PUT /_emulator/deployments/mode", func(r *http.Request) (int, any, error) {
		var req modeWire
		if err := decodeJSON(r, &req); err != nil {
			return 0, nil, err
		}
		d, err := durationFromMs("durationMs", req.DurationMs)
		if err != nil {
			return 0, nil, err
		}
		res, err := s.SetDeploymentMode(DeploymentMode{Mode: req.Mode, Duration: d, Concurrency: req.Concurrency})
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, map[string]any{"mode": req.Mode, "durationMs": req.DurationMs,
			"concurrency": req.Concurrency, "ran": res}, nil
	})
	const stack = "/_emulator/stacks/{org}/{project}/{stack}"
	s.handle(s.admin, "GET "+stack+"/deployment-behaviour", func(r *http.Request) (int, any, error) {
		b, err := s.store.DeploymentBehaviourOf(stackPath(r))
		return http.StatusOK, toBehaviourWire(b), err
	})
	s.handle(s.admin, "PUT "+stack+"/deployment-behaviour", func(r *http.Request) (int, any, error) {
		var req behaviourWire
		if err := decodeJSON(r, &req); err != nil {
			return 0, nil, err
		}
		b, err := req.behaviour()
		if err != nil {
			return 0, nil, err
		}
		org, project, name := stackPath(r)
		if err := s.store.SetDeploymentBehaviour(org, project, name, b); err != nil {
			return 0, nil, err
		}
		b, err = s.store.DeploymentBehaviourOf(org, project, name)
		return http.StatusOK, toBehaviourWire(b), err
	})
	s.handle(s.admin, "DELETE "+stack+"/deployment-behaviour", func(r *http.Request) (int, any, error) {
		org, project, name := stackPath(r)
		if err := s.store.SetDeploymentBehaviour(org, project, name, DeploymentBehaviour{}); err != nil {
			return 0, nil, err
		}
		return http.StatusNoContent, nil, nil
	})
	s.handle(s.admin, "GET "+stack+"/deployments", func(r *http.Request) (int, any, error) {
		ds, err := s.store.StackDeployments(stackPath(r))
		return http.StatusOK, nonNil(ds), err
	})
}
