package provider

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"
	"github.com/pulumi/pulumi/sdk/v3/go/property"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
)

var (
	_ infer.CustomCheck[WebhookArgs]                = (*Webhook)(nil)
	_ infer.CustomDiff[WebhookArgs, WebhookState]   = (*Webhook)(nil)
	_ infer.CustomRead[WebhookArgs, WebhookState]   = (*Webhook)(nil)
	_ infer.CustomUpdate[WebhookArgs, WebhookState] = (*Webhook)(nil)
	_ infer.CustomDelete[WebhookState]              = (*Webhook)(nil)

	_ infer.ExplicitDependencies[WebhookArgs, WebhookState] = (*Webhook)(nil)
)

//go:embed webhook.md
var webhookDescription string

// Webhook manages one Pulumi Cloud webhook of any scope and format. It reaches Pulumi
// Cloud through the engine of its provider configuration (engineFor).
type Webhook struct{}

// WebhookArgs are the inputs of a Webhook; names match pulumiservice's Webhook.
type WebhookArgs struct {
	OrganizationName string           `pulumi:"organizationName" provider:"replaceOnChanges"`
	ProjectName      *string          `pulumi:"projectName,optional" provider:"replaceOnChanges"`
	StackName        *string          `pulumi:"stackName,optional" provider:"replaceOnChanges"`
	EnvironmentName  *string          `pulumi:"environmentName,optional" provider:"replaceOnChanges"`
	DisplayName      string           `pulumi:"displayName"`
	PayloadURL       string           `pulumi:"payloadUrl"`
	Active           bool             `pulumi:"active"`
	Format           *WebhookFormat   `pulumi:"format,optional"`
	Filters          []WebhookFilters `pulumi:"filters,optional"`
	Groups           []WebhookGroup   `pulumi:"groups,optional"`
	Secret           *string          `pulumi:"secret,optional" provider:"secret"`
}

// WebhookState is what a Webhook records: its inputs and the name Pulumi Cloud gave it.
type WebhookState struct {
	WebhookArgs
	Name string `pulumi:"name"`
}

// Annotate describes the resource.
func (w *Webhook) Annotate(a infer.Annotator) {
	a.Describe(&w, webhookDescription)
}

// Annotate describes the inputs.
func (a *WebhookArgs) Annotate(an infer.Annotator) {
	an.Describe(&a.OrganizationName, "Name of the Pulumi Cloud organization the webhook belongs to. "+
		"Changing it replaces the webhook.")
	an.Describe(&a.ProjectName, "Name of the project, for a stack or environment webhook. Set it together with "+
		"`stackName` or `environmentName`; leave all three unset for an organization webhook. Changing it replaces "+
		"the webhook.")
	an.Describe(&a.StackName, "Name of the stack, for a stack webhook (requires `projectName`). Changing it "+
		"replaces the webhook.")
	an.Describe(&a.EnvironmentName, "Name of the ESC environment, for an environment webhook (requires "+
		"`projectName`). Changing it replaces the webhook.")
	an.Describe(&a.DisplayName, "The name shown for the webhook in Pulumi Cloud.")
	an.Describe(&a.PayloadURL, "Where events go: an http(s) URL for `raw`, `slack` and `ms_teams` webhooks, or "+
		"the stack to deploy as `project/stack` (same organization) for `pulumi_deployments` webhooks.")
	an.Describe(&a.Active, "Whether the webhook delivers events. An inactive webhook is kept but sends nothing.")
	an.Describe(&a.Format, "The payload format. `raw` when unset. `pulumi_deployments` is allowed on stack "+
		"and environment webhooks only.")
	an.Describe(&a.Filters, "The events the webhook receives. With neither `filters` nor `groups` it receives "+
		"every event of its scope. Compared as a set: order does not matter.")
	an.Describe(&a.Groups, "Groups of events the webhook receives, added to `filters`. Compared as a set.")
	an.Describe(&a.Secret, "Key for the HMAC-SHA256 signature Pulumi Cloud puts in the "+
		"`Pulumi-Webhook-Signature` header of each delivery. Pulumi Cloud never returns it, so a refresh can only "+
		"tell whether one is set.")
}

