package provider

import (
	"cmp"
	"context"
	_ "embed"
	"fmt"
	"maps"
	"slices"
	"strings"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"

	"github.com/autodeploy-dev/pulumi-auto-deploy/edge"
)

var (
	_ infer.CustomCheck[AutoDeployerArgs]                             = (*AutoDeployer)(nil)
	_ infer.CustomDiff[AutoDeployerArgs, AutoDeployerState]           = (*AutoDeployer)(nil)
	_ infer.CustomRead[AutoDeployerArgs, AutoDeployerState]           = (*AutoDeployer)(nil)
	_ infer.CustomUpdate[AutoDeployerArgs, AutoDeployerState]         = (*AutoDeployer)(nil)
	_ infer.CustomDelete[AutoDeployerState]                           = (*AutoDeployer)(nil)
	_ infer.ExplicitDependencies[AutoDeployerArgs, AutoDeployerState] = (*AutoDeployer)(nil)
)

//go:embed autodeployer.md
var autoDeployerDescription string

// AutoDeployer keeps one deployment webhook per downstream stack on its stack.
type AutoDeployer struct{}

// AutoDeployerArgs are the inputs; names match Pulumi's auto-deploy package.
type AutoDeployerArgs struct {
	Organization   string   `pulumi:"organization,optional" provider:"replaceOnChanges"`
	Project        string   `pulumi:"project" provider:"replaceOnChanges"`
	Stack          string   `pulumi:"stack" provider:"replaceOnChanges"`
	DownstreamRefs []string `pulumi:"downstreamRefs,optional"`
	Paused         bool     `pulumi:"paused,optional"`
}

// AutoDeployerState records which edges exist in Pulumi Cloud; after a partial failure
// it holds only those that were written.
type AutoDeployerState struct {
	AutoDeployerArgs
	Ref                string   `pulumi:"ref"`
	DownstreamWebhooks []string `pulumi:"downstreamWebhooks"`
	Owner              string   `pulumi:"owner,optional"`
}

// Annotate describes the resource.
func (d *AutoDeployer) Annotate(a infer.Annotator) {
	a.Describe(&d, autoDeployerDescription)
}

// Annotate describes the inputs.
func (a *AutoDeployerArgs) Annotate(an infer.Annotator) {
	an.Describe(&a.Organization, "The Pulumi Cloud organization of the stack and of every downstream stack. "+
		organizationDefaultDoc)
	an.Describe(&a.Project, "The project of the stack whose updates trigger the downstream deployments.")
	an.Describe(&a.Stack, "The stack whose updates trigger the downstream deployments.")
	an.Describe(&a.DownstreamRefs, "The stacks to redeploy after each successful update of this stack, as "+
		"`project/stack` (pass other AutoDeployers' `ref` outputs). Order does not matter; each ref may appear once "+
		"and never this stack itself.")
	an.Describe(&a.Paused, pausedDoc)
}

// Annotate describes the outputs.
func (s *AutoDeployerState) Annotate(a infer.Annotator) {
	a.Describe(&s.Ref, "This stack as `project/stack`, to pass in another AutoDeployer's `downstreamRefs`. "+
		"Known during preview.")
	a.Describe(&s.DownstreamWebhooks, "The names of the deployment webhooks in Pulumi Cloud, one per downstream ref.")
	a.Describe(&s.Owner, "The owner recorded in the display name of each of these webhooks: this resource's URN "+
		"when it was created (kept across a rename with `aliases`). Only webhooks recorded as owned by it are "+
		"read, changed or deleted by this resource.")
}

// WireDependencies makes ref and the webhook names known during preview: both follow
// from the inputs alone, and refs must flow between AutoDeployers in `pulumi preview`.
func (d *AutoDeployer) WireDependencies(f infer.FieldSelector, args *AutoDeployerArgs, state *AutoDeployerState) {
	f.OutputField(&state.Ref).AlwaysKnown()
	f.OutputField(&state.Ref).DependsOn(f.InputField(&args.Project), f.InputField(&args.Stack))
	f.OutputField(&state.DownstreamWebhooks).AlwaysKnown()
	f.OutputField(&state.DownstreamWebhooks).DependsOn(f.InputField(&args.DownstreamRefs))
	f.OutputField(&state.Owner).AlwaysKnown()
}

