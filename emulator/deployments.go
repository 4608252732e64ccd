package emulator

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// requestedByWire is who asked for a deployment. The emulator has one user, so every deployment names it,
// those webhooks start included.
type requestedByWire struct {
	Name        string `json:"name"`
	GitHubLogin string `json:"githubLogin"`
	AvatarURL   string `json:"avatarUrl"`
}

var emulatorUser = requestedByWire{
	Name: "Pulumi Cloud Emulator", GitHubLogin: "emulator", AvatarURL: "https://app.pulumi.com/emulator/avatar.png",
}

type jobWire struct {
	Status      string     `json:"status"`
	Started     string     `json:"started"`
	LastUpdated string     `json:"lastUpdated"`
	Steps       []stepWire `json:"steps"`
}

type stepWire struct {
	Name   string `json:"name"`
	Status string `json:"status"`
}

// updateWire is the update a deployment ran (DeploymentNestedUpdate). id and updateID are both the
// update's id; version is the stack version a successful update wrote, 0 for one that wrote none (a
// failure, a preview, a drift detection); startTime and endTime are Unix seconds, endTime 0 while it
// runs; result is in-progress, succeeded or failed.
type updateWire struct {
	ID          string            `json:"id"`
	UpdateID    string            `json:"updateID"`
	Version     int               `json:"version"`
	StartTime   int64             `json:"startTime"`
	EndTime     int64             `json:"endTime"`
	Kind        string            `json:"kind"`
	Result      string            `json:"result"`
	Message     string            `json:"message"`
	Environment map[string]string `json:"environment"`
}

// updateResults is the result of a deployment's update for each status the deployment can have once it
// has started.
var updateResults = map[string]string{
	StatusRunning: "in-progress", StatusSucceeded: StatusSucceeded, StatusFailed: StatusFailed,
	// A running deployment is skipped only when a truncated run (a webhook cycle) is abandoned: its update
	// never finished.
	StatusSkipped: StatusFailed,
}

// updatesOf is the updates list of a deployment: none until it starts, then the one update it runs.
func updatesOf(d Deployment) []updateWire {
	if d.UpdateID == "" {
		return []updateWire{}
	}
	u := updateWire{ID: d.UpdateID, UpdateID: d.UpdateID, StartTime: d.Started.Unix(), Kind: updateKinds[d.Operation],
		Result: updateResults[d.Status], Environment: map[string]string{}}
	if !d.Finished.IsZero() {
		u.EndTime = d.Finished.Unix()
	}
	if d.Status == StatusSucceeded && operationChangesStack[d.Operation] {
		u.Version = d.StackVersion
	}
	return []updateWire{u}
}

// deploymentWire is a deployment as GET .../deployments/{id} answers it, and (without configuration)
// as the items of GET .../deployments.
type deploymentWire struct {
	ID              string          `json:"id"`
	Created         string          `json:"created"`
	Modified        string          `json:"modified"`
	Status          string          `json:"status"`
	Version         int             `json:"version"`
	LatestVersion   int             `json:"latestVersion"`
	RequestedBy     requestedByWire `json:"requestedBy"`
	PulumiOperation string          `json:"pulumiOperation"`
	Initiator       string          `json:"initiator"`
	ProjectName     string          `json:"projectName"`
	StackName       string          `json:"stackName"`
	Jobs            []jobWire       `json:"jobs"`
	Updates         []updateWire    `json:"updates"`
	// Paused is always false: the emulator cannot pause deployments.
	Paused        bool           `json:"paused"`
	Configuration map[string]any `json:"configuration,omitempty"`
}

func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// deploymentWireOf shapes a deployment for the API. A deployment that never started has no job; one
// that did has one, whose steps are all done but the last, which has the job's status.
func deploymentWireOf(d Deployment, latest int, withConfig bool) deploymentWire {
	w := deploymentWire{
		ID: d.ID, Created: timestamp(d.Created), Modified: timestamp(d.Modified), Status: d.Status,
		Version: d.Version, LatestVersion: latest, RequestedBy: emulatorUser, PulumiOperation: d.Operation,
		Initiator: d.Cause.Kind, ProjectName: d.Project, StackName: d.Stack, Jobs: []jobWire{}, Updates: updatesOf(d),
	}
	if d.Modified.IsZero() {
		w.Modified = w.Created
	}
	if !d.Started.IsZero() {
		steps := []stepWire{
			{Name: "Get source", Status: StatusSucceeded},
			{Name: "Install dependencies", Status: StatusSucceeded},
			{Name: "pulumi " + d.Operation, Status: d.Status},
		}
		w.Jobs = append(w.Jobs, jobWire{Status: d.Status, Started: timestamp(d.Started), LastUpdated: w.Modified, Steps: steps})
	}
	if withConfig {
		w.Configuration = copyJSON(d.configuration)
		if w.Configuration == nil {
			w.Configuration = map[string]any{}
		}
	}
	return w
}

