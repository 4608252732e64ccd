package provider

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"

	"github.com/autodeploy-dev/pulumi-auto-deploy/provider/cloud"
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

// maxParallelRequests bounds the requests one AutoDeployer has in flight, so a stack
// with many downstream refs is fast without tripping Pulumi Cloud's rate limits.
const maxParallelRequests = 8

// AutoDeployer keeps one deployment webhook per downstream stack on its stack.
type AutoDeployer struct {
	clients *clientSource
	graph   *deployGraph
}

// AutoDeployerArgs are the inputs; names match Pulumi's auto-deploy package.
type AutoDeployerArgs struct {
	Organization   string   `pulumi:"organization" provider:"replaceOnChanges"`
	Project        string   `pulumi:"project" provider:"replaceOnChanges"`
	Stack          string   `pulumi:"stack" provider:"replaceOnChanges"`
	DownstreamRefs []string `pulumi:"downstreamRefs,optional"`
}

// AutoDeployerState records which edges exist in Pulumi Cloud; after a partial failure
// it holds only those that were written.
type AutoDeployerState struct {
	AutoDeployerArgs
	Ref                string   `pulumi:"ref"`
	DownstreamWebhooks []string `pulumi:"downstreamWebhooks"`
}

// Annotate describes the resource.
func (d *AutoDeployer) Annotate(a infer.Annotator) {
	a.Describe(&d, autoDeployerDescription)
}

// Annotate describes the inputs.
func (a *AutoDeployerArgs) Annotate(an infer.Annotator) {
	an.Describe(&a.Organization, "The Pulumi Cloud organization of the stack and of every downstream stack.")
	an.Describe(&a.Project, "The project of the stack whose updates trigger the downstream deployments.")
	an.Describe(&a.Stack, "The stack whose updates trigger the downstream deployments.")
	an.Describe(&a.DownstreamRefs, "The stacks to redeploy after each successful update of this stack, as "+
		"`project/stack` (pass other AutoDeployers' `ref` outputs). Order does not matter; each ref may appear once "+
		"and never this stack itself.")
}

// Annotate describes the outputs.
func (s *AutoDeployerState) Annotate(a infer.Annotator) {
	a.Describe(&s.Ref, "This stack as `project/stack`, to pass in another AutoDeployer's `downstreamRefs`. "+
		"Known during preview.")
	a.Describe(&s.DownstreamWebhooks, "The names of the deployment webhooks in Pulumi Cloud, one per downstream ref.")
}

// WireDependencies makes ref and the webhook names known during preview: both follow
// from the inputs alone, and refs must flow between AutoDeployers in `pulumi preview`.
func (d *AutoDeployer) WireDependencies(f infer.FieldSelector, args *AutoDeployerArgs, state *AutoDeployerState) {
	f.OutputField(&state.Ref).AlwaysKnown()
	f.OutputField(&state.Ref).DependsOn(f.InputField(&args.Project), f.InputField(&args.Stack))
	f.OutputField(&state.DownstreamWebhooks).AlwaysKnown()
	f.OutputField(&state.DownstreamWebhooks).DependsOn(f.InputField(&args.DownstreamRefs))
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
		key := fmt.Sprintf("downstreamRefs[%d]", i)
		if refs.IsArray() && i < refs.AsArray().Len() && refs.AsArray().Get(i).HasComputed() {
			continue
		}
		if _, _, err := parseStackRef(key, ref); err != nil {
			fail(key, err)
			continue
		}
		if !unknown["project"] && !unknown["stack"] && ref == self {
			fail(key, fmt.Errorf("%s %q is this stack itself: a stack that redeploys itself would loop "+
				"forever; remove it", key, ref))
		}
		if first, dup := seen[ref]; dup {
			fail(key, fmt.Errorf("%s %q repeats downstreamRefs[%d]: list each downstream stack once", key, ref, first))
		}
		seen[ref] = i
	}
	// Order does not matter, so the checked inputs hold the refs sorted: a reordered list
	// then gives the engine the very inputs it has, and it skips rewriting its state.
	// Unknown or secret elements are tracked by position, so such a list keeps its order.
	if !refs.HasComputed() && !refs.HasSecrets() {
		slices.Sort(args.DownstreamRefs)
	}
	return infer.CheckResponse[AutoDeployerArgs]{Inputs: args, Failures: failures}, nil
}

