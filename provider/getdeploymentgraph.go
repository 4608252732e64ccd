package provider

import (
	"cmp"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"strings"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"
	"github.com/pulumi/pulumi/sdk/v3/go/property"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
)

var _ infer.Fn[GetDeploymentGraphArgs, GetDeploymentGraphResult] = (*GetDeploymentGraph)(nil)

//go:embed getdeploymentgraph.md
var getDeploymentGraphDescription string

// GetDeploymentGraph reads an organization's live deployment graph from Pulumi Cloud:
// every stack's webhooks, whoever made them.
type GetDeploymentGraph struct{}

// GetDeploymentGraphArgs selects what to read.
type GetDeploymentGraphArgs struct {
	Organization      string   `pulumi:"organization,optional"`
	Projects          []string `pulumi:"projects,optional"`
	IncludeDeliveries bool     `pulumi:"includeDeliveries,optional"`
}

// GetDeploymentGraphResult is the graph as data and as a picture.
type GetDeploymentGraphResult struct {
	Organization string              `pulumi:"organization"`
	Edges        map[string][]string `pulumi:"edges"`
	Mermaid      string              `pulumi:"mermaid"`
	Webhooks     []GraphWebhook      `pulumi:"webhooks"`
	Cycles       [][]string          `pulumi:"cycles"`
	Duplicates   []GraphDuplicate    `pulumi:"duplicates"`
}

// GraphDuplicate is an edge made by more than one webhook: its target deploys once per webhook.
type GraphDuplicate struct {
	Source   string   `pulumi:"source"`
	Target   string   `pulumi:"target"`
	Webhooks []string `pulumi:"webhooks"`
}

// Annotate describes a duplicate.
func (d *GraphDuplicate) Annotate(a infer.Annotator) {
	a.Describe(&d.Source, "The stack, `project/stack`, whose webhooks deploy the target twice or more.")
	a.Describe(&d.Target, "The stack deployed once per webhook after each update of the source.")
	a.Describe(&d.Webhooks, "The webhooks, each as `name (who made it)`.")
}

// GraphWebhook is one stack webhook as the graph sees it: an edge that fires, or why not.
type GraphWebhook struct {
	Source      string `pulumi:"source"`
	Target      string `pulumi:"target"`
	Name        string `pulumi:"name"`
	DisplayName string `pulumi:"displayName"`
	Format      string `pulumi:"format"`
	Active      bool   `pulumi:"active"`
	ManagedBy   string `pulumi:"managedBy"`
	Relay       string `pulumi:"relay"`
	Owner       string `pulumi:"owner"`
	Fires       bool   `pulumi:"fires"`
	Reason      string `pulumi:"reason"`
	Dangling    string `pulumi:"dangling"`
	// Deliveries are the webhook's recent deliveries, newest first, when includeDeliveries is set.
	Deliveries []GraphDelivery `pulumi:"deliveries"`
}

// GraphDelivery is one delivery of a deployment webhook.
type GraphDelivery struct {
	Timestamp    int    `pulumi:"timestamp"`
	ResponseCode int    `pulumi:"responseCode"`
	ResponseBody string `pulumi:"responseBody"`
	Failed       bool   `pulumi:"failed"`
}

// Annotate describes the function.
func (f *GetDeploymentGraph) Annotate(a infer.Annotator) {
	a.Describe(&f, getDeploymentGraphDescription)
}

// Annotate describes the arguments.
func (a *GetDeploymentGraphArgs) Annotate(an infer.Annotator) {
	an.Describe(&a.Organization, "The Pulumi Cloud organization to read. When unset: `auto-deploy:organization`, "+
		"else the access token's default organization.")
	an.Describe(&a.Projects, "Read only the stacks of these projects (edges to stacks of other projects are kept).")
	an.Describe(&a.IncludeDeliveries, "Also read each deployment webhook's recent deliveries (one request per "+
		"webhook), so a failed delivery shows with its time and response.")
}

