package cloud

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// GetDeploymentSettings returns a stack's deployment settings; a stack
// without any is ErrNotFound. Settings travel as plain JSON objects: the
// provider copies them rather than interpreting them, and a typed mirror of
// the service's large, evolving schema would silently drop fields it lacked.
//
// Calls GET /api/stacks/{org}/{project}/{stack}/deployments/settings.
func (c *Client) GetDeploymentSettings(ctx context.Context, org, project, stack string) (map[string]any, error) {
	var out map[string]any
	err := c.do(ctx, request{method: http.MethodGet, segs: settingsPath(org, project, stack), out: &out})
	return out, err
}

// PutDeploymentSettings replaces a stack's deployment settings with s and
// returns what the service stored.
//
// Calls PUT /api/stacks/{org}/{project}/{stack}/deployments/settings.
func (c *Client) PutDeploymentSettings(
	ctx context.Context, org, project, stack string, s map[string]any,
) (map[string]any, error) {
	var out map[string]any
	err := c.do(ctx, request{method: http.MethodPut, segs: settingsPath(org, project, stack), body: s, out: &out})
	return out, err
}

func settingsPath(org, project, stack string) []string {
	return []string{"stacks", org, project, stack, "deployments", "settings"}
}

// DeploymentRef identifies a deployment the service accepted (202).
type DeploymentRef struct {
	ID         string `json:"id"`
	ConsoleURL string `json:"consoleUrl"`
	Version    int    `json:"version"`
}

// CreateDeployment queues a deployment running operation ("update",
// "preview", "refresh", "destroy", "detect-drift", "remediate-drift") with the
// stack's own settings. It is never retried after an ambiguous failure
// (ErrAmbiguous): a repeat would queue a second run.
//
// Calls POST /api/stacks/{org}/{project}/{stack}/deployments.
func (c *Client) CreateDeployment(ctx context.Context, org, project, stack, operation string) (DeploymentRef, error) {
	var out DeploymentRef
	err := c.do(ctx, request{
		method: http.MethodPost,
		segs:   []string{"stacks", org, project, stack, "deployments"},
		body:   map[string]any{"operation": operation, "inheritSettings": true},
		out:    &out,
	})
	return out, err
}

// Deployment is one entry of a stack's or an organization's deployment list,
// or one deployment read on its own. The known fields are read leniently (a
// number where a string was expected, or the reverse, is accepted) and the
// whole entry is kept in Raw.
type Deployment struct {
	ID        string
	Status    string // not-started, accepted, running, failed, succeeded or skipped
	Version   int
	Created   string
	Modified  string
	Operation string // pulumiOperation, or operation on older answers
	// Project and Stack name the deployment's stack (projectName,
	// stackName): an organization's list mixes stacks. Empty when absent.
	Project string
	Stack   string
	// LatestVersion is the stack's newest deployment version; only a
	// deployment read on its own (GetDeployment) is sure to carry it.
	LatestVersion int
	// Updates are the updates the deployment ran: none before it starts, and
	// then, normally, one.
	Updates []DeploymentUpdate
	Raw     map[string]any
}

// DeploymentUpdate is an update a deployment ran (DeploymentNestedUpdate),
// read leniently like the deployment itself.
type DeploymentUpdate struct {
	// Version is the stack version the update wrote, 0 when it wrote none.
	Version int
	Kind    string // update, preview, refresh, destroy, ...
	Result  string // not-started, in-progress, succeeded or failed
	// StartTime and EndTime are Unix seconds; EndTime is 0 while it runs.
	StartTime int64
	EndTime   int64
}

// StackVersion is the stack version the deployment's succeeded update wrote,
// 0 when it has none (it has not ended, it failed, or its operation writes no
// version, as a preview).
func (d Deployment) StackVersion() int {
	for _, u := range d.Updates {
		if u.Result == "succeeded" && u.Version > 0 {
			return u.Version
		}
	}
	return 0
}

// UnmarshalJSON decodes the known fields without failing on their types.
func (d *Deployment) UnmarshalJSON(data []byte) error {
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	*d = Deployment{
		ID:        lenientString(raw["id"]),
		Status:    lenientString(raw["status"]),
		Version:   lenientInt(raw["version"]),
		Created:   lenientString(raw["created"]),
		Modified:  lenientString(raw["modified"]),
		Operation: lenientString(raw["pulumiOperation"]),
		Project:   lenientString(raw["projectName"]),
		Stack:     lenientString(raw["stackName"]),
		Raw:       raw,

		LatestVersion: lenientInt(raw["latestVersion"]),
	}
	if d.Operation == "" {
		d.Operation = lenientString(raw["operation"])
	}
	// Anything in updates that is not an object is skipped, like a field of
	// the wrong type: it cannot be an update.
	updates, _ := raw["updates"].([]any)
	for _, item := range updates {
		if u, ok := item.(map[string]any); ok {
			d.Updates = append(d.Updates, DeploymentUpdate{
				Version: lenientInt(u["version"]), Kind: lenientString(u["kind"]), Result: lenientString(u["result"]),
				StartTime: int64(lenientInt(u["startTime"])), EndTime: int64(lenientInt(u["endTime"])),
			})
		}
	}
	return nil
}

func lenientString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	return ""
}

func lenientInt(v any) int {
	switch v := v.(type) {
	case float64:
		return int(v)
	case string:
		n, _ := strconv.Atoi(v)
		return n
	}
	return 0
}

