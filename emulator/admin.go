package emulator

import (
	"net/http"
)

// SeedStack is one stack for Seed to create.
type SeedStack struct {
	Org     string `json:"org"`
	Project string `json:"project"`
	Stack   string `json:"stack"`
	// DeploymentSettings gives the stack default deployment settings, so pulumi_deployments webhooks can
	// target it.
	DeploymentSettings bool `json:"deploymentSettings"`
	// Tags are the stack's tags (name → value) when Seed creates it; an existing stack keeps its own.
	Tags map[string]string `json:"tags,omitempty"`
}

// SeedEnvironment is one environment for Seed to create.
type SeedEnvironment struct {
	Org     string `json:"org"`
	Project string `json:"project"`
	Env     string `json:"env"`
}

// SeedData is what Seed creates. Existing stacks and environments are kept as they are, except that a
// stack asked to have deployment settings gets the defaults when it has none.
type SeedData struct {
	Stacks       []SeedStack       `json:"stacks"`
	Environments []SeedEnvironment `json:"environments"`
}

// Seed creates stacks and environments in one step. It stops at the first invalid name, keeping what it
// created before it.
func (s *Server) Seed(data SeedData) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, in := range data.Stacks {
		st := s.stacks[resourceKey(in.Org, in.Project, in.Stack)]
		if st == nil {
			var err error
			if st, err = s.addStackLocked(in.Org, in.Project, in.Stack, in.Tags); err != nil {
				return err
			}
		}
		if in.DeploymentSettings && st.settings == nil {
			st.settings = defaultSettings(in.Project)
		}
	}
	for _, in := range data.Environments {
		if s.envs[resourceKey(in.Org, in.Project, in.Env)] == nil {
			if _, err := s.addEnvironmentLocked(in.Org, in.Project, in.Env); err != nil {
				return err
			}
		}
	}
	return nil
}

// registerAdminRoutes serves the local control API. It takes no token: it is meant for the developer's
// own machine and test harnesses, never for an emulator exposed to a network.
func (s *Server) registerAdminRoutes() {
	const p = "/_emulator"
	s.handle(s.admin, "GET "+p+"/healthz", func(*http.Request) (int, any, error) {
		return http.StatusOK, map[string]string{"status": "ok"}, nil
	})
	s.handle(s.admin, "POST "+p+"/stacks/{org}/{project}/{stack}/update", func(r *http.Request) (int, any, error) {
		res, err := s.FireUpdate(r.PathValue("org"), r.PathValue("project"), r.PathValue("stack"))
		return http.StatusOK, res, err
	})
	s.handle(s.admin, "POST "+p+"/environments/{org}/{project}/{env}/revision", func(r *http.Request) (int, any, error) {
		res, err := s.FireEnvironmentRevision(r.PathValue("org"), r.PathValue("project"), r.PathValue("env"))
		return http.StatusOK, res, err
	})
	s.handle(s.admin, "GET "+p+"/webhooks", func(*http.Request) (int, any, error) {
		return http.StatusOK, s.Webhooks(), nil
	})
	s.handle(s.admin, "GET "+p+"/deployments", func(*http.Request) (int, any, error) {
		return http.StatusOK, nonNil(s.Deployments()), nil
	})
	s.handle(s.admin, "GET "+p+"/deliveries", func(*http.Request) (int, any, error) {
		return http.StatusOK, s.Deliveries(), nil
	})
	s.handle(s.admin, "GET "+p+"/stats", func(*http.Request) (int, any, error) {
		return http.StatusOK, s.Stats(), nil
	})
	s.handle(s.admin, "POST "+p+"/stats/reset", func(*http.Request) (int, any, error) {
		s.ResetStats()
		return http.StatusNoContent, nil, nil
	})
	s.handle(s.admin, "GET "+p+"/requests", func(*http.Request) (int, any, error) {
		return http.StatusOK, s.Requests(), nil
	})
	s.handle(s.admin, "GET "+p+"/faults", func(*http.Request) (int, any, error) {
		return http.StatusOK, toFaultsWire(s.CurrentFaults()), nil
	})
	s.handle(s.admin, "PUT "+p+"/faults", func(r *http.Request) (int, any, error) {
		var fw faultsWire
		if err := decodeJSON(r, &fw); err != nil {
			return 0, nil, err
		}
		f := fw.faults()
		if err := validateFaults(f); err != nil {
			return 0, nil, err
		}
		s.SetFaults(f)
		return http.StatusOK, toFaultsWire(f), nil
	})
	s.handle(s.admin, "DELETE "+p+"/faults", func(*http.Request) (int, any, error) {
		s.SetFaults(Faults{})
		return http.StatusNoContent, nil, nil
	})
	s.handle(s.admin, "POST "+p+"/seed", func(r *http.Request) (int, any, error) {
		var data SeedData
		if err := decodeJSON(r, &data); err != nil {
			return 0, nil, err
		}
		if err := s.Seed(data); err != nil {
			return 0, nil, err
		}
		return http.StatusOK, map[string]int{"stacks": len(data.Stacks), "environments": len(data.Environments)}, nil
	})
}

func nonNil[T any](xs []T) []T {
	if xs == nil {
		return []T{}
	}
	return xs
}