// Annotate describes the outputs.
func (s *WebhookState) Annotate(a infer.Annotator) {
	a.Describe(&s.Name, "The webhook's name within its scope, chosen by Pulumi Cloud.")
}

// WireDependencies says that the name only changes with the scope: an update in place
// keeps it, so a preview need not show it as unknown.
func (w *Webhook) WireDependencies(f infer.FieldSelector, args *WebhookArgs, state *WebhookState) {
	f.OutputField(&state.Name).DependsOn(f.InputField(&args.OrganizationName), f.InputField(&args.ProjectName),
		f.InputField(&args.StackName), f.InputField(&args.EnvironmentName))
}

// Check validates the inputs at preview time; each rule waits while its input is unknown.
func (w *Webhook) Check(
	ctx context.Context, req infer.CheckRequest,
) (infer.CheckResponse[WebhookArgs], error) {
	args, failures, err := infer.DefaultCheck[WebhookArgs](ctx, req.NewInputs)
	if err != nil {
		return infer.CheckResponse[WebhookArgs]{}, err
	}
	if args.Format == nil && !req.NewInputs.Get("format").IsComputed() {
		raw := WebhookFormatRaw
		args.Format = &raw
	}
	failures = append(failures, checkWebhookArgs(args, unknownKeys(req.NewInputs))...)
	return infer.CheckResponse[WebhookArgs]{Inputs: args, Failures: failures}, nil
}

func checkWebhookArgs(args WebhookArgs, unknown map[string]bool) []p.CheckFailure {
	var failures []p.CheckFailure
	fail := func(property string, err error) {
		failures = append(failures, p.CheckFailure{Property: property, Reason: err.Error()})
	}
	has := func(key string, v *string) bool { return unknown[key] || v != nil }

	if !unknown["organizationName"] {
		if err := validateCloudName("organizationName", args.OrganizationName); err != nil {
			fail("organizationName", err)
		}
	}
	for _, f := range []struct {
		key   string
		value *string
	}{{"projectName", args.ProjectName}, {"stackName", args.StackName}, {"environmentName", args.EnvironmentName}} {
		if f.value != nil && !unknown[f.key] {
			if err := validateCloudName(f.key, *f.value); err != nil {
				fail(f.key, err)
			}
		}
	}

	hasProject, hasStack, hasEnv := has("projectName", args.ProjectName), has("stackName", args.StackName),
		has("environmentName", args.EnvironmentName)
	switch {
	case hasStack && hasEnv:
		fail("stackName", errors.New("set stackName for a stack webhook or environmentName for an environment "+
			"webhook, not both"))
	case hasStack && !hasProject:
		fail("projectName", errors.New("projectName is required with stackName: a stack webhook needs both"))
	case hasEnv && !hasProject:
		fail("projectName", errors.New("projectName is required with environmentName: an environment webhook "+
			"needs both"))
	case hasProject && !hasStack && !hasEnv:
		fail("projectName", errors.New("projectName alone is not a scope: add stackName for a stack webhook or "+
			"environmentName for an environment webhook, or remove projectName for an organization webhook"))
	}
	organizationScope := !hasProject && !hasStack && !hasEnv

	if !unknown["displayName"] && strings.TrimSpace(args.DisplayName) == "" {
		fail("displayName", errors.New("displayName must not be empty"))
	}

	format := WebhookFormatRaw
	if args.Format != nil {
		format = *args.Format
	}
	if !unknown["format"] {
		switch format {
		case WebhookFormatRaw, WebhookFormatSlack, WebhookFormatMicrosoftTeams:
		case WebhookFormatPulumiDeployments:
			if organizationScope {
				fail("format", errors.New("format pulumi_deployments can only be used on stack or environment "+
					"webhooks: set projectName and stackName (or environmentName)"))
			}
		default:
			fail("format", fmt.Errorf("format %q is not supported: use raw, slack, ms_teams or pulumi_deployments",
				truncate(string(format))))
		}
		if !unknown["payloadUrl"] {
			if err := validatePayloadURL(format, args.PayloadURL); err != nil {
				fail("payloadUrl", err)
			}
		}
	}

	if !unknown["filters"] {
		for i, f := range args.Filters {
			if reason := checkEventChoice(webhookEvents, string(f), organizationScope, "filter"); reason != "" {
				fail(fmt.Sprintf("filters[%d]", i), errors.New(reason))
			}
		}
	}
	if !unknown["groups"] {
		for i, g := range args.Groups {
			if reason := checkEventChoice(webhookGroups, string(g), organizationScope, "group"); reason != "" {
				fail(fmt.Sprintf("groups[%d]", i), errors.New(reason))
			}
		}
	}
	return failures
}

