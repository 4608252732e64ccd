package emulator

import "net/http"

// defaultOrganizationWire is the body of GET /api/user/organizations/default, spelled as the
// Pulumi CLI decodes it.
type defaultOrganizationWire struct {
	GitHubLogin string   `json:"GitHubLogin"`
	Messages    []string `json:"Messages"`
}

func (s *Server) registerUserRoutes() {
	s.handle(s.api, "GET /api/user/organizations/default", func(*http.Request) (int, any, error) {
		return http.StatusOK, defaultOrganizationWire{GitHubLogin: s.defaultOrg, Messages: []string{}}, nil
	})
}