// Annotate describes the result.
func (r *GetDeploymentGraphResult) Annotate(a infer.Annotator) {
	a.Describe(&r.Organization, "The organization read.")
	a.Describe(&r.Edges, "Each upstream stack `project/stack` and the stacks an active `pulumi_deployments` "+
		"webhook of it deploys after a successful update, whoever made the webhook (auto-deploy resources, the "+
		"console, another tool). Edges to a missing stack or one without deployment settings are included: they "+
		"fire, and fail (see `webhooks[].dangling`).")
	a.Describe(&r.Mermaid, "The same graph as a Mermaid `flowchart`: one arrow per edge, labelled `project/stack`; "+
		"a dangling edge is a dotted arrow labelled with what is wrong. Paste it into a Markdown file.")
	a.Describe(&r.Webhooks, "Every webhook of the stacks read: the edges, and the webhooks left out of `edges` "+
		"with the reason.")
	a.Describe(&r.Cycles, "Each deployment loop among the edges, whoever made them, as a path from a stack back "+
		"to itself: an update of any stack on it redeploys the stacks on it forever.")
	a.Describe(&r.Duplicates, "Each edge made by more than one webhook, whoever made them: its target deploys "+
		"once per webhook after each update.")
}

// Annotate describes one webhook.
func (w *GraphWebhook) Annotate(a infer.Annotator) {
	a.Describe(&w.Source, "The stack the webhook is on, `project/stack`.")
	a.Describe(&w.Target, "The stack it deploys, `project/stack`, for a `pulumi_deployments` webhook; its URL "+
		"otherwise.")
	a.Describe(&w.Name, "The webhook's name in Pulumi Cloud.")
	a.Describe(&w.DisplayName, "The webhook's display name.")
	a.Describe(&w.Format, "The webhook's format.")
	a.Describe(&w.Active, "Whether the webhook is active.")
	a.Describe(&w.Relay, "For an edge through a cascade relay, the URL it delivers to (the relay then deploys "+
		"`target`); empty for an edge straight to Pulumi Deployments.")
	a.Describe(&w.ManagedBy, "`AutoDeployer or DeploymentGraph`, `Webhook` (an auto-deploy Webhook resource), "+
		"or `other` (made by hand or by another tool).")
	a.Describe(&w.Owner, "For an edge of an AutoDeployer or DeploymentGraph, the URN recorded as its owner.")
	a.Describe(&w.Fires, "Whether it deploys its target after a successful update of its stack.")
	a.Describe(&w.Reason, "Why it does not fire, when it does not.")
	a.Describe(&w.Dangling, "For an edge that fires, what is wrong with its target: `target stack does not "+
		"exist` or `target has no deployment settings`; empty when the target can be deployed.")
	a.Describe(&w.Deliveries, "Recent deliveries, newest first, when `includeDeliveries` is set.")
}

// Annotate describes one delivery.
func (d *GraphDelivery) Annotate(a infer.Annotator) {
	a.Describe(&d.Timestamp, "When it was sent, in Unix seconds.")
	a.Describe(&d.ResponseCode, "The answer's status code (for a deployment webhook: whether the deployment "+
		"started).")
	a.Describe(&d.ResponseBody, "The answer's body, cut to 120 bytes.")
	a.Describe(&d.Failed, "Whether the delivery failed (no answer, or a status of 400 or more).")
}

// maxDeliveries bounds the deliveries reported per webhook.
const maxDeliveries = 5