// Create writes one webhook per ref. In preview it checks the targets it can read and
// writes nothing.
func (d *AutoDeployer) Create(
	ctx context.Context, req infer.CreateRequest[AutoDeployerArgs],
) (infer.CreateResponse[AutoDeployerState], error) {
	args := req.Inputs
	id := args.source().String()
	state, err := d.reconcile(ctx, args, nil, req.DryRun)
	if err != nil && !errors.As(err, &infer.ResourceInitFailedError{}) {
		return infer.CreateResponse[AutoDeployerState]{}, err
	}
	return infer.CreateResponse[AutoDeployerState]{ID: id, Output: state}, err
}

// Diff compares the refs as a set: reordering them changes nothing.
func (d *AutoDeployer) Diff(
	_ context.Context, req infer.DiffRequest[AutoDeployerArgs, AutoDeployerState],
) (infer.DiffResponse, error) {
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
	if !sameSet(olds.DownstreamRefs, news.DownstreamRefs) {
		diff["downstreamRefs"] = p.PropertyDiff{Kind: p.Update, InputDiff: true}
	}
	return infer.DiffResponse{HasChanges: len(diff) > 0, DetailedDiff: diff}, nil
}

// Update adds the webhooks of new refs and deletes those of removed refs; refs present
// before and after cost no request.
func (d *AutoDeployer) Update(
	ctx context.Context, req infer.UpdateRequest[AutoDeployerArgs, AutoDeployerState],
) (infer.UpdateResponse[AutoDeployerState], error) {
	state, err := d.reconcile(ctx, req.Inputs, req.State.DownstreamRefs, req.DryRun)
	return infer.UpdateResponse[AutoDeployerState]{Output: state}, err
}

// Read lists the stack's webhooks in one request and keeps those this resource owns in
// the shape it writes them; a changed or deleted one drops out of state, so the next
// `pulumi up` restores it.
func (d *AutoDeployer) Read(
	ctx context.Context, req infer.ReadRequest[AutoDeployerArgs, AutoDeployerState],
) (infer.ReadResponse[AutoDeployerArgs, AutoDeployerState], error) {
	source, err := parseAutoDeployerID(req.ID)
	if err != nil {
		return infer.ReadResponse[AutoDeployerArgs, AutoDeployerState]{}, err
	}
	// A refresh of an AutoDeployer that neither has nor wants a downstream ref: it owns
	// no webhook, so there is nothing to ask Pulumi Cloud. An import (no prior state)
	// always lists.
	if req.State.Stack != "" && len(req.State.DownstreamRefs) == 0 && len(req.Inputs.DownstreamRefs) == 0 {
		return infer.ReadResponse[AutoDeployerArgs, AutoDeployerState]{
			ID: req.ID, Inputs: req.State.AutoDeployerArgs, State: req.State,
		}, nil
	}
	client, err := d.clients.get(ctx)
	if err != nil {
		return infer.ReadResponse[AutoDeployerArgs, AutoDeployerState]{}, err
	}
	hooks, err := client.ListWebhooks(ctx, source.scope())
	if errors.Is(err, cloud.ErrNotFound) {
		return infer.ReadResponse[AutoDeployerArgs, AutoDeployerState]{}, nil // the stack itself is gone
	}
	if err != nil {
		return infer.ReadResponse[AutoDeployerArgs, AutoDeployerState]{}, describeCloudError(
			fmt.Sprintf("listing webhooks of %s", source), err)
	}
	var live []string
	for _, h := range hooks {
		if ownsWebhook(h) && isDesiredWebhook(h, h.PayloadURL) {
			live = append(live, h.PayloadURL)
		}
	}
	// Keep the prior order for refs still there, then any owned webhook state did not
	// know (one whose create answer was lost), so the next up deletes it if unwanted.
	var refs []string
	for _, ref := range req.State.DownstreamRefs {
		if slices.Contains(live, ref) {
			refs = append(refs, ref)
		}
	}
	slices.Sort(live)
	for _, ref := range live {
		if !slices.Contains(refs, ref) {
			refs = append(refs, ref)
		}
	}
	args := AutoDeployerArgs{Organization: source.org, Project: source.project, Stack: source.stack,
		DownstreamRefs: refs}
	return infer.ReadResponse[AutoDeployerArgs, AutoDeployerState]{
		ID: req.ID, Inputs: args, State: newAutoDeployerState(args, refs),
	}, nil
}

