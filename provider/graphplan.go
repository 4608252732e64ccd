package provider

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	p "github.com/pulumi/pulumi-go-provider"
)

// graphPlan is what a DeploymentGraph should have in place: its declared edges and those
// its stacks' StackReferences imply, without the edges longer paths imply, and what a user
// should hear about that graph when it changes.
type graphPlan struct {
	edges      map[string][]string        // upstream → downstreams, sorted
	references map[string]DiscoveredStack // what discovery read; nil without fromStackReferences
	reread     int                        // stacks whose references were read for this plan
	dropped    []redundantEdge
	joins      []join
	outside    []outsideRead
}

// reads is what discovery knows of which stacks each selected stack reads.
func (plan graphPlan) reads() map[string][]string {
	out := make(map[string][]string, len(plan.references))
	for ref, d := range plan.references {
		out[ref] = d.Reads
	}
	return out
}

// outsideRead is a selected stack reading one outside the selection, which no edge redeploys it after.
type outsideRead struct{ reader, upstream string }

// maxShapeLines bounds the lines of each kind a graph's shape is reported in; the rest are
// counted in one more line. At 2,000 stacks a DAG may have a thousand joins.
const maxShapeLines = 5

// planGraph works out the graph to keep, reading the stacks' references when the graph
// derives edges from them (only those of stacks updated since known was read). It makes
// no request otherwise. Unknown refs (preview) are left out.
func (e *edgeEngine) planGraph(
	ctx context.Context, args DeploymentGraphArgs, known map[string]DiscoveredStack,
) (graphPlan, error) {
	union := map[string][]string{}
	for u, ds := range args.Edges {
		if u == "" {
			continue
		}
		union[u] = slices.DeleteFunc(slices.Clone(ds), func(d string) bool { return d == "" })
	}
	var plan graphPlan
	var refs *referenceGraph
	if args.FromStackReferences != nil {
		client, err := e.client(ctx)
		if err != nil {
			return graphPlan{}, err
		}
		read, err := e.readReferences(ctx, client, args.Organization, *args.FromStackReferences, known)
		if err != nil {
			return graphPlan{}, err
		}
		refs = &read
		plan.references, plan.reread = read.known, read.reread
		for u, ds := range read.edges {
			for _, d := range ds {
				if !slices.Contains(union[u], d) {
					union[u] = append(union[u], d)
				}
			}
		}
	}
	// Through a relay, every edge stays: the relay deploys a stack once whatever the paths,
	// and it judges a stack on the outputs of every parent it has an edge from, so an edge
	// a longer path implies is one it must see.
	final := union
	if !args.KeepRedundantEdges && args.Relay == nil {
		final, plan.dropped = newShape(union).reduce(union)
	}
	plan.edges = withoutEmptyLists(final)
	finalShape := newShape(final)
	if args.Relay == nil {
		plan.joins = finalShape.joins(maxShapeLines) // each path is a deployment only without a relay
	}
	if refs != nil {
		for _, reader := range slices.Sorted(maps.Keys(refs.outside)) {
			for _, upstream := range refs.outside[reader] {
				if !finalShape.reaches(upstream, reader) {
					plan.outside = append(plan.outside, outsideRead{reader, upstream})
				}
			}
		}
	}
	return plan, nil
}

// report says what a user should know of the graph being put in place: edges left out,
// stacks one update deploys several times (and whether their settings collapse the
// queue), and references no edge covers. A few lines of each, then a count.
func (e *edgeEngine) report(ctx context.Context, org string, plan graphPlan) {
	shown := plan.joins[:min(maxShapeLines, len(plan.joins))]
	skips := make([]bool, len(shown))
	if client, err := e.client(ctx); err == nil && len(shown) > 0 {
		forEachRead(len(shown), func(i int) {
			settings, err := e.graph.deploymentSettings(ctx, client, stackKey{org: org}.at(shown[i].stack))
			skips[i] = err == nil && skipsIntermediateDeployments(settings)
		})
	}
	log := p.GetLogger(ctx)
	for _, d := range shapeDiagnostics(plan, skips) {
		if d.warning {
			log.Warning(d.text)
		} else {
			log.Info(d.text)
		}
	}
}

// diagnostic is one line for the user, a warning or for information.
type diagnostic struct {
	warning bool
	text    string
}

