package emulator

import (
	"net/http"
	"time"
)

// environment is a stored ESC environment. It holds no definition: the emulator only needs environments
// as scopes for webhooks and as sources of events. Copies are plain values.
type environment struct {
	org, project, name string
	created            time.Time
	// revision counts the environment's revisions; creating it writes the first.
	revision int
}

func (env *environment) subject() Scope {
	return Scope{Type: ScopeEnvironment, Org: env.org, Project: env.project, Env: env.name}
}

// CreateEnvironment creates an environment, answering 409 when it exists, and tells the organization's
// webhooks.
func (s *store) CreateEnvironment(org, project, name string) (environment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	env, err := s.addEnvironment(org, project, name)
	if err != nil {
		return environment{}, err
	}
	return *env, nil
}

// EnsureEnvironment creates an environment unless it exists.
func (s *store) EnsureEnvironment(org, project, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.envs[resourceKey(org, project, name)] != nil {
		return nil
	}
	_, err := s.addEnvironment(org, project, name)
	return err
}

// addEnvironment creates an environment and runs the cascade of its environment_created event. Callers
// hold s.mu.
func (s *store) addEnvironment(org, project, name string) (*environment, error) {
	if err := validateNames("organization name", org, "project", project, "name", name); err != nil {
		return nil, err
	}
	key := resourceKey(org, project, name)
	if s.envs[key] != nil {
		return nil, errorf(http.StatusConflict, "Environment '%s' already exists", key)
	}
	env := &environment{org: org, project: project, name: name, created: s.now(), revision: 1}
	s.envs[key] = env
	c := s.newCascade()
	c.queue = append(c.queue, environmentEvent("environment_created", "created", env, 0))
	c.run()
	return env, nil
}

// Environment returns a copy of an environment.
func (s *store) Environment(org, project, name string) (environment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	env, err := s.environmentLocked(org, project, name)
	if err != nil {
		return environment{}, err
	}
	return *env, nil
}