func (s *Server) registerDeploymentRoutes() {
	const base = "/api/stacks/{org}/{project}/{stack}/deployments"
	s.handle(s.api, "POST "+base, s.createDeployment)
	s.handle(s.api, "GET "+base, s.listDeployments)
	s.handle(s.api, "GET "+base+"/{id}", s.getDeployment)
	s.handle(s.api, "GET "+base+"/version/{version}", s.getDeploymentByVersion)
	s.handle(s.api, "POST "+base+"/{id}/cancel", s.cancelDeployment)
	s.handle(s.api, "GET /api/orgs/{org}/deployments", s.listOrgDeployments)
	s.handle(s.api, "GET /api/orgs/{org}/deployments/metadata", s.orgDeploymentsMetadata)
	s.registerManualDeploymentRoutes()
	s.registerTimedDeploymentRoutes()
}

// createDeployment takes operation and inheritSettings, and any deployment settings the request brings
// of its own (which must have the settings' types, and no operation inside operationContext).
func (s *Server) createDeployment(r *http.Request) (int, any, error) {
	var body map[string]any
	if err := decodeJSON(r, &body); err != nil {
		return 0, nil, err
	}
	if body == nil {
		return 0, nil, errorf(http.StatusBadRequest, "the request body must be a JSON object")
	}
	operation, ok := body["operation"].(string)
	if !ok && body["operation"] != nil {
		return 0, nil, errorf(http.StatusBadRequest, "invalid value for operation: expected string")
	}
	inherit := true
	if v, present := body["inheritSettings"]; present && v != nil {
		b, ok := v.(bool)
		if !ok {
			return 0, nil, errorf(http.StatusBadRequest, "invalid value for inheritSettings: expected bool")
		}
		inherit = b
	}
	delete(body, "operation")
	delete(body, "inheritSettings")
	if err := validateSettings(body, false); err != nil {
		return 0, nil, err
	}
	org, project, name := stackPath(r)
	d, err := s.store.StartDeployment(org, project, name, operation, inherit, body)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusAccepted, map[string]any{"id": d.ID, "consoleUrl": consoleURL(d), "version": d.Version}, nil
}

// listDeployments answers a page of the stack's deployments, newest first unless asc=true.
func (s *Server) listDeployments(r *http.Request) (int, any, error) {
	mine, err := s.store.StackDeployments(stackPath(r))
	if err != nil {
		return 0, nil, err
	}
	return deploymentPage(r.URL.Query(), mine)
}

// deploymentPage answers the page that the query's page, pageSize (1-100, 10 by default) and asc ask
// for of ds, which are oldest first: newest first unless asc=true. sort is ignored. Each item's
// latestVersion is the newest deployment version of its stack among ds.
func deploymentPage(q url.Values, ds []Deployment) (int, any, error) {
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
	latest := map[string]int{} // by stack id
	for _, d := range ds {
		latest[d.stackID] = max(latest[d.stackID], d.Version)
	}
	if !asc {
		slices.Reverse(ds)
	}
	items := []deploymentWire{}
	for i := (page - 1) * pageSize; i < len(ds) && i < page*pageSize; i++ {
		items = append(items, deploymentWireOf(ds[i], latest[ds[i].stackID], false))
	}
	return http.StatusOK, map[string]any{"deployments": items, "itemsPerPage": pageSize, "total": len(ds)}, nil
}

func (s *Server) getDeployment(r *http.Request) (int, any, error) {
	org, project, name := stackPath(r)
	d, latest, err := s.store.StackDeployment(org, project, name, r.PathValue("id"), 0)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, deploymentWireOf(d, latest, true), nil
}

// getDeploymentByVersion answers 404 for a version that is not a positive number, as for one that does
// not exist.
func (s *Server) getDeploymentByVersion(r *http.Request) (int, any, error) {
	org, project, name := stackPath(r)
	v := r.PathValue("version")
	version, err := strconv.Atoi(v)
	if err != nil || version < 1 {
		return 0, nil, errorf(http.StatusNotFound, "Deployment version %q of stack '%s/%s/%s' not found", v, org, project, name)
	}
	d, latest, err := s.store.StackDeployment(org, project, name, "", version)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, deploymentWireOf(d, latest, true), nil
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
