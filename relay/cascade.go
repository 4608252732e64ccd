package relay

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"slices"
	"strings"
)

// advance runs one step of a cascade: walk the graph the first time, merge a newer root update,
// follow the deployments in flight, then settle every stack that can be settled now (skips)
// and start the deployments that are ready. It reports whether the cascade is over.
//
// Each change is committed on its own before the next request that depends on it, so a relay
// killed anywhere resumes from the last committed state; a deployment is recorded as intended
// before it is asked for (deploy.go).
func (r *Relay) advance(ctx context.Context, id int64) (bool, error) {
	log := r.log.With("cascade", id)
	c, nodes, err := r.store.loadCascade(ctx, r.db, id)
	if err != nil {
		return false, err
	}
	if c.State != cascadeRunning {
		return true, nil
	}
	log = log.With("organization", c.Organization, "root", c.Root)
	if !c.Discovered {
		if over, err := r.discoverCascade(ctx, log, c); err != nil || over {
			return over, err
		}
		if c, nodes, err = r.store.loadCascade(ctx, r.db, id); err != nil {
			return false, err
		}
	}
	if c.PendingVersion > c.RootVersion {
		if c, nodes, err = r.mergeGeneration(ctx, log, c, nodes); err != nil {
			return false, err
		}
	}
	for i := range nodes {
		if nodes[i].State == StateDeploying {
			if err := r.followDeployment(ctx, log, c, &nodes[i]); err != nil {
				return false, err
			}
		}
	}
	compare := newOutputsComparer(r.cloud, c.Organization)
	for {
		plan := PlanCascade(c.Root, nodeStates(nodes))
		if len(plan.UpstreamFailed) == 0 && len(plan.Ready) == 0 {
			if !plan.Done {
				return false, nil
			}
			over, err := r.store.finishCascade(ctx, r.db, c.ID)
			if over {
				log.Info("cascade done", "generation", c.Generation, "root_version", c.RootVersion)
			}
			return over, err
		}
		settled := false
		for _, b := range plan.UpstreamFailed {
			n := findNode(nodes, b.Stack)
			n.State, n.Reason = StateSkippedUpstreamFailed, "its parent "+b.Parent+" "+upstreamWord(findState(nodes, b.Parent))
			if err := r.store.saveNode(ctx, r.db, c.ID, *n); err != nil {
				return false, err
			}
			log.Info("stack skipped", "stack", n.Stack, "state", n.State, "reason", n.Reason)
			settled = true
		}
		for _, ref := range plan.Ready {
			n := findNode(nodes, ref)
			skipped, err := r.judge(ctx, log, c, nodes, n, compare)
			if err != nil {
				return false, err
			}
			settled = settled || skipped
		}
		if !settled {
			return false, nil
		}
	}
}

func upstreamWord(s State) string {
	if s == StateFailed {
		return "failed"
	}
	return "was skipped because a stack above it failed"
}

// discoverCascade walks the graph below the root and records it, or fails the cascade on a
// cycle (nothing deploys). It reports whether the cascade is over.
func (r *Relay) discoverCascade(ctx context.Context, log *slog.Logger, c cascadeRow) (bool, error) {
	g, err := discover(ctx, r.cloud, c.Organization, c.Root)
	if err != nil {
		return false, err
	}
	if cycle := FindCycle(c.Root, g.children); cycle != nil {
		msg := "the graph has a cycle, so nothing deploys: " + strings.Join(cycle, " → ")
		log.Error("cascade failed", "error", msg)
		return true, r.store.failCascade(ctx, r.db, c.ID, msg)
	}
	var nodes []nodeRow
	for _, ref := range g.order[1:] {
		nodes = append(nodes, nodeRow{Node: Node{Stack: ref, Parents: g.parents[ref], State: StateWaiting, Generation: 1},
			Reason: "waits for its parents"})
	}
	if err := inTx(ctx, r.db, func(tx *sql.Tx) error { return r.store.saveGraph(ctx, tx, c, nodes) }); err != nil {
		return false, err
	}
	log.Info("cascade started", "root_version", c.RootVersion, "stacks", len(nodes))
	return false, nil
}