func checkEventChoice(list []webhookEvent, value string, organizationScope bool, kind string) string {
	e, ok := lookupEvent(list, value)
	if !ok {
		return fmt.Sprintf("%s %q is not a webhook %s; allowed: %s", kind, truncate(value), kind,
			allowedValues(list, organizationScope))
	}
	if e.organizationOnly && !organizationScope {
		return fmt.Sprintf("%s %q is only valid on organization webhooks; allowed here: %s", kind, value,
			allowedValues(list, false))
	}
	return ""
}

// unknownKeys lists top-level inputs that are still unknown (computed) in this preview.
func unknownKeys(m property.Map) map[string]bool {
	unknown := map[string]bool{}
	for k, v := range m.All {
		if v.HasComputed() {
			unknown[k] = true
		}
	}
	return unknown
}

// Create makes the webhook. A deployment webhook is checked against the other edges of
// its stack first, in preview too: one that duplicates another auto-deploy resource's
// edge is refused, one that duplicates a hand-made webhook is a warning.
func (w *Webhook) Create(
	ctx context.Context, req infer.CreateRequest[WebhookArgs],
) (infer.CreateResponse[WebhookState], error) {
	state := WebhookState{WebhookArgs: req.Inputs}
	if err := w.checkEdge(ctx, req.Inputs, edgeOwner{urn: resourceURN(ctx)}, req.DryRun); err != nil {
		return infer.CreateResponse[WebhookState]{}, err
	}
	if req.DryRun {
		return infer.CreateResponse[WebhookState]{Output: state}, nil
	}
	name, err := w.create(ctx, req.Inputs)
	if err != nil {
		return infer.CreateResponse[WebhookState]{}, err
	}
	state.Name = name
	return infer.CreateResponse[WebhookState]{ID: formatWebhookID(req.Inputs.scope(), name), Output: state}, nil
}

// create writes the webhook under a name of its own. A deployment edge is written pending
// and judged against the graph read afresh, as every new edge is (race): another program
// may have made the same edge, or the other half of a loop, in between; the webhook is
// then deleted again and the create fails. A create that does not land is no longer
// planned.
func (w *Webhook) create(ctx context.Context, args WebhookArgs) (string, error) {
	e := engineFor(ctx)
	source, ref, isEdge := args.deploymentEdge()
	owner := edgeOwner{urn: resourceURN(ctx)}
	client, err := e.client(ctx)
	if err != nil {
		e.unplan(source, owner.urn, ref)
		return "", err
	}
	scope := args.scope()
	if isEdge {
		if err := markEdge(ctx, client, owner.urn, stackEdge{source, ref}); err != nil {
			e.unplan(source, owner.urn, ref)
			return "", describeCloudError(fmt.Sprintf("marking the edge %s → %s on %s", source.ref(), ref, ref), err)
		}
	}
	// The name is chosen here rather than by the service so that a create whose answer is
	// lost can be checked for by name instead of sent twice; its prefix tells the edges of
	// Webhook resources from hand-made ones.
	for {
		owner.webhook = webhookResourceNamePrefix + randomWebhookName()
		first := args.toCloud(owner.webhook)
		if isEdge {
			first = asPending(first, ref, owner.urn)
		}
		outcome, _, err := client.CreateWebhookOnce(ctx, scope, first)
		if err != nil {
			e.unplan(source, owner.urn, ref)
			return "", describeCloudError(fmt.Sprintf("creating webhook %q on %s", args.DisplayName, scope), err)
		}
		if outcome == cloud.Created {
			break
		}
		// Another webhook already has this random name: draw another.
	}
	if isEdge {
		n := newEdge{x: stackEdge{source, ref}, name: owner.webhook, final: args.toCloud(owner.webhook), written: true,
			taken: true}
		if err := e.race(ctx, client, owner, []newEdge{n}, payloadURLField)[0]; err != nil {
			return "", err
		}
	}
	return owner.webhook, nil
}