// Invoke lists the organization's stacks, then each stack's webhooks once, with the reads
// bounded in parallel, and checks each edge's target.
func (f *GetDeploymentGraph) Invoke(
	ctx context.Context, req infer.FunctionRequest[GetDeploymentGraphArgs],
) (infer.FunctionResponse[GetDeploymentGraphResult], error) {
	args := req.Input
	org, err := engineFor(ctx).resolveOrganization(ctx, args.Organization, property.Value{})
	if err != nil {
		return infer.FunctionResponse[GetDeploymentGraphResult]{}, err
	}
	client, err := engineFor(ctx).client(ctx)
	if err != nil {
		return infer.FunctionResponse[GetDeploymentGraphResult]{}, err
	}
	all, err := client.ListStacks(ctx, cloud.StackFilter{Organization: org})
	if err != nil {
		return infer.FunctionResponse[GetDeploymentGraphResult]{}, describeCloudError(
			"listing the stacks of organization "+org, err)
	}
	exists := map[string]bool{}
	var read []stackKey
	for _, s := range all {
		exists[s.ProjectName+"/"+s.StackName] = true
		if len(args.Projects) == 0 || slices.Contains(args.Projects, s.ProjectName) {
			read = append(read, stackKey{org, s.ProjectName, s.StackName})
		}
	}

	hooks := make([][]cloud.Webhook, len(read))
	errs := make([]error, len(read))
	// Read afresh, not through the run's cache: a program that reads its graph back after
	// creating it must see the webhooks the run just wrote.
	forEachRead(len(read), func(i int) {
		listed, err := listWebhooks(ctx, client, read[i]) // a stack deleted since the listing has none
		hooks[i], errs[i] = listed.hooks, err
	})
	if err := errors.Join(errs...); err != nil {
		return infer.FunctionResponse[GetDeploymentGraphResult]{}, err
	}

	result := GetDeploymentGraphResult{Organization: org, Edges: map[string][]string{}, Webhooks: []GraphWebhook{}}
	for i, source := range read {
		for _, h := range hooks[i] {
			if !isMark(h) {
				result.Webhooks = append(result.Webhooks, describeWebhook(source, h))
			}
		}
	}
	// Which targets can be deployed: a missing stack is known from the listing; settings
	// take one read per distinct target that exists.
	var targets []string
	for _, w := range result.Webhooks {
		if w.Fires && exists[w.Target] && !slices.Contains(targets, w.Target) {
			targets = append(targets, w.Target)
		}
	}
	settled := make([]error, len(targets))
	forEachRead(len(targets), func(i int) {
		settled[i] = engineFor(ctx).checkTarget(ctx, client, stackKey{org: org}.at(targets[i]))
	})
	noSettings := map[string]bool{}
	for i, err := range settled {
		noSettings[targets[i]] = err != nil
	}
	for i := range result.Webhooks {
		w := &result.Webhooks[i]
		switch {
		case !w.Fires:
		case !exists[w.Target]:
			w.Dangling = "target stack does not exist"
		case noSettings[w.Target]:
			w.Dangling = "target has no deployment settings"
		}
		if w.Fires {
			result.Edges[w.Source] = append(result.Edges[w.Source], w.Target)
		}
	}
	for source := range result.Edges {
		slices.Sort(result.Edges[source])
	}
	if args.IncludeDeliveries {
		if err := f.readDeliveries(ctx, client, org, result.Webhooks); err != nil {
			return infer.FunctionResponse[GetDeploymentGraphResult]{}, err
		}
	}
	result.Mermaid = mermaid(result.Webhooks)
	result.Cycles, result.Duplicates = loopsAndDuplicates(result.Edges, result.Webhooks)
	log := p.GetLogger(ctx)
	for _, loop := range result.Cycles {
		log.Warningf("deployment cycle in Pulumi Cloud: %s: every update of a stack on it redeploys the stacks on "+
			"it forever; remove one of its edges", arrowPath(loop))
	}
	for _, d := range result.Duplicates {
		log.Warningf("%s deploys %s %d times after each update, once per webhook: %s; remove all but one",
			d.Source, d.Target, len(d.Webhooks), strings.Join(d.Webhooks, ", "))
	}
	return infer.FunctionResponse[GetDeploymentGraphResult]{Output: result}, nil
}

// loopsAndDuplicates finds the loops of edges (one path per strongly connected part, from
// its first stack by name) and the edges that more than one firing webhook makes.
func loopsAndDuplicates(edges map[string][]string, hooks []GraphWebhook) ([][]string, []GraphDuplicate) {
	loops := [][]string{}
	byPart := map[int][]string{}
	for ref, part := range stronglyConnected(edges) {
		byPart[part] = append(byPart[part], ref)
	}
	for _, refs := range byPart {
		slices.Sort(refs)
		start := refs[0]
		if len(refs) == 1 && !slices.Contains(edges[start], start) {
			continue
		}
		loops = append(loops, append([]string{start}, pathBetween(edges, edges[start], start)...))
	}
	slices.SortFunc(loops, func(a, b []string) int { return strings.Compare(a[0], b[0]) })
	duplicates := []GraphDuplicate{}
	made := map[[2]string][]string{}
	var order [][2]string
	for _, w := range hooks {
		if !w.Fires {
			continue
		}
		k := [2]string{w.Source, w.Target}
		if _, ok := made[k]; !ok {
			order = append(order, k)
		}
		who := w.Owner
		switch {
		case who != "":
			who = "owner: " + who
		case w.ManagedBy == "Webhook":
			who = fmt.Sprintf("a Webhook resource, display name %q", w.DisplayName)
		default:
			who = fmt.Sprintf("display name %q", w.DisplayName)
		}
		made[k] = append(made[k], fmt.Sprintf("%s (%s)", w.Name, who))
	}
	for _, k := range order {
		if len(made[k]) > 1 {
			duplicates = append(duplicates, GraphDuplicate{Source: k[0], Target: k[1], Webhooks: made[k]})
		}
	}
	return loops, duplicates
}

