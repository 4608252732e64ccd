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

// Deployment is one entry of a stack's deployment list, or one deployment read
// on its own. The known fields are read leniently (a number where a string was
// expected, or the reverse, is accepted) and the whole entry is kept in Raw.
type Deployment struct {
	ID        string
	Status    string // not-started, accepted, running, failed, succeeded or skipped
	Version   int
	Created   string
	Modified  string
	Operation string // pulumiOperation, or operation on older answers
	// LatestVersion is the stack's newest deployment version; only a
	// deployment read on its own (GetDeployment) is sure to carry it.
	LatestVersion int
	Raw           map[string]any
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
		Raw:       raw,

		LatestVersion: lenientInt(raw["latestVersion"]),
	}
	if d.Operation == "" {
		d.Operation = lenientString(raw["operation"])
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
	err := c.do(ctx, request{
		method: http.MethodGet,
		segs:   []string{"stacks", org, project, stack, "deployments"},
		query:  q,
		out:    &out,
	})
	return out.Deployments, out.Total, err
}

// GetDeployment reads one deployment of a stack by its id; a missing stack or
// deployment is ErrNotFound.
//
// Calls GET /api/stacks/{org}/{project}/{stack}/deployments/{deploymentId}.
func (c *Client) GetDeployment(ctx context.Context, org, project, stack, id string) (Deployment, error) {
	// These would name the settings route or the by-version one, not a deployment.
	if id == "settings" || id == "version" {
		return Deployment{}, fmt.Errorf("cloud: %q is not a deployment id", id)
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