// Check validates names and refs at preview; refs still unknown are checked later.
func (d *AutoDeployer) Check(
	ctx context.Context, req infer.CheckRequest,
) (infer.CheckResponse[AutoDeployerArgs], error) {
	args, failures, err := infer.DefaultCheck[AutoDeployerArgs](ctx, req.NewInputs)
	if err != nil {
		return infer.CheckResponse[AutoDeployerArgs]{}, err
	}
	unknown := unknownKeys(req.NewInputs)
	fail := func(property string, err error) {
		failures = append(failures, p.CheckFailure{Property: property, Reason: err.Error()})
	}
	if !unknown["organization"] {
		org, err := engineFor(ctx).resolveOrganization(ctx, args.Organization, req.OldInputs.Get("organization"))
		if err != nil {
			fail("organization", err)
		}
		args.Organization = org
	}
	for _, f := range []struct{ key, value string }{
		{"organization", args.Organization}, {"project", args.Project}, {"stack", args.Stack},
	} {
		if !unknown[f.key] {
			if err := validateCloudName(f.key, f.value); err != nil {
				fail(f.key, err)
			}
		}
	}
	self := args.Project + "/" + args.Stack
	seen := map[string]int{}
	refs := req.NewInputs.Get("downstreamRefs")
	for i, ref := range args.DownstreamRefs {
		// The failure names the list, whose value the engine can show; the reason names the element.
		key := fmt.Sprintf("downstreamRefs[%d]", i)
		if refs.IsArray() && i < refs.AsArray().Len() && refs.AsArray().Get(i).HasComputed() {
			continue
		}
		if _, _, err := parseStackRef(key, ref); err != nil {
			fail("downstreamRefs", err)
			continue
		}
		if !unknown["project"] && !unknown["stack"] && ref == self {
			fail("downstreamRefs", fmt.Errorf("%s %q is this stack itself: a stack that redeploys itself would "+
				"loop forever; remove it", key, ref))
		}
		if first, dup := seen[ref]; dup {
			fail("downstreamRefs", fmt.Errorf("%s %q repeats downstreamRefs[%d]: list each downstream stack once",
				key, ref, first))
		}
		seen[ref] = i
	}
	if err := engineFor(ctx).declare(resourceURN(ctx)); err != nil {
		fail("downstreamRefs", err)
	}
	// Order does not matter, so the checked inputs hold the refs sorted: a reordered list
	// then gives the engine the very inputs it has, and it skips rewriting its state.
	// Unknown or secret elements are tracked by position, so such a list keeps its order.
	if !refs.HasComputed() && !refs.HasSecrets() {
		slices.Sort(args.DownstreamRefs)
	}
	return infer.CheckResponse[AutoDeployerArgs]{Inputs: args, Failures: failures}, nil
}

// Create writes one webhook per ref, recording this resource as their owner. In preview
// it checks everything it can and writes nothing.
func (d *AutoDeployer) Create(
	ctx context.Context, req infer.CreateRequest[AutoDeployerArgs],
) (infer.CreateResponse[AutoDeployerState], error) {
	args := req.Inputs
	owner := resourceURN(ctx)
	out, err := writeEdges(ctx, edgeChange{owner: owner, want: edgesFrom(args.source(), args.DownstreamRefs),
		formOf: args.formOf, field: downstreamRefsField}, req.DryRun, args.stateOf(owner))
	return infer.CreateResponse[AutoDeployerState]{ID: args.source().String(), Output: out}, err
}

// Diff compares the refs as a set and names each ref added or removed, not positions in
// a list. A replacement deletes first: old and new would own webhooks of the same names.
func (d *AutoDeployer) Diff(
	ctx context.Context, req infer.DiffRequest[AutoDeployerArgs, AutoDeployerState],
) (infer.DiffResponse, error) {
	if err := engineFor(ctx).declare(req.State.owner(ctx)); err != nil {
		return infer.DiffResponse{}, err
	}
	olds, news := req.State.AutoDeployerArgs, req.Inputs
	diff := map[string]p.PropertyDiff{}
	for _, f := range []struct {
		key      string
		old, new string
	}{{"organization", olds.Organization, news.Organization}, {"project", olds.Project, news.Project},
		{"stack", olds.Stack, news.Stack}} {
		if f.old != f.new {
			diff[f.key] = p.PropertyDiff{Kind: p.UpdateReplace, InputDiff: true}
		}
	}
	maps.Copy(diff, setDiff("downstreamRefs", olds.DownstreamRefs, news.DownstreamRefs))
	if olds.Paused != news.Paused {
		diff["paused"] = p.PropertyDiff{Kind: p.Update, InputDiff: true}
	}
	return infer.DiffResponse{HasChanges: len(diff) > 0, DetailedDiff: diff, DeleteBeforeReplace: true}, nil
}

// Update adds the webhooks of new refs and deletes those of removed refs; refs present
// before and after cost no request.
func (d *AutoDeployer) Update(
	ctx context.Context, req infer.UpdateRequest[AutoDeployerArgs, AutoDeployerState],
) (infer.UpdateResponse[AutoDeployerState], error) {
	owner := req.State.owner(ctx)
	out, err := writeEdges(ctx, edgeChange{owner: owner,
		want:   edgesFrom(req.Inputs.source(), req.Inputs.DownstreamRefs),
		have:   edgesFrom(req.State.source(), req.State.DownstreamRefs),
		formOf: req.Inputs.formOf, wasFormOf: req.State.formOf, field: downstreamRefsField}, req.DryRun,
		req.Inputs.stateOf(owner))
	return infer.UpdateResponse[AutoDeployerState]{Output: out}, err
}

