package emulator

import "net/http"

func (s *Server) registerDeploymentSettingsRoutes() {
	const path = "/api/stacks/{org}/{project}/{stack}/deployments/settings"
	s.handle(s.api, "GET "+path, s.getDeploymentSettings)
	s.handle(s.api, "PUT "+path, s.putDeploymentSettings)
	s.handle(s.api, "POST "+path, s.mergeDeploymentSettings)
	s.handle(s.api, "DELETE "+path, s.deleteDeploymentSettings)
}

func (s *Server) getDeploymentSettings(r *http.Request) (int, any, error) {
	settings, err := s.store.DeploymentSettings(stackPath(r))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, settings, nil
}

// putDeploymentSettings stores the body as it is.
func (s *Server) putDeploymentSettings(r *http.Request) (int, any, error) {
	body, err := decodeSettings(r)
	if err != nil {
		return 0, nil, err
	}
	org, project, name := stackPath(r)
	settings, err := s.store.SetDeploymentSettings(org, project, name, body)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, settings, nil
}

// mergeDeploymentSettings applies the body as an RFC 7396 merge patch.
func (s *Server) mergeDeploymentSettings(r *http.Request) (int, any, error) {
	patch, err := decodeSettings(r)
	if err != nil {
		return 0, nil, err
	}
	org, project, name := stackPath(r)
	settings, err := s.store.MergeDeploymentSettings(org, project, name, patch)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, settings, nil
}

// deleteDeploymentSettings answers true even when there were none, so a retried delete does not fail.
func (s *Server) deleteDeploymentSettings(r *http.Request) (int, any, error) {
	if err := s.store.DeleteDeploymentSettings(stackPath(r)); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, true, nil
}

// decodeSettings reads a body that must be a JSON object.
func decodeSettings(r *http.Request) (map[string]any, error) {
	var body map[string]any
	if err := decodeJSON(r, &body); err != nil {
		return nil, err
	}
	if body == nil {
		return nil, errorf(http.StatusBadRequest, "deployment settings must be a JSON object")
	}
	return body, nil
}
