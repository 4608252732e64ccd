package emulator

import (
	"encoding/json"
	"maps"
	"net/http"
	"time"
)

type stack struct {
	id       string
	org      string
	project  string
	name     string
	version  int
	tags     map[string]string
	settings map[string]any // nil: no deployment settings
	// deployments counts the stack's deployments, which are numbered per stack.
	deployments int
	created     time.Time
	// lastUpdate is when the stack last changed: FireUpdate, or a deployment whose operation changes it.
	// Zero until then.
	lastUpdate time.Time
}

type environment struct {
	org, project, name string
	created            time.Time
}

// resourceKey keys stacks and environments, which are both named org/project/name.
func resourceKey(org, project, name string) string { return org + "/" + project + "/" + name }

type stackWire struct {
	ID           string            `json:"id"`
	OrgName      string            `json:"orgName"`
	ProjectName  string            `json:"projectName"`
	StackName    string            `json:"stackName"`
	Version      int               `json:"version"`
	ActiveUpdate string            `json:"activeUpdate"`
	Tags         map[string]string `json:"tags"`
}

func (st *stack) wire() stackWire {
	tags := maps.Clone(st.tags)
	if tags == nil {
		tags = map[string]string{}
	}
	return stackWire{
		ID: st.id, OrgName: st.org, ProjectName: st.project, StackName: st.name, Version: st.version, Tags: tags,
	}
}

func (st *stack) subject() Scope {
	return Scope{Type: ScopeStack, Org: st.org, Project: st.project, Stack: st.name}
}

type environmentWire struct {
	Organization string    `json:"organization"`
	Project      string    `json:"project"`
	Name         string    `json:"name"`
	Created      time.Time `json:"created"`
}

func (s *Server) registerStackRoutes() {
	const one = "/api/stacks/{org}/{project}/{stack}"
	s.handle(s.api, "POST /api/stacks/{org}/{project}", s.createStackHandler)
	s.handle(s.api, "GET "+one, s.onStack(s.getStack))
	s.handle(s.api, "DELETE "+one, s.onStack(s.deleteStack))
	s.handle(s.api, "GET "+one+"/deployments/settings", s.onStack(s.getSettings))
	s.handle(s.api, "PUT "+one+"/deployments/settings", s.putSettings)
	s.handle(s.api, "POST "+one+"/deployments/settings", s.mergeSettings)
	s.handle(s.api, "DELETE "+one+"/deployments/settings", s.onStack(s.deleteSettings))
	s.handle(s.api, "POST /api/esc/environments/{org}", s.createEnvironmentHandler)
	s.handle(s.api, "GET /api/esc/environments/{org}/{project}/{env}", s.getEnvironment)
}

// stackLocked finds the stack named by the request's path. Callers hold s.mu.
func (s *Server) stackLocked(org, project, name string) (*stack, error) {
	st := s.stacks[resourceKey(org, project, name)]
	if st == nil {
		return nil, errorf(http.StatusNotFound, "Stack '%s/%s/%s' not found", org, project, name)
	}
	return st, nil
}

func (s *Server) pathStackLocked(r *http.Request) (*stack, error) {
	return s.stackLocked(r.PathValue("org"), r.PathValue("project"), r.PathValue("stack"))
}

// onStack runs f under s.mu on the stack in the URL, answering 404 when there is none. Handlers with a
// body decode it first instead, so that a slow client never holds the lock.
func (s *Server) onStack(f func(st *stack) (int, any, error)) handlerFunc {
	return func(r *http.Request) (int, any, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		st, err := s.pathStackLocked(r)
		if err != nil {
			return 0, nil, err
		}
		return f(st)
	}
}

