package emulator

import (
	"fmt"
	"net/http"
	"slices"
)

const consoleBase = "https://app.pulumi.com"

func consoleURL(d Deployment) string {
	return fmt.Sprintf("%s/%s/%s/%s/deployments/%d", consoleBase, d.Org, d.Project, d.Stack, d.Version)
}

var operationEvents = map[string]string{
	"update":          "update_succeeded",
	"preview":         "preview_succeeded",
	"refresh":         "refresh_succeeded",
	"destroy":         "destroy_succeeded",
	"detect-drift":    "drift_detection_succeeded",
	"remediate-drift": "drift_remediation_succeeded",
}

// operationChangesStack marks the operations that write a new checkpoint, and so bump the stack version.
var operationChangesStack = map[string]bool{
	"update": true, "refresh": true, "destroy": true, "remediate-drift": true,
}

// StartDeployment runs a deployment of a stack, as asked through the API, and the cascade its events set
// off. Without inheritSettings the request brings its own settings, which the emulator takes on trust;
// with it the stack must have deployment settings.
func (s *store) StartDeployment(org, project, name, operation string, inheritSettings bool) (Deployment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.stackLocked(org, project, name)
	if err != nil {
		return Deployment{}, err
	}
	if operation == "" {
		return Deployment{}, errorf(http.StatusBadRequest, "operation is required")
	}
	if _, ok := operationEvents[operation]; !ok {
		return Deployment{}, errorf(http.StatusBadRequest,
			"operation %q is invalid: use update, preview, refresh, destroy, detect-drift or remediate-drift", operation)
	}
	if inheritSettings && st.settings == nil {
		return Deployment{}, errorf(http.StatusBadRequest,
			"Stack '%s/%s/%s' has no deployment settings to inherit", st.org, st.project, st.name)
	}
	c := s.newCascade()
	d := c.startDeployment(st, operation, Cause{Kind: CauseAPI})
	c.run()
	return d, nil
}

// StackDeployments returns one stack's deployments, oldest first.
func (s *store) StackDeployments(org, project, name string) ([]Deployment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.stackLocked(org, project, name)
	if err != nil {
		return nil, err
	}
	var mine []Deployment
	for _, d := range s.deployments {
		if d.Org == st.org && d.Project == st.project && d.Stack == st.name {
			mine = append(mine, d)
		}
	}
	return mine, nil
}

// AllDeployments returns every deployment in the order they were started.
func (s *store) AllDeployments() []Deployment {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.deployments)
}
