package emulator

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// deploymentItem is one deployment in the API's list of a stack's deployments.
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

func deploymentItemOf(d Deployment) deploymentItem {
	ts := d.Created.UTC().Format(time.RFC3339)
	return deploymentItem{
		ID: d.ID, Created: ts, Modified: ts, Status: d.Status, Version: d.Version,
		PulumiOperation: d.Operation, ProjectName: d.Project, StackName: d.Stack, Initiator: d.Cause.Kind,
	}
}

func (s *Server) registerDeploymentRoutes() {
	const base = "/api/stacks/{org}/{project}/{stack}/deployments"
	s.handle(s.api, "POST "+base, s.createDeployment)
	s.handle(s.api, "GET "+base, s.listDeployments)
}

func (s *Server) createDeployment(r *http.Request) (int, any, error) {
	var req struct {
		Operation       string `json:"operation"`
		InheritSettings *bool  `json:"inheritSettings"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return 0, nil, err
	}
	inherit := req.InheritSettings == nil || *req.InheritSettings
	org, project, name := stackPath(r)
	d, err := s.store.StartDeployment(org, project, name, req.Operation, inherit)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusAccepted, map[string]any{"id": d.ID, "consoleUrl": consoleURL(d), "version": d.Version}, nil
}

// listDeployments answers a page of the stack's deployments, newest first unless asc=true.
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
	mine, err := s.store.StackDeployments(stackPath(r))
	if err != nil {
		return 0, nil, err
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