func payloadURLField(stackKey) string { return "payloadUrl" }

// randomWebhookName makes a name like the ones the service generates (8 hex characters).
func randomWebhookName() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}

// webhookResourceNamePrefix starts the name of every webhook a Webhook resource creates.
const webhookResourceNamePrefix = "autodeploy-wh-"

func isWebhookResourceName(name string) bool {
	return strings.HasPrefix(name, webhookResourceNamePrefix)
}

// checkEdge runs the edge checks for a stack webhook that deploys another stack after an
// update; any other webhook is no deployment edge and passes. Inputs still unknown in
// preview are checked once known. walk reads the graph below the target for loops: a
// create's up judges its edge after writing it instead (race).
func (w *Webhook) checkEdge(ctx context.Context, args WebhookArgs, owner edgeOwner, walk bool) error {
	source, ref, ok := args.deploymentEdge()
	if !ok {
		return nil
	}
	client, err := engineFor(ctx).client(ctx)
	if err != nil {
		return err
	}
	return engineFor(ctx).checkAdds(ctx, client, owner, []stackEdge{{source, ref}}, payloadURLField,
		addChecks{walk: walk, implied: true})
}

// deploymentEdge is the deployment edge the webhook makes, if it makes one.
func (a WebhookArgs) deploymentEdge() (stackKey, string, bool) {
	scope := a.scope()
	if scope.Stack == "" || scope.Project == "" || scope.Organization == "" || a.PayloadURL == "" ||
		!firesOnUpdate(a.toCloud("")) {
		return stackKey{}, "", false
	}
	if _, _, err := parseStackRef("payloadUrl", a.PayloadURL); err != nil {
		return stackKey{}, "", false
	}
	return stackKey{scope.Organization, scope.Project, scope.Stack}, a.PayloadURL, true
}

// Diff compares scope fields for replacement and filters and groups as sets, since the
// service does not keep their order.
func (w *Webhook) Diff(
	_ context.Context, req infer.DiffRequest[WebhookArgs, WebhookState],
) (infer.DiffResponse, error) {
	olds, news := req.State.WebhookArgs, req.Inputs
	diff := map[string]p.PropertyDiff{}
	compare := func(key string, changed, replace bool) {
		if !changed {
			return
		}
		kind := p.Update
		if replace {
			kind = p.UpdateReplace
		}
		diff[key] = p.PropertyDiff{Kind: kind, InputDiff: true}
	}
	compare("organizationName", olds.OrganizationName != news.OrganizationName, true)
	compare("projectName", !equalPtr(olds.ProjectName, news.ProjectName), true)
	compare("stackName", !equalPtr(olds.StackName, news.StackName), true)
	compare("environmentName", !equalPtr(olds.EnvironmentName, news.EnvironmentName), true)
	compare("displayName", olds.DisplayName != news.DisplayName, false)
	compare("payloadUrl", olds.PayloadURL != news.PayloadURL, false)
	compare("active", olds.Active != news.Active, false)
	compare("format", olds.format() != news.format(), false)
	compare("filters", !sameSet(olds.Filters, news.Filters), false)
	compare("groups", !sameSet(olds.Groups, news.Groups), false)
	compare("secret", !equalPtr(olds.Secret, news.Secret), false)
	return infer.DiffResponse{HasChanges: len(diff) > 0, DetailedDiff: diff}, nil
}

// Read serves refresh and import. A webhook deleted out of band reads as gone, so the
// next `pulumi up` creates it again.
func (w *Webhook) Read(
	ctx context.Context, req infer.ReadRequest[WebhookArgs, WebhookState],
) (infer.ReadResponse[WebhookArgs, WebhookState], error) {
	scope, name, err := parseWebhookID(req.ID)
	if err != nil {
		return infer.ReadResponse[WebhookArgs, WebhookState]{}, err
	}
	client, err := engineFor(ctx).client(ctx)
	if err != nil {
		return infer.ReadResponse[WebhookArgs, WebhookState]{}, err
	}
	live, err := client.GetWebhook(ctx, scope, name)
	if errors.Is(err, cloud.ErrNotFound) && req.State.Name == "" {
		// An import of nothing must fail, not store an empty resource.
		return infer.ReadResponse[WebhookArgs, WebhookState]{}, fmt.Errorf("importing webhook %s: not found in "+
			"Pulumi Cloud: check the ID (%s) and the apiUrl", req.ID, webhookIDForms)
	}
	if errors.Is(err, cloud.ErrNotFound) {
		return infer.ReadResponse[WebhookArgs, WebhookState]{}, nil
	}
	if err != nil {
		return infer.ReadResponse[WebhookArgs, WebhookState]{}, describeCloudError(
			fmt.Sprintf("reading webhook %s", req.ID), err)
	}
	args := argsFromLive(scope, live, req.State.WebhookArgs)
	return infer.ReadResponse[WebhookArgs, WebhookState]{
		ID:     req.ID,
		Inputs: args,
		State:  WebhookState{WebhookArgs: args, Name: live.Name},
	}, nil
}