// ListDeployments returns one page of a stack's deployments and the total
// count. page and pageSize of zero or less leave the service's defaults
// (first page, 10 per page).
//
// Calls GET /api/stacks/{org}/{project}/{stack}/deployments.
func (c *Client) ListDeployments(
	ctx context.Context, org, project, stack string, page, pageSize int,
) ([]Deployment, int, error) {
	return c.listDeployments(ctx, []string{"stacks", org, project, stack, "deployments"}, page, pageSize)
}

// ListOrgDeployments returns one page of the deployments of every stack of an
// organization the token can see, newest first, and the total count; each
// names its stack (Project, Stack). page and pageSize of zero or less leave
// the service's defaults (first page, 10 per page; at most 100).
//
// Calls GET /api/orgs/{org}/deployments.
func (c *Client) ListOrgDeployments(ctx context.Context, org string, page, pageSize int) ([]Deployment, int, error) {
	return c.listDeployments(ctx, []string{"orgs", org, "deployments"}, page, pageSize)
}

func (c *Client) listDeployments(ctx context.Context, segs []string, page, pageSize int) ([]Deployment, int, error) {
	q := url.Values{}
	if page > 0 {
		q.Set("page", strconv.Itoa(page))
	}
	if pageSize > 0 {
		q.Set("pageSize", strconv.Itoa(pageSize))
	}
	var out struct {
		Deployments []Deployment `json:"deployments"`
		Total       int          `json:"total"`
	}
	err := c.do(ctx, request{method: http.MethodGet, segs: segs, query: q, out: &out})
	return out.Deployments, out.Total, err
}

// DeploymentsMetadata is the state of an organization's deployments
// (OrgDeploymentsMetadataResponse).
type DeploymentsMetadata struct {
	// Paused is set while the organization's new deployments are paused.
	Paused bool `json:"paused"`
	// Concurrency is how many deployments the organization may run at once
	// (its plan's cap); 0 when the service gives none, as the emulator without
	// a cap does.
	Concurrency int              `json:"concurrency"`
	Counts      DeploymentCounts `json:"deploymentCounts"`
}

// DeploymentCounts counts an organization's deployments by status.
type DeploymentCounts struct {
	NotStarted int `json:"notStarted"`
	Accepted   int `json:"accepted"`
	Running    int `json:"running"`
	Failed     int `json:"failed"`
	Succeeded  int `json:"succeeded"`
	Skipped    int `json:"skipped"`
	Total      int `json:"total"`
}

// OrgDeploymentsMetadata reads whether an organization's deployments are
// paused, how many may run at once, and how many have each status.
//
// Calls GET /api/orgs/{org}/deployments/metadata.
func (c *Client) OrgDeploymentsMetadata(ctx context.Context, org string) (DeploymentsMetadata, error) {
	var out DeploymentsMetadata
	err := c.do(ctx, request{method: http.MethodGet, segs: []string{"orgs", org, "deployments", "metadata"}, out: &out})
	return out, err
}

// CancelDeployment stops a deployment of a stack: a running one at once, a
// queued one leaves the queue. It is safe to repeat, and is retried like a
// PUT after an ambiguous failure: a deployment that has already ended
// (cancelled by an earlier attempt whose answer was lost, or ended by itself)
// is an error satisfying errors.Is(err, ErrConflict), which a caller that only
// wants the deployment stopped can take as done; read the deployment to learn
// how it ended. A missing stack or deployment is ErrNotFound.
//
// Calls POST /api/stacks/{org}/{project}/{stack}/deployments/{deploymentId}/cancel.
func (c *Client) CancelDeployment(ctx context.Context, org, project, stack, id string) error {
	if err := checkDeploymentID(id); err != nil {
		return err
	}
	return c.do(ctx, request{
		method:     http.MethodPost,
		segs:       []string{"stacks", org, project, stack, "deployments", id, "cancel"},
		repeatable: true,
	})
}

// checkDeploymentID refuses the ids that would name the settings route or the
// by-version one, not a deployment.
func checkDeploymentID(id string) error {
	if id == "settings" || id == "version" {
		return fmt.Errorf("cloud: %q is not a deployment id", id)
	}
	return nil
}

// GetDeployment reads one deployment of a stack by its id; a missing stack or
// deployment is ErrNotFound.
//
// Calls GET /api/stacks/{org}/{project}/{stack}/deployments/{deploymentId}.
func (c *Client) GetDeployment(ctx context.Context, org, project, stack, id string) (Deployment, error) {
	if err := checkDeploymentID(id); err != nil {
		return Deployment{}, err
	}
	var out Deployment
	err := c.do(ctx, request{method: http.MethodGet, segs: []string{"stacks", org, project, stack, "deployments", id}, out: &out})
	return out, err
}

// GetDeploymentByVersion reads one deployment of a stack by its version, the
// stack's deployments being numbered from 1; a missing one is ErrNotFound.
//
// Calls GET /api/stacks/{org}/{project}/{stack}/deployments/version/{version}.
func (c *Client) GetDeploymentByVersion(ctx context.Context, org, project, stack string, version int) (Deployment, error) {
	var out Deployment
	err := c.do(ctx, request{
		method: http.MethodGet,
		segs:   []string{"stacks", org, project, stack, "deployments", "version", strconv.Itoa(version)},
		out:    &out,
	})
	return out, err
}
