package emulator

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

const consoleBase = "https://app.pulumi.com"

type deploymentItem struct {
	ID              string `json:"id"`
	Created         string `json:"created"`
	Modified        string `json:"modified"`
	Status          string `json:"status"`
	Version         int    `json:"version"`
	PulumiOperation string `json:"pulumiOperation"`
	ProjectName     string `json:"projectName"`
	StackName       string `json:"stackName"`
	Initiator       string `json:"initiator"`
}

func (s *Server) registerDeploymentRoutes() {
	const base = "/api/stacks/{org}/{project}/{stack}/deployments"
	s.handle(s.api, "POST "+base, s.createDeployment)
	s.handle(s.api, "GET "+base, s.listDeployments)
}

func consoleURL(d Deployment) string {
	return fmt.Sprintf("%s/%s/%s/%s/deployments/%d", consoleBase, d.Org, d.Project, d.Stack, d.Version)
}

func (s *Server) createDeployment(r *http.Request) (int, any, error) {
	var req struct {
		Operation       string `json:"operation"`
		InheritSettings *bool  `json:"inheritSettings"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return 0, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.pathStackLocked(r)
	if err != nil {
		return 0, nil, err
	}
	if req.Operation == "" {
		return 0, nil, errorf(http.StatusBadRequest, "operation is required")
	}
	if _, ok := operationEvents[req.Operation]; !ok {
		return 0, nil, errorf(http.StatusBadRequest,
			"operation %q is invalid: use update, preview, refresh, destroy, detect-drift or remediate-drift", req.Operation)
	}
	// Without inherited settings the request brings its own, which the emulator takes on trust.
	inherit := req.InheritSettings == nil || *req.InheritSettings
	if inherit && st.settings == nil {
		return 0, nil, errorf(http.StatusBadRequest,
			"Stack '%s/%s/%s' has no deployment settings to inherit", st.org, st.project, st.name)
	}
	c := s.newCascade()
	d := c.startDeployment(st, req.Operation, Cause{Kind: CauseAPI})
	c.run()
	return http.StatusAccepted, map[string]any{"id": d.ID, "consoleUrl": consoleURL(d), "version": d.Version}, nil
}

func (s *Server) listDeployments(r *http.Request) (int, any, error) {
	q := r.URL.Query()
	page, err := intParam(q.Get("page"), "page", 1, 1, 1<<30)
	if err != nil {
		return 0, nil, err
	}
	pageSize, err := intParam(q.Get("pageSize"), "pageSize", 10, 1, 100)
	if err != nil {
		return 0, nil, err
	}
	asc := false
	if v := q.Get("asc"); v != "" {
		if asc, err = strconv.ParseBool(v); err != nil {
			return 0, nil, errorf(http.StatusBadRequest, "asc must be true or false, got %q", v)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.pathStackLocked(r)
	if err != nil {
		return 0, nil, err
	}
	var mine []Deployment
	for _, d := range s.deployments {
		if d.Org == st.org && d.Project == st.project && d.Stack == st.name {
			mine = append(mine, d)
		}
	}
	if !asc {
		slices.Reverse(mine)
	}
	items := []deploymentItem{}
	for i := (page - 1) * pageSize; i < len(mine) && i < page*pageSize; i++ {
		items = append(items, deploymentItemOf(mine[i]))
	}
	return http.StatusOK, map[string]any{"deployments": items, "itemsPerPage": pageSize, "total": len(mine)}, nil
}

func intParam(v, name string, def, lo, hi int) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < lo || n > hi {
		return 0, errorf(http.StatusBadRequest, "%s must be a whole number from %d to %d, got %q", name, lo, hi, v)
	}
	return n, nil
}

func deploymentItemOf(d Deployment) deploymentItem {
	ts := d.Created.UTC().Format(time.RFC3339)
	return deploymentItem{
		ID: d.ID, Created: ts, Modified: ts, Status: d.Status, Version: d.Version,
		PulumiOperation: d.Operation, ProjectName: d.Project, StackName: d.Stack, Initiator: d.Cause.Kind,
	}
}

// Deployments returns every deployment in the order they were started.
func (s *Server) Deployments() []Deployment {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.deployments)
}