// Update patches the webhook in place; scope changes never reach here (they replace).
func (w *Webhook) Update(
	ctx context.Context, req infer.UpdateRequest[WebhookArgs, WebhookState],
) (infer.UpdateResponse[WebhookState], error) {
	state := WebhookState{WebhookArgs: req.Inputs, Name: req.State.Name}
	newSource, newRef, isEdge := req.Inputs.deploymentEdge()
	oldSource, oldRef, wasEdge := req.State.deploymentEdge()
	if isEdge && (!wasEdge || newSource != oldSource || newRef != oldRef) {
		owner := edgeOwner{urn: resourceURN(ctx), webhook: req.State.Name}
		if err := w.checkEdge(ctx, req.Inputs, owner, true); err != nil {
			return infer.UpdateResponse[WebhookState]{}, err
		}
	}
	if req.DryRun {
		return infer.UpdateResponse[WebhookState]{Output: state}, nil
	}
	client, err := engineFor(ctx).client(ctx)
	if err != nil {
		return infer.UpdateResponse[WebhookState]{}, err
	}
	scope := req.Inputs.scope()
	owner := resourceURN(ctx)
	movesEdge := !wasEdge || !isEdge || newSource != oldSource || newRef != oldRef
	if isEdge && movesEdge {
		if err := markEdge(ctx, client, owner, stackEdge{newSource, newRef}); err != nil {
			return infer.UpdateResponse[WebhookState]{}, describeCloudError(
				fmt.Sprintf("marking the edge %s → %s on %s", newSource.ref(), newRef, newRef), err)
		}
	}
	if _, err := client.UpdateWebhook(ctx, scope, req.State.Name, req.Inputs.toCloud(req.State.Name)); err != nil {
		if errors.Is(err, cloud.ErrNotFound) {
			return infer.UpdateResponse[WebhookState]{}, fmt.Errorf("updating webhook %s: it no longer exists in "+
				"Pulumi Cloud; run `pulumi refresh` and then `pulumi up` to create it again", req.ID)
		}
		return infer.UpdateResponse[WebhookState]{}, describeCloudError(fmt.Sprintf("updating webhook %s", req.ID), err)
	}
	if wasEdge && movesEdge {
		unmarkEdge(ctx, client, owner, stackEdge{oldSource, oldRef})
	}
	return infer.UpdateResponse[WebhookState]{Output: state}, nil
}

// Delete removes the webhook; one already gone counts as deleted so destroy can finish.
func (w *Webhook) Delete(ctx context.Context, req infer.DeleteRequest[WebhookState]) (infer.DeleteResponse, error) {
	client, err := engineFor(ctx).client(ctx)
	if err != nil {
		return infer.DeleteResponse{}, err
	}
	scope := req.State.scope()
	err = client.DeleteWebhook(ctx, scope, req.State.Name)
	if err != nil && !errors.Is(err, cloud.ErrNotFound) {
		return infer.DeleteResponse{}, describeCloudError(fmt.Sprintf("deleting webhook %s", req.ID), err)
	}
	if source, ref, ok := req.State.deploymentEdge(); ok {
		unmarkEdge(ctx, client, resourceURN(ctx), stackEdge{source, ref})
		engineFor(ctx).markRemoved(source, req.State.Name)
	}
	return infer.DeleteResponse{}, nil
}

