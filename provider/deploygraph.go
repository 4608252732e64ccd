package provider

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/autodeploy-dev/pulumi-auto-deploy/provider/cloud"
)

// stackKey names a stack within the provider's organization-wide view.
type stackKey struct{ org, project, stack string }

func (k stackKey) ref() string    { return k.project + "/" + k.stack }
func (k stackKey) String() string { return k.org + "/" + k.project + "/" + k.stack }

// deployGraph is the per-process cache of what the provider has read about stacks: which
// stacks exist with deployment settings, and which deployment edges leave each stack.
// N AutoDeployers in one `pulumi up` share it, so each stack is read at most once.
type deployGraph struct {
	// planning serializes cycle checks, so two resources cannot each add one half of a
	// loop, both having checked before either recorded its edge.
	planning sync.Mutex

	mu      sync.Mutex
	targets map[stackKey]*lazy[struct{}]
	edges   map[stackKey]*lazy[[]string] // refs the stack's deployment webhooks redeploy, as read
	planned map[stackKey]map[string]bool // edges this process is writing or has written since
	removed map[stackKey]map[string]bool // edges this process has deleted since
}

// lazy is a value loaded once, by whoever asks first; the others wait for it.
type lazy[T any] struct {
	once  sync.Once
	value T
	err   error
}

func (l *lazy[T]) get(load func() (T, error)) (T, error) {
	l.once.Do(func() { l.value, l.err = load() })
	return l.value, l.err
}

func newDeployGraph() *deployGraph {
	return &deployGraph{
		targets: map[stackKey]*lazy[struct{}]{},
		edges:   map[stackKey]*lazy[[]string]{},
		planned: map[stackKey]map[string]bool{},
		removed: map[stackKey]map[string]bool{},
	}
}

func entry[T any](g *deployGraph, m map[stackKey]*lazy[T], k stackKey) *lazy[T] {
	g.mu.Lock()
	defer g.mu.Unlock()
	l, ok := m[k]
	if !ok {
		l = &lazy[T]{}
		m[k] = l
	}
	return l
}

// checkTarget fails unless the stack exists and has deployment settings, without which a
// deployment webhook pointing at it can only record failed deliveries.
func (g *deployGraph) checkTarget(ctx context.Context, client Client, k stackKey) error {
	_, err := entry(g, g.targets, k).get(func() (struct{}, error) {
		// One read when all is well: settings exist only on a stack that exists. On a 404
		// the stack is read to tell the user which of the two is missing.
		if _, err := client.GetDeploymentSettings(ctx, k.org, k.project, k.stack); err != nil {
			if errors.Is(err, cloud.ErrNotFound) {
				if _, err := client.GetStack(ctx, k.org, k.project, k.stack); err != nil {
					if errors.Is(err, cloud.ErrNotFound) {
						return struct{}{}, fmt.Errorf("downstream stack %s does not exist in Pulumi Cloud: create it "+
							"(`pulumi stack init %s`) or remove %q from downstreamRefs", k, k, k.ref())
					}
					return struct{}{}, describeCloudError(fmt.Sprintf("checking downstream stack %s", k), err)
				}
				return struct{}{}, fmt.Errorf("downstream stack %s has no deployment settings, so a deployment "+
					"webhook cannot deploy it: configure Pulumi Deployments for it (Stack > Settings > Deploy in "+
					"Pulumi Cloud, or a pulumiservice.DeploymentSettings resource) and run again", k)
			}
			return struct{}{}, describeCloudError(fmt.Sprintf("reading deployment settings of %s", k), err)
		}
		return struct{}{}, nil
	})
	return err
}

// outgoing returns the refs the stack's active deployment webhooks redeploy after an
// update, as read from Pulumi Cloud, plus the edges this process plans to write.
func (g *deployGraph) outgoing(ctx context.Context, client Client, k stackKey) ([]string, error) {
	refs, err := entry(g, g.edges, k).get(func() ([]string, error) {
		hooks, err := client.ListWebhooks(ctx, cloud.WebhookScope{Organization: k.org, Project: k.project, Stack: k.stack})
		if errors.Is(err, cloud.ErrNotFound) {
			return nil, nil // no stack, no edges
		}
		if err != nil {
			return nil, describeCloudError(fmt.Sprintf("listing webhooks of %s", k), err)
		}
		var refs []string
		for _, h := range hooks {
			if firesDeployment(h) {
				refs = append(refs, h.PayloadURL)
			}
		}
		return refs, nil
	})
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	refs = slices.DeleteFunc(slices.Clone(refs), func(r string) bool { return g.removed[k][r] })
	for ref := range g.planned[k] {
		if !slices.Contains(refs, ref) {
			refs = append(refs, ref)
		}
	}
	return refs, nil
}

