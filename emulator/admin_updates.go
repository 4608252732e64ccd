package emulator

import (
	"net/http"
)

// updateRequestWire is the body of POST /_emulator/stacks/{org}/{project}/{stack}/update: a person's update
// (store_updates.go). Every field is optional. Without outputs and secretOutputs the update leaves the
// outputs as they were; with either, the two together are the new set. reads absent keeps the stack's
// references; present, even empty, replaces them when the update succeeds.
type updateRequestWire struct {
	Outputs       map[string]any `json:"outputs"`
	SecretOutputs map[string]any `json:"secretOutputs"`
	DurationMs    int64          `json:"durationMs"`
	Kind          string         `json:"kind"`
	Outcome       string         `json:"outcome"`
	Reads         []string       `json:"reads"`
}

// registerUpdateRoutes serves the admin routes of a person's updates: start one (it answers at once,
// with the cascade of its end when it takes no time), end one before its time, list them.
func (s *Server) registerUpdateRoutes() {
	s.handle(s.admin, "POST /_emulator/stacks/{org}/{project}/{stack}/update", func(r *http.Request) (int, any, error) {
		var req updateRequestWire
		if err := decodeJSON(r, &req); err != nil {
			return 0, nil, err
		}
		d, err := durationFromMs("durationMs", req.DurationMs)
		if err != nil {
			return 0, nil, err
		}
		u := Update{Kind: req.Kind, Outcome: req.Outcome, Duration: d, Reads: req.Reads}
		if req.Outputs != nil || req.SecretOutputs != nil {
			u.Outputs = &StackOutputs{Plain: req.Outputs, Secret: req.SecretOutputs}
		}
		org, project, name := stackPath(r)
		res, err := s.store.StartUpdate(org, project, name, u)
		return http.StatusOK, res, err
	})
	s.handle(s.admin, "POST /_emulator/updates/{id}/finish", func(r *http.Request) (int, any, error) {
		res, err := s.store.FinishUpdate(r.PathValue("id"))
		return http.StatusOK, res, err
	})
	s.handle(s.admin, "GET /_emulator/updates", func(*http.Request) (int, any, error) {
		return http.StatusOK, s.store.Updates(), nil
	})
}

// StartUpdate runs a person's update of a stack (pulumi up or pulumi refresh from a laptop). With a
// Duration of 0 it starts and ends at once and the result holds the cascade its end set off; otherwise
// it runs on its own until its timer or FinishUpdate ends it, the stack shows it as its current
// operation, and the stack's deployments wait for it. A 409 *Error when another update of the stack
// runs, 404 for a missing stack or a missing stack it reads, 400 for an invalid Update.
func (s *Server) StartUpdate(org, project, stack string, u Update) (UpdateResult, error) {
	return s.store.StartUpdate(org, project, stack, u)
}

// FinishUpdate ends a running person's update now, as its Outcome says, and returns the cascade its
// event set off. A 404 *Error for an unknown update, 409 for one that is not running.
func (s *Server) FinishUpdate(id string) (CascadeResult, error) { return s.store.FinishUpdate(id) }

// Updates returns every person's update, oldest first, with its status: wait for one to end with
// WaitFor.
func (s *Server) Updates() []StackUpdate { return s.store.Updates() }
