package relay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
)

// The relay learns the graph from the webhooks in Pulumi Cloud: an edge u → d is a webhook on
// stack u that delivers u's successful updates to a relay (any relay URL: a relay may sit
// behind a proxy) with ?target=<project>/<stack> naming d, under the name a pulumi_deployments
// edge to d has too. So switching an edge between the two modes is one PATCH.

// HooksPath is the route a relay receives deliveries on, and the path every relay webhook's
// payload URL ends with (after any prefix a proxy adds).
const HooksPath = "/v1/hooks"

// EdgeName is the name of the webhook on a source stack that makes the edge to target
// ("project/stack"): "autodeploy-" and the first 16 hex digits of target's SHA-256.
func EdgeName(target string) string {
	sum := sha256.Sum256([]byte(target))
	return "autodeploy-" + hex.EncodeToString(sum[:8])
}

// EdgePayloadURL is the payload URL of the relay webhook for an edge to target, given the
// relay's base URL (scheme, host and any path prefix, without a trailing slash).
func EdgePayloadURL(relayURL, target string) string {
	return strings.TrimRight(relayURL, "/") + HooksPath + "?target=" + url.QueryEscape(target)
}

// nameRE is the Pulumi SDK's rule for project and stack names.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,100}$`)

// parseRef splits "project/stack", refusing anything that is not two valid names.
func parseRef(ref string) (project, stack string, err error) {
	project, stack, ok := strings.Cut(ref, "/")
	if !ok || !nameRE.MatchString(project) || !nameRE.MatchString(stack) {
		return "", "", fmt.Errorf("%q is not <project>/<stack>: each is 1-100 letters, digits, '-', '_' or '.'", ref)
	}
	return project, stack, nil
}

// splitRef splits a ref known to be valid.
func splitRef(ref string) (project, stack string) {
	project, stack, _ = strings.Cut(ref, "/")
	return project, stack
}

// edgeTarget returns the stack ("project/stack") a webhook is a relay edge to, if it is one:
// active, raw, delivering to a relay's hooks route with a valid target, and named after that
// target.
func edgeTarget(h cloud.Webhook) (string, bool) {
	if !h.Active || (h.Format != "" && h.Format != "raw") {
		return "", false
	}
	u, err := url.Parse(h.PayloadURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || !strings.HasSuffix(u.Path, HooksPath) {
		return "", false
	}
	target := u.Query().Get("target")
	if _, _, err := parseRef(target); err != nil || h.Name != EdgeName(target) {
		return "", false
	}
	return target, true
}

// graph is what a cascade covers: every stack reachable from its root through relay edges.
type graph struct {
	root     string
	order    []string            // breadth first from the root, root first
	children map[string][]string // edges, in the order the service listed them
	parents  map[string][]string // the reverse, over reachable stacks only
}

// discoverParallelism bounds the webhook listings a walk has in flight at once.
const discoverParallelism = 16

// discover walks down from root breadth first, listing each stack's webhooks once; the stacks
// of one depth are listed concurrently (at most discoverParallelism at a time) and their
// answers taken in order, so the graph is the one a walk listing them one by one would find. A
// stack that does not exist (a dangling edge) has no edges; its deployment will fail and say so.
func discover(ctx context.Context, c Cloud, org, root string) (*graph, error) {
	g := &graph{root: root, order: []string{root}, children: map[string][]string{}, parents: map[string][]string{}}
	seen := map[string]bool{root: true}
	for start := 0; start < len(g.order); {
		depth := g.order[start:]
		start = len(g.order)
		listed := make([][]cloud.Webhook, len(depth))
		err := forEach(ctx, len(depth), discoverParallelism, func(i int) error {
			project, stack := splitRef(depth[i])
			hooks, err := c.ListWebhooks(ctx, cloud.WebhookScope{Organization: org, Project: project, Stack: stack})
			if errors.Is(err, cloud.ErrNotFound) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("listing the webhooks of %s/%s: %w", org, depth[i], err)
			}
			listed[i] = hooks
			return nil
		})
		if err != nil {
			return nil, err
		}
		for i, ref := range depth {
			for _, h := range listed[i] {
				target, ok := edgeTarget(h)
				if !ok || slices.Contains(g.children[ref], target) {
					continue
				}
				g.children[ref] = append(g.children[ref], target)
				g.parents[target] = append(g.parents[target], ref)
				if !seen[target] {
					seen[target] = true
					g.order = append(g.order, target)
				}
			}
		}
	}
	return g, nil
}

// forEach calls fn for 0 ≤ i < n on at most limit goroutines at once and returns the error of
// the lowest i that failed, after every call returned. Once ctx ends, calls not yet begun are
// not made.
func forEach(ctx context.Context, n, limit int, fn func(i int) error) error {
	errs := make([]error, n)
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i := range n {
		if err := ctx.Err(); err != nil {
			errs[i] = err
			break
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = fn(i)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
