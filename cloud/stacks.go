package cloud

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// Stack is the part of the service's stack record the provider and the relay use.
type Stack struct {
	ID          string `json:"id"`
	OrgName     string `json:"orgName"`
	ProjectName string `json:"projectName"`
	StackName   string `json:"stackName"`
	Version     int    `json:"version"`
	// ActiveUpdate is the id of the stack's most recent update, finished or still running (it is not
	// a flag saying one runs: see CurrentOperation).
	ActiveUpdate string `json:"activeUpdate"`
	// CurrentOperation is the operation running on the stack now, nil when none is.
	CurrentOperation *StackOperation   `json:"currentOperation"`
	Tags             map[string]string `json:"tags"`
}

// StackOperation is an operation running on a stack (the service's AppOperationStatus).
type StackOperation struct {
	Kind    string `json:"kind"`    // update, refresh, destroy, ...
	Author  string `json:"author"`  // login of who started it
	Started int64  `json:"started"` // Unix seconds
}

// Updating reports whether an operation runs on the stack now: a deployment's update, or one a person
// runs from a laptop. Its version then may still move.
func (s Stack) Updating() bool { return s.CurrentOperation != nil }

// GetStack reads a stack; a missing one is ErrNotFound.
//
// Calls GET /api/stacks/{org}/{project}/{stack}.
func (c *Client) GetStack(ctx context.Context, org, project, stack string) (Stack, error) {
	var out Stack
	err := c.do(ctx, request{method: http.MethodGet, segs: []string{"stacks", org, project, stack}, out: &out})
	return out, err
}

// CreateStack creates a stack, and its project if needed. An existing stack
// is ErrConflict. Like every create it is not retried after an ambiguous
// failure (ErrAmbiguous); a caller can repeat it and take ErrConflict as
// success.
//
// Calls POST /api/stacks/{org}/{project}.
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
//
// Calls DELETE /api/stacks/{org}/{project}/{stack}, with ?force=true when force is set.
func (c *Client) DeleteStack(ctx context.Context, org, project, stack string, force bool) error {
	var q url.Values
	if force {
		q = url.Values{"force": {"true"}}
	}
	return c.do(ctx, request{method: http.MethodDelete, segs: []string{"stacks", org, project, stack}, query: q})
}

// StackFilter narrows ListStacks; empty fields do not filter. TagValue needs
// TagName: with both, only stacks whose tag TagName equals TagValue match;
// with TagName alone, every stack that has the tag.
type StackFilter struct {
	Organization string
	Project      string
	TagName      string
	TagValue     string
}

// StackSummary is one stack as GET /api/user/stacks lists it.
type StackSummary struct {
	ID          string `json:"id"`
	OrgName     string `json:"orgName"`
	ProjectName string `json:"projectName"`
	StackName   string `json:"stackName"`
	// LastUpdate is when the stack's last update STARTED (Unix seconds; 0 when the service gives none):
	// the update's end does not move it, so an update may still be writing when it is read.
	LastUpdate    int64 `json:"lastUpdate"`
	ResourceCount int   `json:"resourceCount"`
}

// maxStackPages bounds ListStacks against a server that keeps handing out new
// continuation tokens; at the service's page sizes it is far beyond any real
// organization.
const maxStackPages = 10000

// ListStacks lists the stacks the token can see that match filter, following
// continuationToken through every page, in the order the service gives. Each
// page is retried on its own like any GET. A server that hands back a token it
// already gave (which would loop forever) is an error, as is more than
// maxStackPages pages.
//
// Calls GET /api/user/stacks, once per page.
func (c *Client) ListStacks(ctx context.Context, filter StackFilter) ([]StackSummary, error) {
	if filter.TagValue != "" && filter.TagName == "" {
		return nil, errors.New("cloud: listing stacks: a tag value filter needs a tag name")
	}
	q := url.Values{}
	for key, v := range map[string]string{
		"organization": filter.Organization, "project": filter.Project,
		"tagName": filter.TagName, "tagValue": filter.TagValue,
	} {
		if v != "" {
			q.Set(key, v)
		}
	}
	out := []StackSummary{}
	seen := map[string]bool{}
	for page := 1; ; page++ {
		var resp struct {
			Stacks            []StackSummary `json:"stacks"`
			ContinuationToken string         `json:"continuationToken"`
		}
		err := c.do(ctx, request{method: http.MethodGet, segs: []string{"user", "stacks"}, query: q, out: &resp})
		if err != nil {
			return nil, err
		}
		out = append(out, resp.Stacks...)
		token := resp.ContinuationToken
		switch {
		case token == "":
			return out, nil
		case seen[token]:
			return nil, fmt.Errorf("GET /api/user/stacks: page %d repeats an earlier continuationToken; "+
				"the server would list the same stacks forever", page)
		case page >= maxStackPages:
			return nil, fmt.Errorf("GET /api/user/stacks: still more after %d pages; giving up", page)
		}
		seen[token] = true
		q.Set("continuationToken", token)
	}
}