// Delete removes the webhooks this resource owns; those already gone count as removed.
func (d *AutoDeployer) Delete(
	ctx context.Context, req infer.DeleteRequest[AutoDeployerState],
) (infer.DeleteResponse, error) {
	_, err := d.reconcile(ctx, req.State.AutoDeployerArgs.withRefs(nil), req.State.DownstreamRefs, false)
	if failed := (infer.ResourceInitFailedError{}); errors.As(err, &failed) {
		// A resource being deleted has no partial state to keep: say what failed instead.
		return infer.DeleteResponse{}, fmt.Errorf("deleting %s: %s", req.ID, strings.Join(failed.Reasons, "; "))
	}
	return infer.DeleteResponse{}, err
}

// reconcile moves the stack's owned webhooks from the refs in have to those in args and
// returns the state that is now true. Failed edges leave the rest in place and come back
// as infer.ResourceInitFailedError, so the engine keeps the partial state.
func (d *AutoDeployer) reconcile(
	ctx context.Context, args AutoDeployerArgs, have []string, dryRun bool,
) (AutoDeployerState, error) {
	source := args.source()
	// In preview a ref still unknown decodes as ""; it is checked once it is known.
	add := slices.DeleteFunc(without(args.DownstreamRefs, have), func(ref string) bool { return ref == "" })
	remove := without(have, args.DownstreamRefs)
	planned := newAutoDeployerState(args, args.DownstreamRefs)
	if len(add) == 0 && len(remove) == 0 {
		return planned, nil
	}
	client, err := d.clients.get(ctx)
	if err != nil {
		return AutoDeployerState{}, err
	}
	// Every target is checked, and the cycle check done, before the first write. Both only
	// read, so the graph the cycle check walks is read while the targets are checked.
	var warmed sync.WaitGroup
	var warmErr error
	if !dryRun {
		warmed.Go(func() { warmErr = d.graph.warm(ctx, client, source, add) })
	}
	err = d.checkTargets(ctx, client, source, add)
	warmed.Wait()
	if err != nil {
		return AutoDeployerState{}, err
	}
	if dryRun {
		return planned, nil
	}
	if warmErr != nil {
		return AutoDeployerState{}, warmErr
	}
	if err := d.graph.planEdges(ctx, client, source, add); err != nil {
		return AutoDeployerState{}, err
	}

	failures := make([]error, len(add)+len(remove))
	forEach(len(failures), func(i int) {
		if i < len(add) {
			failures[i] = ensureWebhook(ctx, client, source, add[i])
		} else {
			failures[i] = removeWebhook(ctx, client, source, remove[i-len(add)])
		}
	})

	var reasons []string
	var failedAdds, removed []string
	refs := slices.Clone(have)
	for i, err := range failures {
		ref := ""
		if i < len(add) {
			ref = add[i]
		} else {
			ref = remove[i-len(add)]
		}
		switch {
		case err != nil:
			reasons = append(reasons, err.Error())
			if i < len(add) {
				failedAdds = append(failedAdds, ref)
			}
		case i < len(add):
			refs = append(refs, ref)
		default:
			removed = append(removed, ref)
		}
	}
	d.graph.setEdges(source, append(failedAdds, removed...), false)
	refs = ordered(without(refs, removed), args.DownstreamRefs)
	state := newAutoDeployerState(args, refs)
	if len(reasons) > 0 {
		return state, infer.ResourceInitFailedError{Reasons: reasons}
	}
	return state, nil
}

func (d *AutoDeployer) checkTargets(ctx context.Context, client Client, source stackKey, refs []string) error {
	errs := make([]error, len(refs))
	forEach(len(refs), func(i int) {
		project, stack, _ := strings.Cut(refs[i], "/")
		errs[i] = d.graph.checkTarget(ctx, client, stackKey{source.org, project, stack})
	})
	return errors.Join(errs...)
}

