package cloud

import (
	"context"
	"net/http"
	"time"
)

// StackReference is one stack in a stack's references: a stack whose outputs it reads (upstream) or one
// that reads its outputs (downstream), with the version the service records for it.
type StackReference struct {
	Organization string
	Project      string
	Stack        string
	Version      int
}

// referenceWire is StackReference as the service spells it: the project is routingProject and the
// stack name is name.
type referenceWire struct {
	Organization   string `json:"organization"`
	RoutingProject string `json:"routingProject"`
	Name           string `json:"name"`
	Version        int    `json:"version"`
}

// ListDownstreamReferences lists the stacks whose programs read this stack's outputs through a
// StackReference. A missing stack is ErrNotFound.
//
// Calls GET /api/stacks/{org}/{project}/{stack}/downstreamreferences.
func (c *Client) ListDownstreamReferences(ctx context.Context, org, project, stack string) ([]StackReference, error) {
	return c.listReferences(ctx, org, project, stack, "downstreamreferences")
}

// ListUpstreamReferences lists the stacks whose outputs this stack's program reads through a
// StackReference. A missing stack is ErrNotFound.
//
// Calls GET /api/stacks/{org}/{project}/{stack}/upstreamreferences.
func (c *Client) ListUpstreamReferences(ctx context.Context, org, project, stack string) ([]StackReference, error) {
	return c.listReferences(ctx, org, project, stack, "upstreamreferences")
}

// UpstreamReferences is one answer of the upstream references route, with the time the service
// answered (its Date header, to the second; zero when it sent none). A stack's references only
// change when it updates, so a reader that knows the stack's lastUpdate can tell whether an
// update may have landed after this answer: only when lastUpdate is not before AnsweredAt.
type UpstreamReferences struct {
	Stacks     []StackReference
	AnsweredAt time.Time
}

// ReadUpstreamReferences is ListUpstreamReferences with the time of the answer.
//
// Calls GET /api/stacks/{org}/{project}/{stack}/upstreamreferences.
func (c *Client) ReadUpstreamReferences(ctx context.Context, org, project, stack string) (UpstreamReferences, error) {
	var answered time.Time
	refs, err := c.readReferences(ctx, org, project, stack, "upstreamreferences", &answered)
	return UpstreamReferences{Stacks: refs, AnsweredAt: answered}, err
}

func (c *Client) listReferences(ctx context.Context, org, project, stack, which string) ([]StackReference, error) {
	return c.readReferences(ctx, org, project, stack, which, nil)
}

func (c *Client) readReferences(
	ctx context.Context, org, project, stack, which string, answered *time.Time,
) ([]StackReference, error) {
	var out struct {
		ReferencedStacks []referenceWire `json:"referencedStacks"`
	}
	if err := c.do(ctx, request{
		method:     http.MethodGet,
		segs:       []string{"stacks", org, project, stack, which},
		out:        &out,
		answeredAt: answered,
	}); err != nil {
		return nil, err
	}
	refs := make([]StackReference, 0, len(out.ReferencedStacks))
	for _, r := range out.ReferencedStacks {
		refs = append(refs, StackReference{Organization: r.Organization, Project: r.RoutingProject, Stack: r.Name, Version: r.Version})
	}
	return refs, nil
}
