package cloud

import (
	"context"
	"net/http"
	"net/url"
)

// Stack is the part of the service's stack record the provider uses.
type Stack struct {
	ID           string            `json:"id"`
	OrgName      string            `json:"orgName"`
	ProjectName  string            `json:"projectName"`
	StackName    string            `json:"stackName"`
	Version      int               `json:"version"`
	ActiveUpdate string            `json:"activeUpdate"`
	Tags         map[string]string `json:"tags"`
}

// GetStack reads a stack; a missing one is ErrNotFound.
func (c *Client) GetStack(ctx context.Context, org, project, stack string) (Stack, error) {
	var out Stack
	err := c.do(ctx, request{method: http.MethodGet, segs: []string{"stacks", org, project, stack}, out: &out})
	return out, err
}

// CreateStack creates a stack, and its project if needed. An existing stack
// is ErrConflict. Like every create it is not retried after an ambiguous
// failure (ErrAmbiguous); a caller can repeat it and take ErrConflict as
// success.
func (c *Client) CreateStack(ctx context.Context, org, project, stack string) (Stack, error) {
	var out Stack
	err := c.do(ctx, request{
		method: http.MethodPost,
		segs:   []string{"stacks", org, project},
		body:   map[string]string{"stackName": stack},
		out:    &out,
	})
	if err != nil {
		return Stack{}, err
	}
	// The create answer is not documented to carry the names; the caller
	// asked for these, so fill what the service left out.
	if out.OrgName == "" {
		out.OrgName = org
	}
	if out.ProjectName == "" {
		out.ProjectName = project
	}
	if out.StackName == "" {
		out.StackName = stack
	}
	return out, nil
}

// DeleteStack deletes a stack. Without force the service refuses a stack
// that still has resources (400). A missing stack is ErrNotFound.
func (c *Client) DeleteStack(ctx context.Context, org, project, stack string, force bool) error {
	var q url.Values
	if force {
		q = url.Values{"force": {"true"}}
	}
	return c.do(ctx, request{method: http.MethodDelete, segs: []string{"stacks", org, project, stack}, query: q})
}