func validateNames(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if err := validateIdent(pairs[i], pairs[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// addStackLocked creates a stack and tells the organization's webhooks about it.
func (s *Server) addStackLocked(org, project, name string, tags map[string]string) (*stack, error) {
	if err := validateNames("organization name", org, "project name", project, "stack name", name); err != nil {
		return nil, err
	}
	key := resourceKey(org, project, name)
	if s.stacks[key] != nil {
		return nil, errorf(http.StatusConflict, "Stack '%s' already exists", key)
	}
	st := &stack{id: s.newID(), org: org, project: project, name: name, tags: maps.Clone(tags), created: s.now()}
	s.stacks[key] = st
	c := s.newCascade()
	c.queue = append(c.queue, s.stackEvent("stack_created", st))
	c.run()
	return st, nil
}

func (s *Server) createStackHandler(r *http.Request) (int, any, error) {
	var req struct {
		StackName string            `json:"stackName"`
		Tags      map[string]string `json:"tags"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return 0, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.addStackLocked(r.PathValue("org"), r.PathValue("project"), req.StackName, req.Tags)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, st.wire(), nil
}

func (s *Server) getStack(st *stack) (int, any, error) {
	return http.StatusOK, st.wire(), nil
}

// deleteStack ignores force and forceDestroy: the emulator tracks no resources, so no stack is ever
// refused for still holding some.
func (s *Server) deleteStack(st *stack) (int, any, error) {
	delete(s.stacks, resourceKey(st.org, st.project, st.name))
	delete(s.hooks, st.subject().Path())
	c := s.newCascade()
	c.queue = append(c.queue, s.stackEvent("stack_deleted", st))
	c.run()
	return http.StatusNoContent, nil, nil
}

func (s *Server) getSettings(st *stack) (int, any, error) {
	if st.settings == nil {
		return 0, nil, errorf(http.StatusNotFound, "Stack '%s/%s/%s' has no deployment settings", st.org, st.project, st.name)
	}
	return http.StatusOK, copyJSON(st.settings), nil
}

func (s *Server) putSettings(r *http.Request) (int, any, error) {
	return s.writeSettings(r, func(_, body map[string]any) map[string]any { return body })
}

func (s *Server) mergeSettings(r *http.Request) (int, any, error) {
	return s.writeSettings(r, func(old, body map[string]any) map[string]any { return mergePatch(old, body) })
}

func (s *Server) writeSettings(r *http.Request, combine func(old, body map[string]any) map[string]any) (int, any, error) {
	var body map[string]any
	if err := decodeJSON(r, &body); err != nil {
		return 0, nil, err
	}
	if body == nil {
		return 0, nil, errorf(http.StatusBadRequest, "deployment settings must be a JSON object")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.pathStackLocked(r)
	if err != nil {
		return 0, nil, err
	}
	st.settings = combine(st.settings, body)
	return http.StatusOK, copyJSON(st.settings), nil
}

// deleteSettings answers true even when there were none, so a retried delete does not fail.
func (s *Server) deleteSettings(st *stack) (int, any, error) {
	st.settings = nil
	return http.StatusOK, true, nil
}

func (s *Server) createEnvironmentHandler(r *http.Request) (int, any, error) {
	var req struct {
		Project string `json:"project"`
		Name    string `json:"name"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return 0, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	env, err := s.addEnvironmentLocked(r.PathValue("org"), req.Project, req.Name)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, env.wire(), nil
}

func (s *Server) addEnvironmentLocked(org, project, name string) (*environment, error) {
	if err := validateNames("organization name", org, "project", project, "name", name); err != nil {
		return nil, err
	}
	key := resourceKey(org, project, name)
	if s.envs[key] != nil {
		return nil, errorf(http.StatusConflict, "Environment '%s' already exists", key)
	}
	env := &environment{org: org, project: project, name: name, created: s.now()}
	s.envs[key] = env
	c := s.newCascade()
	c.queue = append(c.queue, s.envEvent("environment_created", env))
	c.run()
	return env, nil
}

func (env *environment) wire() environmentWire {
	return environmentWire{Organization: env.org, Project: env.project, Name: env.name, Created: env.created}
}

func (env *environment) subject() Scope {
	return Scope{Type: ScopeEnvironment, Org: env.org, Project: env.project, Env: env.name}
}

func (s *Server) getEnvironment(r *http.Request) (int, any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	org, project, name := r.PathValue("org"), r.PathValue("project"), r.PathValue("env")
	env := s.envs[resourceKey(org, project, name)]
	if env == nil {
		return 0, nil, errorf(http.StatusNotFound, "Environment '%s/%s/%s' not found", org, project, name)
	}
	return http.StatusOK, env.wire(), nil
}

// mergePatch applies an RFC 7396 merge patch: null removes a key, objects merge recursively, anything
// else replaces.
func mergePatch(old, patch map[string]any) map[string]any {
	out := copyJSON(old)
	if out == nil {
		out = map[string]any{}
	}
	for k, v := range patch {
		switch v := v.(type) {
		case nil:
			delete(out, k)
		case map[string]any:
			prev, _ := out[k].(map[string]any)
			out[k] = mergePatch(prev, v)
		default:
			out[k] = copyJSONValue(v)
		}
	}
	return out
}

func copyJSON(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	return copyJSONValue(m).(map[string]any)
}

// copyJSONValue deep-copies a value decoded from JSON, so no caller can reach into the store.
func copyJSONValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = copyJSONValue(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = copyJSONValue(x)
		}
		return out
	default:
		return v
	}
}

// CreateStack creates a stack if it does not exist yet.
func (s *Server) CreateStack(org, project, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stacks[resourceKey(org, project, name)] != nil {
		return nil
	}
	_, err := s.addStackLocked(org, project, name, nil)
	return err
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
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.stackLocked(org, project, name)
	if err != nil {
		return err
	}
	st.settings = normalized
	return nil
}

// CreateEnvironment creates an ESC environment if it does not exist yet.
func (s *Server) CreateEnvironment(org, project, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.envs[resourceKey(org, project, name)] != nil {
		return nil
	}
	_, err := s.addEnvironmentLocked(org, project, name)
	return err
}

// defaultSettings are plausible deployment settings for stacks the seed and the CLI create, enough for
// pulumi_deployments webhooks to target them.
func defaultSettings(project string) map[string]any {
	return map[string]any{
		"sourceContext": map[string]any{
			"git": map[string]any{"repoUrl": "https://example.invalid/" + project + ".git", "branch": "refs/heads/main"},
		},
		"operationContext": map[string]any{"environmentVariables": map[string]any{}},
	}
}
