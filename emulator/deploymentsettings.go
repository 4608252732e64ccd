package emulator

import (
	"encoding/json"
	"net/http"
)

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
	if err := validateSettings(body, r.Method == http.MethodPost); err != nil {
		return nil, err
	}
	return body, nil
}

// settingKinds are the JSON types of the settings fields whose type the API fixes, by path. Fields not
// listed (and unknown ones) are taken as they come, so a field the service adds is not refused.
var settingKinds = map[string]string{
	"sourceContext":    "object",
	"operationContext": "object",
	"gitHub":           "object",
	"executorContext":  "object",
	"cacheOptions":     "object",
	"agentPoolID":      "string",
	"tag":              "string",

	"operationContext.options":              "object",
	"operationContext.environmentVariables": "object",
	"operationContext.preRunCommands":       "array",
	"operationContext.oidc":                 "object",

	"operationContext.options.skipIntermediateDeployments": "boolean",
	"operationContext.options.skipInstallDependencies":     "boolean",
	"operationContext.options.deleteAfterDestroy":          "boolean",
	"operationContext.options.remediateIfDriftDetected":    "boolean",
	"operationContext.options.shell":                       "string",

	"sourceContext.git": "object",
}

// validateSettings refuses, with 400, deployment settings whose known fields have the wrong JSON type,
// and an operation inside operationContext (it belongs at the top level of a create-deployment
// request). A merge patch (POST) may also set any field to null, which removes it.
func validateSettings(settings map[string]any, patch bool) error {
	return validateSettingsAt("", settings, patch)
}

func validateSettingsAt(prefix string, m map[string]any, patch bool) error {
	for k, v := range m {
		path := k
		if prefix != "" {
			path = prefix + "." + k
		}
		if path == "operationContext.operation" {
			return errorf(http.StatusBadRequest,
				"operationContext.operation is not allowed: operation belongs at the top level of a deployment request")
		}
		want, known := settingKinds[path]
		if !known || (v == nil && patch) {
			continue
		}
		if got := jsonKind(v); got != want {
			return errorf(http.StatusBadRequest, "invalid value for %s: expected %s, got %s", path, want, got)
		}
		if sub, ok := v.(map[string]any); ok {
			if err := validateSettingsAt(path, sub, patch); err != nil {
				return err
			}
		}
	}
	return nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case bool:
		return "boolean"
	case float64, json.Number:
		return "number"
	}
	return "unknown"
}
