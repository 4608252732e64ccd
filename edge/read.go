package edge

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
)

// Reader is the part of Pulumi Cloud a plan reads. *cloud.Client provides it, and so does the relay's
// own client.
type Reader interface {
	ListWebhooks(ctx context.Context, scope cloud.WebhookScope) ([]cloud.Webhook, error)
	ListDeployments(ctx context.Context, org, project, stack string, page, pageSize int) ([]cloud.Deployment, int,
		error)
}

// readParallelism bounds the requests a plan has in flight at once.
const readParallelism = 16

// HistoryDepth is how many of a stack's newest deployments its estimate is read from.
const HistoryDepth = 10

// ReadPlan plans a change of stack ("project/stack") of organization org from Pulumi Cloud as it is:
// the relay graph below the stack, then the recent deployment times of the stacks in it. A stack that
// does not exist is an error wrapping cloud.ErrNotFound; a cycle below it a *CycleError.
func ReadPlan(ctx context.Context, r Reader, org, stack string) (Plan, error) {
	g, err := ReadGraphBelow(ctx, r, org, stack)
	if err != nil {
		return Plan{}, err
	}
	affected := slices.DeleteFunc(g.stacks(), func(s string) bool { return s == stack })
	estimates, err := ReadEstimates(ctx, r, org, affected)
	if err != nil {
		return Plan{}, err
	}
	return PlanCascade(g, stack, estimates)
}

// ReadGraphBelow walks down from stack through its relay edges that deliver, breadth first, listing
// each stack's webhooks once, the stacks of one depth readParallelism at a time. A stack below it that
// does not exist (an edge left dangling) has no edges; stack itself not existing is an error wrapping
// cloud.ErrNotFound.
func ReadGraphBelow(ctx context.Context, r Reader, org, stack string) (Graph, error) {
	g := Graph{}
	seen := map[string]bool{stack: true}
	for depth := []string{stack}; len(depth) > 0; {
		listed := make([][]cloud.Webhook, len(depth))
		group, gctx := errgroup.WithContext(ctx)
		group.SetLimit(readParallelism)
		for i, ref := range depth {
			group.Go(func() error {
				project, name, _ := SplitRef(ref)
				hooks, err := r.ListWebhooks(gctx, cloud.WebhookScope{Organization: org, Project: project, Stack: name})
				if errors.Is(err, cloud.ErrNotFound) && ref != stack {
					return nil
				}
				if err != nil {
					return fmt.Errorf("listing the webhooks of %s/%s: %w", org, ref, err)
				}
				listed[i] = hooks
				return nil
			})
		}
		if err := group.Wait(); err != nil {
			return nil, err
		}
		var next []string
		for i, ref := range depth {
			for _, h := range listed[i] {
				e, ok := Parse(h)
				if !ok || !e.Relayed || !e.Delivers {
					continue
				}
				g.Add(ref, e.Target, e.AlwaysDeploy)
				if !seen[e.Target] {
					seen[e.Target] = true
					next = append(next, e.Target)
				}
			}
		}
		depth = next
	}
	return g, nil
}

// ReadEstimates reads how long each stack's deployments take: the median duration of the succeeded
// update deployments among its HistoryDepth newest. A stack without one (or that does not exist) is
// left out, for the plan to give it a default.
func ReadEstimates(ctx context.Context, r Reader, org string, stacks []string) (map[string]float64, error) {
	medians := make([]float64, len(stacks))
	found := make([]bool, len(stacks))
	group, gctx := errgroup.WithContext(ctx)
	group.SetLimit(readParallelism)
	for i, ref := range stacks {
		group.Go(func() error {
			project, name, _ := SplitRef(ref)
			deployments, _, err := r.ListDeployments(gctx, org, project, name, 1, HistoryDepth)
			if errors.Is(err, cloud.ErrNotFound) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("listing the deployments of %s/%s: %w", org, ref, err)
			}
			var durations []float64
			for _, d := range deployments {
				if seconds, ok := DeploymentSeconds(d); ok {
					durations = append(durations, seconds)
				}
			}
			if len(durations) > 0 {
				medians[i], found[i] = Median(durations), true
			}
			return nil
		})
	}
	if err := group.Wait(); err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for i, ref := range stacks {
		if found[i] {
			out[ref] = medians[i]
		}
	}
	return out, nil
}

// DeploymentSeconds is how long a succeeded update deployment took: its update's start to end (Unix
// seconds), or, when the service gave no ended update, the deployment's created to modified times.
// Any other deployment (failed, running, a preview or refresh) says nothing of an update's duration.
func DeploymentSeconds(d cloud.Deployment) (float64, bool) {
	if d.Status != "succeeded" || d.Operation != "update" {
		return 0, false
	}
	for _, u := range d.Updates {
		if u.StartTime > 0 && u.EndTime >= u.StartTime {
			return float64(u.EndTime - u.StartTime), true
		}
	}
	created, err := time.Parse(time.RFC3339, d.Created)
	if err != nil {
		return 0, false
	}
	modified, err := time.Parse(time.RFC3339, d.Modified)
	if err != nil || modified.Before(created) {
		return 0, false
	}
	return modified.Sub(created).Seconds(), true
}