// ensureWebhook creates the edge's webhook under its deterministic name. Finding one
// there already means an earlier attempt landed (its answer lost, or the provider was
// stopped): it is adopted, and repaired if it was changed since.
func ensureWebhook(ctx context.Context, client Client, source stackKey, ref string) error {
	want := desiredWebhook(ref)
	_, live, err := createIdempotent(ctx, client, source.scope(), want)
	if err != nil {
		return describeCloudError(fmt.Sprintf("creating the deployment webhook %s → %s", source, ref), err)
	}
	if isDesiredWebhook(live, ref) {
		return nil
	}
	if _, err := client.UpdateWebhook(ctx, source.scope(), want.Name, want); err != nil {
		return describeCloudError(fmt.Sprintf("repairing the deployment webhook %s → %s", source, ref), err)
	}
	return nil
}

func removeWebhook(ctx context.Context, client Client, source stackKey, ref string) error {
	err := client.DeleteWebhook(ctx, source.scope(), webhookNameFor(ref))
	if err != nil && !errors.Is(err, cloud.ErrNotFound) {
		return describeCloudError(fmt.Sprintf("deleting the deployment webhook %s → %s", source, ref), err)
	}
	return nil
}

// webhookNameFor derives the webhook's name from its target, which makes creates safe to
// retry and tells this provider's webhooks from any others on the stack.
func webhookNameFor(ref string) string {
	sum := sha256.Sum256([]byte(ref))
	return "autodeploy-" + hex.EncodeToString(sum[:8])
}

func desiredWebhook(ref string) cloud.Webhook {
	return cloud.Webhook{
		Name:        webhookNameFor(ref),
		DisplayName: "auto-deploy: " + ref,
		PayloadURL:  ref,
		Active:      true,
		Format:      string(WebhookFormatPulumiDeployments),
		Filters:     []string{"update_succeeded"},
	}
}

func ownsWebhook(h cloud.Webhook) bool { return h.Name == webhookNameFor(h.PayloadURL) }

func isDesiredWebhook(h cloud.Webhook, ref string) bool {
	want := desiredWebhook(ref)
	return h.Name == want.Name && h.PayloadURL == ref && h.Active && h.Format == want.Format &&
		h.DisplayName == want.DisplayName && sameSet(h.Filters, want.Filters) && len(h.Groups) == 0
}

func newAutoDeployerState(args AutoDeployerArgs, refs []string) AutoDeployerState {
	names := make([]string, len(refs))
	for i, ref := range refs {
		names[i] = webhookNameFor(ref)
	}
	return AutoDeployerState{
		AutoDeployerArgs:   args.withRefs(refs),
		Ref:                args.Project + "/" + args.Stack,
		DownstreamWebhooks: names,
	}
}

func (a AutoDeployerArgs) source() stackKey { return stackKey{a.Organization, a.Project, a.Stack} }

func (a AutoDeployerArgs) withRefs(refs []string) AutoDeployerArgs {
	if refs == nil {
		refs = []string{}
	}
	a.DownstreamRefs = refs
	return a
}

func (k stackKey) scope() cloud.WebhookScope {
	return cloud.WebhookScope{Organization: k.org, Project: k.project, Stack: k.stack}
}

// The ID is the stack the AutoDeployer manages: {org}/{project}/{stack}.
func parseAutoDeployerID(id string) (stackKey, error) {
	parts := strings.Split(id, "/")
	if len(parts) != 3 || slices.Contains(parts, "") {
		return stackKey{}, fmt.Errorf("AutoDeployer ID %q is not valid: use organization/project/stack", id)
	}
	return stackKey{parts[0], parts[1], parts[2]}, nil
}

// without returns the elements of a not in b, in a's order.
func without(a, b []string) []string {
	var out []string
	for _, v := range a {
		if !slices.Contains(b, v) {
			out = append(out, v)
		}
	}
	return out
}

// ordered returns refs sorted by their position in want, unknown ones last.
func ordered(refs, want []string) []string {
	out := slices.Clone(refs)
	slices.SortStableFunc(out, func(a, b string) int {
		ia, ib := slices.Index(want, a), slices.Index(want, b)
		if ia < 0 {
			ia = len(want)
		}
		if ib < 0 {
			ib = len(want)
		}
		return ia - ib
	})
	return out
}

// forEach runs fn for 0..n-1 with at most maxParallelRequests at once.
func forEach(n int, fn func(i int)) {
	var wg sync.WaitGroup
	slots := make(chan struct{}, maxParallelRequests)
	for i := range n {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			fn(i)
		}()
	}
	wg.Wait()
}