// mergeGeneration folds the newest root update into the cascade (see Merge).
func (r *Relay) mergeGeneration(ctx context.Context, log *slog.Logger, c cascadeRow, nodes []nodeRow) (cascadeRow, []nodeRow, error) {
	gen := c.Generation + 1
	merged := Merge(nodeStates(nodes), gen)
	var updated []nodeRow
	err := inTx(ctx, r.db, func(tx *sql.Tx) error {
		// inTx runs this again after a conflict (PostgreSQL): each run starts from the nodes loaded.
		updated = slices.Clone(nodes)
		for i := range updated {
			if updated[i].Node.State != merged[i].State || updated[i].Generation != merged[i].Generation {
				updated[i].Node = merged[i]
				updated[i].Reason = fmt.Sprintf("waits again: the root was updated to version %d", c.PendingVersion)
				if err := r.store.saveNode(ctx, tx, c.ID, updated[i]); err != nil {
					return err
				}
			}
		}
		return r.store.startGeneration(ctx, tx, c.ID, gen, c.PendingVersion)
	})
	if err != nil {
		return c, nodes, err
	}
	log.Info("root updated again during the cascade: merged as a new generation",
		"generation", gen, "root_version", c.PendingVersion)
	c.Generation, c.RootVersion = gen, c.PendingVersion
	return c, updated, nil
}

// judge settles a ready stack: a skip when none of its parents' outputs changed, otherwise a
// deployment. It reports whether the stack finished (a skip lets its children be judged).
func (r *Relay) judge(ctx context.Context, log *slog.Logger, c cascadeRow, nodes []nodeRow, n *nodeRow,
	compare *outputsComparer,
) (bool, error) {
	busy, err := r.store.deployingElsewhere(ctx, r.db, c.Organization, n.Stack, c.ID)
	if err != nil {
		return false, err
	}
	if busy {
		if n.Reason != reasonBusyElsewhere {
			n.Reason = reasonBusyElsewhere
			return false, r.store.saveNode(ctx, r.db, c.ID, *n)
		}
		return false, nil
	}
	records, err := r.store.edgeVersions(ctx, r.db, c.Organization, n.Stack)
	if err != nil {
		return false, err
	}
	rec, err := r.store.stackRecord(ctx, r.db, c.Organization, n.Stack)
	if err != nil {
		return false, err
	}
	edges := make([]Edge, 0, len(n.Parents))
	against := make(map[string]int, len(n.Parents))
	for _, p := range n.Parents {
		current := c.RootVersion
		if p != c.Root {
			current = findNode(nodes, p).Version
		}
		edges = append(edges, Edge{Parent: p, Recorded: records[p], Current: current})
		against[p] = current
	}
	verdict := Judge(rec.LastFailed, edges, func(parent string, from, to int) (bool, error) {
		return compare.changed(ctx, parent, from, to)
	})
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if verdict.Deploy {
		return false, r.startDeployment(ctx, log, c, n, verdict.Reason, against)
	}
	project, stack := splitRef(n.Stack)
	st, err := r.cloud.GetStack(ctx, c.Organization, project, stack)
	if err != nil {
		return false, fmt.Errorf("reading stack %s: %w", n.Stack, err)
	}
	n.State, n.Version, n.Reason = StateSkippedUnchanged, st.Version, verdict.Reason
	if err := r.store.saveNode(ctx, r.db, c.ID, *n); err != nil {
		return false, err
	}
	log.Info("stack skipped", "stack", n.Stack, "state", n.State, "reason", n.Reason)
	return true, nil
}

const reasonBusyElsewhere = "waits: the relay is deploying it in another cascade"

func nodeStates(nodes []nodeRow) []Node {
	out := make([]Node, len(nodes))
	for i, n := range nodes {
		out[i] = n.Node
	}
	return out
}

func findNode(nodes []nodeRow, ref string) *nodeRow {
	for i := range nodes {
		if nodes[i].Stack == ref {
			return &nodes[i]
		}
	}
	panic(fmt.Sprintf("relay: stack %s is not in the cascade", ref))
}

func findState(nodes []nodeRow, ref string) State {
	for _, n := range nodes {
		if n.Stack == ref {
			return n.State
		}
	}
	return ""
}