// firesDeployment reports whether a webhook redeploys its target when its stack is
// updated or deployed, which is what continues a cascade.
func firesDeployment(h cloud.Webhook) bool {
	if !h.Active || h.Format != string(WebhookFormatPulumiDeployments) {
		return false
	}
	if len(h.Filters) == 0 && len(h.Groups) == 0 {
		return true
	}
	return slices.Contains(h.Filters, "update_succeeded") || slices.Contains(h.Filters, "deployment_succeeded") ||
		slices.Contains(h.Groups, "stacks") || slices.Contains(h.Groups, "deployments")
}

// planEdges checks that adding source → refs closes no loop and, if so, records them
// under the same lock, so that a concurrent check by another resource sees them.
// Callers warm the graph first: reading before the lock, in parallel, means resources
// checking at once wait for each other only for the in-memory walk, not for Pulumi Cloud.
func (g *deployGraph) planEdges(ctx context.Context, client Client, source stackKey, refs []string) error {
	g.planning.Lock()
	defer g.planning.Unlock()
	for _, ref := range refs {
		if path, err := g.pathTo(ctx, client, source, ref); err != nil {
			return err
		} else if path != nil {
			return fmt.Errorf("downstreamRefs: adding %q would create a deployment cycle %s: every update "+
				"would redeploy the stacks in it forever; remove one of these edges", ref, strings.Join(path, " → "))
		}
	}
	g.setEdges(source, refs, true)
	return nil
}

// warm loads the outgoing edges of every stack reachable from refs, a level at a time
// with the level's reads in parallel.
func (g *deployGraph) warm(ctx context.Context, client Client, source stackKey, refs []string) error {
	seen := map[string]bool{}
	level := slices.Clone(refs)
	for len(level) > 0 {
		next := make([][]string, len(level))
		errs := make([]error, len(level))
		forEach(len(level), func(i int) {
			if project, stack, ok := strings.Cut(level[i], "/"); ok {
				next[i], errs[i] = g.outgoing(ctx, client, stackKey{source.org, project, stack})
			}
		})
		if err := errors.Join(errs...); err != nil {
			return err
		}
		for _, ref := range level {
			seen[ref] = true
		}
		var frontier []string
		for _, refs := range next {
			for _, ref := range refs {
				if !seen[ref] && !slices.Contains(frontier, ref) {
					frontier = append(frontier, ref)
				}
			}
		}
		level = frontier
	}
	return nil
}

// setEdges records that this process has written (present) or deleted (!present) the
// edges source → refs, so later checks need not read them again.
func (g *deployGraph) setEdges(source stackKey, refs []string, present bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	add, drop := g.planned, g.removed
	if !present {
		add, drop = g.removed, g.planned
	}
	if add[source] == nil {
		add[source] = map[string]bool{}
	}
	for _, ref := range refs {
		add[source][ref] = true
		delete(drop[source], ref)
	}
}

// pathTo searches breadth-first from target along deployment edges for source. It returns
// the cycle as a list of stack refs starting and ending at source, or nil.
func (g *deployGraph) pathTo(ctx context.Context, client Client, source stackKey, target string) ([]string, error) {
	parent := map[string]string{target: source.ref()}
	queue := []string{target}
	for len(queue) > 0 {
		ref := queue[0]
		queue = queue[1:]
		if ref == source.ref() {
			path := []string{ref}
			for at := parent[ref]; ; at = parent[at] {
				path = append(path, at)
				if at == source.ref() {
					break
				}
			}
			slices.Reverse(path)
			return path, nil
		}
		project, stack, ok := strings.Cut(ref, "/")
		if !ok {
			continue
		}
		next, err := g.outgoing(ctx, client, stackKey{source.org, project, stack})
		if err != nil {
			return nil, err
		}
		for _, n := range next {
			if _, seen := parent[n]; !seen {
				parent[n] = ref
				queue = append(queue, n)
			}
		}
	}
	return nil, nil
}
