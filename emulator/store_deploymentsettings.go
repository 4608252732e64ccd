package emulator

import "net/http"

// DeploymentSettings returns a copy of a stack's deployment settings, answering 404 when it has none.
func (s *store) DeploymentSettings(org, project, name string) (map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.stackLocked(org, project, name)
	if err != nil {
		return nil, err
	}
	if st.settings == nil {
		return nil, errorf(http.StatusNotFound, "Stack '%s/%s/%s' has no deployment settings", st.org, st.project, st.name)
	}
	return copyJSON(st.settings), nil
}

// SetDeploymentSettings replaces a stack's deployment settings (nil removes them) and returns a copy of
// what it stored. The settings must be made of JSON-decoded values.
func (s *store) SetDeploymentSettings(org, project, name string, settings map[string]any) (map[string]any, error) {
	return s.changeDeploymentSettings(org, project, name, func(map[string]any) map[string]any {
		return copyJSON(settings)
	})
}

// MergeDeploymentSettings applies an RFC 7396 merge patch to a stack's deployment settings and returns a
// copy of the result.
func (s *store) MergeDeploymentSettings(org, project, name string, patch map[string]any) (map[string]any, error) {
	return s.changeDeploymentSettings(org, project, name, func(old map[string]any) map[string]any {
		return mergePatch(old, patch)
	})
}

// DeleteDeploymentSettings removes a stack's deployment settings. Having none is not an error, so a
// retried delete does not fail.
func (s *store) DeleteDeploymentSettings(org, project, name string) error {
	_, err := s.SetDeploymentSettings(org, project, name, nil)
	return err
}

func (s *store) changeDeploymentSettings(org, project, name string, change func(old map[string]any) map[string]any) (map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.stackLocked(org, project, name)
	if err != nil {
		return nil, err
	}
	st.settings = change(st.settings)
	return copyJSON(st.settings), nil
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