// Read lists the stack's webhooks in one request and keeps those this resource owns in
// the shape it writes them; a changed or deleted one drops out of state, with a warning
// that says why, so the next `pulumi up` restores it. An import adopts the edges recorded
// as owned by the importing resource.
func (d *AutoDeployer) Read(
	ctx context.Context, req infer.ReadRequest[AutoDeployerArgs, AutoDeployerState],
) (infer.ReadResponse[AutoDeployerArgs, AutoDeployerState], error) {
	source, err := parseAutoDeployerID(req.ID)
	if err != nil {
		return infer.ReadResponse[AutoDeployerArgs, AutoDeployerState]{}, err
	}
	importing := req.State.Stack == ""
	// A refresh of an AutoDeployer that neither has nor wants a downstream ref: it owns
	// no webhook, so there is nothing to ask Pulumi Cloud.
	if !importing && len(req.State.DownstreamRefs) == 0 && len(req.Inputs.DownstreamRefs) == 0 {
		return infer.ReadResponse[AutoDeployerArgs, AutoDeployerState]{
			ID: req.ID, Inputs: req.State.AutoDeployerArgs, State: req.State,
		}, nil
	}
	client, err := engineFor(ctx).client(ctx)
	if err != nil {
		return infer.ReadResponse[AutoDeployerArgs, AutoDeployerState]{}, err
	}
	owner := req.State.owner(ctx)
	refs, exists, err := engineFor(ctx).ownedEdges(ctx, client, owner, source, req.State.DownstreamRefs,
		req.State.formOf)
	switch {
	case err != nil:
		return infer.ReadResponse[AutoDeployerArgs, AutoDeployerState]{}, err
	case !exists && importing:
		return infer.ReadResponse[AutoDeployerArgs, AutoDeployerState]{}, fmt.Errorf("importing AutoDeployer "+
			"%s: stack not found in Pulumi Cloud: check the ID (organization/project/stack) and the apiUrl", req.ID)
	case !exists:
		// The stack itself is gone, and its webhooks with it: so is this resource.
		p.GetLogger(ctx).Warningf("stack %s no longer exists in Pulumi Cloud: its deployment webhooks (%s) went "+
			"with it, so this AutoDeployer leaves the state; remove it from the program, or create the stack "+
			"again", source, strings.Join(req.State.DownstreamRefs, ", "))
		return infer.ReadResponse[AutoDeployerArgs, AutoDeployerState]{}, nil
	}
	if err := engineFor(ctx).warnLoops(ctx, client, edgesFrom(source, refs)); err != nil {
		return infer.ReadResponse[AutoDeployerArgs, AutoDeployerState]{}, err
	}
	args := AutoDeployerArgs{Organization: source.org, Project: source.project, Stack: source.stack,
		DownstreamRefs: refs, Paused: req.State.Paused}
	return infer.ReadResponse[AutoDeployerArgs, AutoDeployerState]{
		ID: req.ID, Inputs: args, State: newAutoDeployerState(args, refs, owner),
	}, nil
}

// Delete removes the webhooks this resource owns; those already gone count as removed.
func (d *AutoDeployer) Delete(
	ctx context.Context, req infer.DeleteRequest[AutoDeployerState],
) (infer.DeleteResponse, error) {
	return infer.DeleteResponse{}, engineFor(ctx).deleteAll(ctx, req.ID, req.State.owner(ctx),
		edgesFrom(req.State.source(), req.State.DownstreamRefs), req.State.formOf, downstreamRefsField)
}

// stateOf builds the state from the edges in place, for writeEdges.
func (a AutoDeployerArgs) stateOf(owner string) func([]stackEdge) AutoDeployerState {
	return func(now []stackEdge) AutoDeployerState { return newAutoDeployerState(a, targetsOf(now), owner) }
}

func newAutoDeployerState(args AutoDeployerArgs, refs []string, owner string) AutoDeployerState {
	names := make([]string, len(refs))
	for i, ref := range refs {
		names[i] = edge.Name(ref)
	}
	return AutoDeployerState{
		AutoDeployerArgs:   args.withRefs(refs),
		Ref:                args.Project + "/" + args.Stack,
		DownstreamWebhooks: names,
		Owner:              owner,
	}
}

// owner is the owner recorded in state; state written before owners were recorded (or
// none, on import) takes this resource's URN.
func (s AutoDeployerState) owner(ctx context.Context) string {
	return cmp.Or(s.Owner, resourceURN(ctx))
}

func downstreamRefsField(stackKey) string { return "downstreamRefs" }

// formOf is how the AutoDeployer writes each of its edges: straight, active unless paused.
func (a AutoDeployerArgs) formOf(string) edgeForm { return edgeForm{active: !a.Paused} }

func (a AutoDeployerArgs) source() stackKey { return stackKey{a.Organization, a.Project, a.Stack} }

func (a AutoDeployerArgs) withRefs(refs []string) AutoDeployerArgs {
	if refs == nil {
		refs = []string{}
	}
	a.DownstreamRefs = refs
	return a
}

// The ID is the stack the AutoDeployer manages: {org}/{project}/{stack}.
func parseAutoDeployerID(id string) (stackKey, error) {
	parts := strings.Split(id, "/")
	if len(parts) != 3 || slices.Contains(parts, "") {
		return stackKey{}, fmt.Errorf("AutoDeployer ID %q is not valid: use organization/project/stack", id)
	}
	return stackKey{parts[0], parts[1], parts[2]}, nil
}