func (a WebhookArgs) scope() cloud.WebhookScope {
	return cloud.WebhookScope{
		Organization: a.OrganizationName,
		Project:      deref(a.ProjectName),
		Stack:        deref(a.StackName),
		Environment:  deref(a.EnvironmentName),
	}
}

func (a WebhookArgs) format() WebhookFormat {
	if a.Format == nil {
		return WebhookFormatRaw
	}
	return *a.Format
}

func (a WebhookArgs) toCloud(name string) cloud.Webhook {
	return cloud.Webhook{
		Name:        name,
		DisplayName: a.DisplayName,
		PayloadURL:  a.PayloadURL,
		Active:      a.Active,
		Format:      string(a.format()),
		Filters:     toStrings(a.Filters),
		Groups:      toStrings(a.Groups),
		Secret:      deref(a.Secret),
	}
}

// argsFromLive rebuilds inputs from what the service returned, keeping the prior
// spelling (order of filters and groups, an unset format) where it means the same, so a
// refresh with no real change shows no diff. The secret is never returned: it is kept
// from prior state while the service says one is set.
func argsFromLive(scope cloud.WebhookScope, live cloud.Webhook, prior WebhookArgs) WebhookArgs {
	args := WebhookArgs{
		OrganizationName: scope.Organization,
		ProjectName:      optional(scope.Project),
		StackName:        optional(scope.Stack),
		EnvironmentName:  optional(scope.Environment),
		DisplayName:      live.DisplayName,
		PayloadURL:       live.PayloadURL,
		Active:           live.Active,
		Filters:          fromStrings[WebhookFilters](live.Filters),
		Groups:           fromStrings[WebhookGroup](live.Groups),
	}
	format := WebhookFormat(live.Format)
	if format == "" {
		format = WebhookFormatRaw
	}
	args.Format = &format
	if prior.Format == nil && format == WebhookFormatRaw {
		args.Format = nil
	}
	if sameSet(prior.Filters, args.Filters) {
		args.Filters = prior.Filters
	}
	if sameSet(prior.Groups, args.Groups) {
		args.Groups = prior.Groups
	}
	if live.HasSecret {
		args.Secret = prior.Secret
	}
	return args
}

// Import IDs, as pulumiservice writes them:
//
//	organization: {org}/{name}
//	stack:        {org}/{project}/{stack}/{name}
//	environment:  {org}/environment/{project}/{env}/{name}
func formatWebhookID(scope cloud.WebhookScope, name string) string {
	switch {
	case scope.Stack != "":
		return strings.Join([]string{scope.Organization, scope.Project, scope.Stack, name}, "/")
	case scope.Environment != "":
		return strings.Join([]string{scope.Organization, "environment", scope.Project, scope.Environment, name}, "/")
	default:
		return scope.Organization + "/" + name
	}
}

func parseWebhookID(id string) (cloud.WebhookScope, string, error) {
	parts := strings.Split(id, "/")
	for _, part := range parts {
		if part == "" {
			parts = nil
			break
		}
	}
	switch {
	case len(parts) == 2:
		return cloud.WebhookScope{Organization: parts[0]}, parts[1], nil
	case len(parts) == 4:
		return cloud.WebhookScope{Organization: parts[0], Project: parts[1], Stack: parts[2]}, parts[3], nil
	case len(parts) == 5 && parts[1] == "environment":
		return cloud.WebhookScope{Organization: parts[0], Project: parts[2], Environment: parts[3]}, parts[4], nil
	}
	return cloud.WebhookScope{}, "", fmt.Errorf("webhook ID %q is not valid: use %s", id, webhookIDForms)
}

const webhookIDForms = "org/name for an organization webhook, org/project/stack/name for a stack webhook, or " +
	"org/environment/project/env/name for an environment webhook"

func sameSet[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for _, v := range a {
		if !slices.Contains(b, v) {
			return false
		}
	}
	for _, v := range b {
		if !slices.Contains(a, v) {
			return false
		}
	}
	return true
}

func equalPtr[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func toStrings[T ~string](values []T) []string {
	if values == nil {
		return nil
	}
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = string(v)
	}
	return out
}

func fromStrings[T ~string](values []string) []T {
	if len(values) == 0 {
		return nil
	}
	out := make([]T, len(values))
	for i, v := range values {
		out[i] = T(v)
	}
	return out
}