// shapeDiagnostics are report's lines; skips says, for each join shown, whether its
// deployment settings skip intermediate deployments.
func shapeDiagnostics(plan graphPlan, skips []bool) []diagnostic {
	var out []diagnostic
	for i, r := range plan.dropped {
		if i == maxShapeLines {
			out = append(out, diagnostic{false, fmt.Sprintf("%d more edges left out, each implied by a longer "+
				"path (%d in all); set keepRedundantEdges to keep them", len(plan.dropped)-i, len(plan.dropped))})
			break
		}
		out = append(out, diagnostic{false, fmt.Sprintf("edge %s → %s left out: %s already deploys %s, after "+
			"its last upstream; set keepRedundantEdges to keep it", r.upstream, r.downstream, arrowPath(r.path),
			r.downstream)})
	}
	for i, j := range plan.joins {
		if i == len(skips) {
			top := plan.joins[0]
			out = append(out, diagnostic{true, fmt.Sprintf("%d more stacks are deployed more than once after a "+
				"single update (%d in all; the most, %s, %s after each update of %s); each deploys once per path, "+
				"fewer times where its deployment settings skip intermediate deployments", len(plan.joins)-i,
				len(plan.joins), top.stack, top.times(), top.upstream)})
			break
		}
		out = append(out, diagnostic{true, joinMessage(j, skips[i])})
	}
	for i, o := range plan.outside {
		if i == maxShapeLines {
			out = append(out, diagnostic{true, fmt.Sprintf("%d more StackReferences to stacks outside "+
				"fromStackReferences (%d in all) redeploy nothing; select those stacks, or add the edges to edges",
				len(plan.outside)-i, len(plan.outside))})
			break
		}
		out = append(out, diagnostic{true, fmt.Sprintf("%s reads %s through a StackReference, but no edge "+
			"redeploys %s when %s changes: %s is outside fromStackReferences; select it, or add the edge to edges",
			o.reader, o.upstream, o.reader, o.upstream, o.upstream)})
	}
	return out
}

// withoutEmptyLists is graph without its upstreams that redeploy nothing, lists sorted:
// the same graph however it was written.
func withoutEmptyLists(graph map[string][]string) map[string][]string {
	out := make(map[string][]string, len(graph))
	for u, ds := range graph {
		if len(ds) > 0 {
			out[u] = slices.Sorted(slices.Values(ds))
		}
	}
	return out
}

func joinMessage(j join, skips bool) string {
	settings := "do not skip intermediate deployments, so it deploys once per path"
	if skips {
		settings = "skip intermediate deployments (operationContext.options.skipIntermediateDeployments), so a " +
			"deployment still queued when the next arrives is skipped and the newest runs"
	}
	paths := fmt.Sprintf("once per path: %s and %s", arrowPath(j.examples[0]), arrowPath(j.examples[1]))
	if j.paths > 2 {
		count := fmt.Sprint(j.paths)
		if j.paths >= maxPathCount {
			count = "more than 10^18"
		}
		paths = fmt.Sprintf("once per path; two of its %s paths: %s and %s", count, arrowPath(j.examples[0]),
			arrowPath(j.examples[1]))
	}
	return fmt.Sprintf("%s is deployed %s after each update of %s, %s; its deployment settings %s", j.stack,
		j.times(), j.upstream, paths, settings)
}

// planMemo keeps the plan a Diff worked out for the Update that follows it in the same
// run, so discovery's reads are made once. Only Update takes from it, once, and only
// within planMemoTTL; errors are never kept.
type planMemo struct {
	mu      sync.Mutex
	entries map[string]memoizedPlan
	now     func() time.Time
}

type memoizedPlan struct {
	plan graphPlan
	at   time.Time
}

const planMemoTTL = 10 * time.Minute

func newPlanMemo() *planMemo {
	return &planMemo{entries: map[string]memoizedPlan{}, now: time.Now}
}

func planKey(urn string, args DeploymentGraphArgs, known map[string]DiscoveredStack) string {
	data, _ := json.Marshal(struct {
		URN   string
		Args  DeploymentGraphArgs
		Known map[string]DiscoveredStack
	}{urn, args, known})
	sum := sha256.Sum256(data)
	return string(sum[:])
}

func (m *planMemo) put(key string, plan graphPlan) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, e := range m.entries {
		if m.now().Sub(e.at) > planMemoTTL {
			delete(m.entries, k)
		}
	}
	m.entries[key] = memoizedPlan{plan: plan, at: m.now()}
}

func (m *planMemo) take(key string) (graphPlan, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[key]
	delete(m.entries, key)
	if !ok || m.now().Sub(e.at) > planMemoTTL {
		return graphPlan{}, false
	}
	return e.plan, true
}
