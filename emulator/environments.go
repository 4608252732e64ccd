package emulator

import (
	"net/http"
	"time"
)

// environmentWire is an environment as the API returns it: no definition, only its name and age.
type environmentWire struct {
	Organization string    `json:"organization"`
	Project      string    `json:"project"`
	Name         string    `json:"name"`
	Created      time.Time `json:"created"`
}

func environmentWireOf(env environment) environmentWire {
	return environmentWire{Organization: env.org, Project: env.project, Name: env.name, Created: env.created}
}

func (s *Server) registerEnvironmentRoutes() {
	s.handle(s.api, "POST /api/esc/environments/{org}", s.createEnvironment)
	s.api.HandleFunc("GET /api/esc/environments/{org}/{project}/{env}", s.getEnvironment)
}

// emptyDefinition is the definition of every emulated environment: the emulator keeps no values.
const emptyDefinition = "values: {}\n"

func (s *Server) createEnvironment(r *http.Request) (int, any, error) {
	var req struct {
		Project string `json:"project"`
		Name    string `json:"name"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return 0, nil, err
	}
	env, err := s.store.CreateEnvironment(r.PathValue("org"), req.Project, req.Name)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, environmentWireOf(env), nil
}

// getEnvironment answers the environment's definition as YAML, as the service does, not JSON.
func (s *Server) getEnvironment(w http.ResponseWriter, r *http.Request) {
	if _, err := s.store.Environment(r.PathValue("org"), r.PathValue("project"), r.PathValue("env")); err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-yaml")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(emptyDefinition))
}
