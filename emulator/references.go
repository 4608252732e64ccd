package emulator

import (
	"net/http"
	"strings"
)

// referencesWire is the body of GET .../downstreamreferences and .../upstreamreferences.
type referencesWire struct {
	ReferencedStacks []StackReference `json:"referencedStacks"`
}

// registerReferenceRoutes serves the two stack-reference lists, and the admin routes that record what a
// stack's program reads: the emulator runs no programs, so tests say it instead.
func (s *Server) registerReferenceRoutes() {
	const base = "/api/stacks/{org}/{project}/{stack}"
	s.handle(s.api, "GET "+base+"/downstreamreferences", func(r *http.Request) (int, any, error) {
		refs, err := s.store.DownstreamReferences(stackPath(r))
		return http.StatusOK, referencesWire{ReferencedStacks: refs}, err
	})
	s.handle(s.api, "GET "+base+"/upstreamreferences", func(r *http.Request) (int, any, error) {
		refs, err := s.store.UpstreamReferences(stackPath(r))
		return http.StatusOK, referencesWire{ReferencedStacks: refs}, err
	})

	const admin = "/_emulator/stacks/{org}/{project}/{stack}/references"
	s.handle(s.admin, "POST "+admin, s.addReferenceAdmin)
	s.handle(s.admin, "DELETE "+admin+"/{upProject}/{upStack}", func(r *http.Request) (int, any, error) {
		org, project, name := stackPath(r)
		err := s.store.RemoveStackReference(org, project, name, r.PathValue("upProject"), r.PathValue("upStack"))
		return http.StatusNoContent, nil, err
	})
}

// addReferenceAdmin takes {"upstream": "project/stack"}: the stack of the same organization whose
// outputs this stack's program reads.
func (s *Server) addReferenceAdmin(r *http.Request) (int, any, error) {
	var req struct {
		Upstream string `json:"upstream"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return 0, nil, err
	}
	upProject, upStack, ok := strings.Cut(req.Upstream, "/")
	if !ok || upProject == "" || upStack == "" || strings.Contains(upStack, "/") {
		return 0, nil, errorf(http.StatusBadRequest, `upstream must be "project/stack", got %q`, req.Upstream)
	}
	org, project, name := stackPath(r)
	if err := s.store.AddStackReference(org, project, name, upProject, upStack); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

// AddStackReference records that the program of org/project/stack reads the outputs of
// upstreamProject/upstreamStack in the same organization, as a StackReference would, so that the
// upstream's downstreamreferences and the reader's upstreamreferences list each other. Both stacks must
// exist. The versions listed are those the two stacks have now; recording the reference again
// refreshes them. It stands for an update of the reader's program: its lastUpdate becomes now.
func (s *Server) AddStackReference(org, project, stack, upstreamProject, upstreamStack string) error {
	return s.store.AddStackReference(org, project, stack, upstreamProject, upstreamStack)
}

// RemoveStackReference forgets a reference AddStackReference recorded; a reference never recorded is a
// 404 *Error.
func (s *Server) RemoveStackReference(org, project, stack, upstreamProject, upstreamStack string) error {
	return s.store.RemoveStackReference(org, project, stack, upstreamProject, upstreamStack)
}