// describeWebhook says what a stack webhook is to the graph.
func describeWebhook(source stackKey, h cloud.Webhook) GraphWebhook {
	target, relay := deployTarget(h), ""
	if target == "" {
		target = h.PayloadURL
	} else if h.Format != string(WebhookFormatPulumiDeployments) {
		relay = h.PayloadURL
	}
	w := GraphWebhook{Source: source.ref(), Target: target, Name: h.Name, DisplayName: h.DisplayName,
		Format: h.Format, Active: h.Active, ManagedBy: "other", Relay: relay, Deliveries: []GraphDelivery{}}
	switch {
	case isEdge(h):
		w.ManagedBy, w.Owner = "AutoDeployer or DeploymentGraph", ownerOf(h)
	case isWebhookResourceName(h.Name):
		w.ManagedBy = "Webhook"
	}
	w.Fires = firesOnUpdate(h)
	switch {
	case w.Fires:
	case deployTarget(h) == "":
		w.Reason = fmt.Sprintf("format %s does not deploy a stack", cmp.Or(h.Format, "raw"))
	case isPending(h):
		w.Reason = "pending: written by a `pulumi up` that has not finished checking it (or was interrupted)"
	case !h.Active:
		w.Reason = "inactive"
	default:
		w.Reason = fmt.Sprintf("fires on %s, not on update_succeeded",
			strings.Join(slices.Concat(h.Filters, h.Groups), ", "))
	}
	return w
}

// readDeliveries fills in each deployment webhook's recent deliveries, one read each.
func (f *GetDeploymentGraph) readDeliveries(ctx context.Context, client Client, org string, hooks []GraphWebhook) error {
	errs := make([]error, len(hooks))
	forEachRead(len(hooks), func(i int) {
		w := &hooks[i]
		if w.Format != string(WebhookFormatPulumiDeployments) && w.Relay == "" {
			return
		}
		source := stackKey{org: org}.at(w.Source)
		deliveries, err := client.ListWebhookDeliveries(ctx, source.scope(), w.Name)
		if err != nil {
			errs[i] = describeCloudError(fmt.Sprintf("reading the deliveries of webhook %s on %s", w.Name, source), err)
			return
		}
		slices.SortStableFunc(deliveries, func(a, b cloud.WebhookDelivery) int { return int(b.Timestamp - a.Timestamp) })
		for _, d := range deliveries[:min(len(deliveries), maxDeliveries)] {
			w.Deliveries = append(w.Deliveries, GraphDelivery{Timestamp: int(d.Timestamp), ResponseCode: d.ResponseCode,
				ResponseBody: truncate(d.ResponseBody), Failed: d.ResponseCode == 0 || d.ResponseCode >= 400})
		}
	})
	return errors.Join(errs...)
}

// mermaid draws the edges that fire as a flowchart: a solid arrow for an edge whose target
// can be deployed, a dotted one labelled with the problem for a dangling one.
func mermaid(hooks []GraphWebhook) string {
	ids := map[string]string{}
	var b strings.Builder
	b.WriteString("flowchart LR\n")
	node := func(ref string) string {
		if id, ok := ids[ref]; ok {
			return id
		}
		id := fmt.Sprintf("n%d", len(ids))
		ids[ref] = id
		fmt.Fprintf(&b, "  %s[\"%s\"]\n", id, strings.ReplaceAll(ref, `"`, "#quot;"))
		return id
	}
	edges := slices.Clone(hooks)
	slices.SortFunc(edges, func(a, b GraphWebhook) int {
		return strings.Compare(a.Source+"\x00"+a.Target, b.Source+"\x00"+b.Target)
	})
	var arrows []string
	for _, w := range edges {
		if !w.Fires {
			continue
		}
		from, to := node(w.Source), node(w.Target)
		if w.Dangling != "" {
			arrows = append(arrows, fmt.Sprintf("  %s -. %s .-> %s", from, w.Dangling, to))
		} else {
			arrows = append(arrows, fmt.Sprintf("  %s --> %s", from, to))
		}
	}
	for _, a := range arrows {
		b.WriteString(a + "\n")
	}
	return b.String()
}

// mermaidOf draws a graph given as upstream → downstream refs, every edge solid.
func mermaidOf(edges map[string][]string) string {
	var hooks []GraphWebhook
	for upstream, refs := range edges {
		for _, ref := range refs {
			hooks = append(hooks, GraphWebhook{Source: upstream, Target: ref, Fires: true})
		}
	}
	return mermaid(hooks)
}
