package emulator

import (
	"maps"
	"net/http"
)

// stackWire is a stack as GET /api/stacks/{org}/{project}/{stack} returns it. activeUpdate is the id of
// the latest update, finished or not ("" before the first); currentOperation is the update running now,
// null when none.
type stackWire struct {
	ID               string            `json:"id"`
	OrgName          string            `json:"orgName"`
	ProjectName      string            `json:"projectName"`
	StackName        string            `json:"stackName"`
	Version          int               `json:"version"`
	ActiveUpdate     string            `json:"activeUpdate"`
	CurrentOperation *operationWire    `json:"currentOperation"`
	Tags             map[string]string `json:"tags"`
}

// operationWire is AppOperationStatus: started is Unix seconds.
type operationWire struct {
	Kind    string `json:"kind"`
	Author  string `json:"author"`
	Started int64  `json:"started"`
}

func stackWireOf(st stack) stackWire {
	tags := maps.Clone(st.tags)
	if tags == nil {
		tags = map[string]string{}
	}
	w := stackWire{
		ID: st.id, OrgName: st.org, ProjectName: st.project, StackName: st.name, Version: st.version,
		ActiveUpdate: st.activeUpdate, Tags: tags,
	}
	if op := st.operation; op != nil {
		w.CurrentOperation = &operationWire{Kind: op.Kind, Author: op.Author, Started: op.Started.Unix()}
	}
	return w
}

// stackPath is the org/project/stack of the request's path.
func stackPath(r *http.Request) (org, project, name string) {
	return r.PathValue("org"), r.PathValue("project"), r.PathValue("stack")
}

func (s *Server) registerStackRoutes() {
	s.handle(s.api, "POST /api/stacks/{org}/{project}", s.createStack)
	s.handle(s.api, "GET /api/stacks/{org}/{project}/{stack}", s.getStack)
	s.handle(s.api, "DELETE /api/stacks/{org}/{project}/{stack}", s.deleteStack)
	const tags = "/api/stacks/{org}/{project}/{stack}/tags"
	s.handle(s.api, "POST "+tags, s.addStackTag)
	s.handle(s.api, "PATCH "+tags, s.replaceStackTags)
	s.handle(s.api, "PATCH "+tags+"/{name}", s.updateStackTag)
	s.handle(s.api, "DELETE "+tags+"/{name}", s.deleteStackTag)
	s.registerReferenceRoutes()
}

func (s *Server) createStack(r *http.Request) (int, any, error) {
	var req struct {
		StackName string            `json:"stackName"`
		Tags      map[string]string `json:"tags"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return 0, nil, err
	}
	st, err := s.store.CreateStack(r.PathValue("org"), r.PathValue("project"), req.StackName, req.Tags)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, stackWireOf(st), nil
}

func (s *Server) getStack(r *http.Request) (int, any, error) {
	st, err := s.store.Stack(stackPath(r))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, stackWireOf(st), nil
}

// deleteStack ignores force and forceDestroy: the emulator tracks no resources, so no stack is ever
// refused for still holding some.
func (s *Server) deleteStack(r *http.Request) (int, any, error) {
	if err := s.store.DeleteStack(stackPath(r)); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

// tagWire is the body of POST .../tags and PATCH .../tags/{name}.
type tagWire struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

func (s *Server) addStackTag(r *http.Request) (int, any, error) {
	var req tagWire
	if err := decodeJSON(r, &req); err != nil {
		return 0, nil, err
	}
	org, project, name := stackPath(r)
	if err := s.store.AddStackTag(org, project, name, req.Name, req.Value); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

func (s *Server) replaceStackTags(r *http.Request) (int, any, error) {
	var req map[string]string
	if err := decodeJSON(r, &req); err != nil {
		return 0, nil, err
	}
	org, project, name := stackPath(r)
	if err := s.store.ReplaceStackTags(org, project, name, req); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

// updateStackTag renames or changes one tag. An absent or empty name in the body keeps the tag's name.
func (s *Server) updateStackTag(r *http.Request) (int, any, error) {
	var req tagWire
	if err := decodeJSON(r, &req); err != nil {
		return 0, nil, err
	}
	org, project, name := stackPath(r)
	if err := s.store.UpdateStackTag(org, project, name, r.PathValue("name"), req.Name, req.Value); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

func (s *Server) deleteStackTag(r *http.Request) (int, any, error) {
	org, project, name := stackPath(r)
	if err := s.store.DeleteStackTag(org, project, name, r.PathValue("name")); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}
