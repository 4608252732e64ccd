package relay

import (
	"context"
	"database/sql"
	"errors"
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
	if err := r.followDeployments(ctx, log, c, nodes); err != nil {
		return false, err
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
				r.metrics.cascadeFinished(c.ID, cascadeDone)
				log.Info("cascade done", "generation", c.Generation, "root_version", c.RootVersion)
			}
			return over, err
		}
		var settled []*nodeRow
		for _, b := range plan.UpstreamFailed {
			n := findNode(nodes, b.Stack)
			n.State, n.Reason = StateSkippedUpstreamFailed, "its parent "+b.Parent+" "+upstreamWord(findState(nodes, b.Parent))
			settled = append(settled, n)
		}
		skipped, err := r.judgeReady(ctx, log, c, nodes, plan.Ready, compare)
		if err != nil {
			return false, err
		}
		settled = append(settled, skipped...)
		if len(settled) == 0 {
			return false, nil
		}
		err = inTx(ctx, r.db, func(tx *sql.Tx) error { return r.store.saveNodes(ctx, tx, c.ID, values(settled)) })
		if err != nil {
			return false, err
		}
		for _, n := range settled {
			r.metrics.skipped(c.ID, n.Stack, skipReason(n.State))
			log.Info("stack skipped", "stack", n.Stack, "state", n.State, "reason", n.Reason)
		}
	}
}

// followDeployments follows every deployment in flight concurrently, and records those that
// ended in one transaction.
func (r *Relay) followDeployments(ctx context.Context, log *slog.Logger, c cascadeRow, nodes []nodeRow) error {
	var deploying []*nodeRow
	for i := range nodes {
		if nodes[i].State == StateDeploying {
			deploying = append(deploying, &nodes[i])
		}
	}
	outcomes := make([]*ended, len(deploying))
	err := forEach(ctx, len(deploying), stepParallelism, func(i int) error {
		var err error
		outcomes[i], err = r.followDeployment(ctx, log, c, deploying[i])
		return err
	})
	// What was learnt is recorded even when another stack could not be followed.
	var ends []ended
	for _, e := range outcomes {
		if e != nil {
			ends = append(ends, *e)
		}
	}
	if len(ends) == 0 {
		return err
	}
	if werr := inTx(ctx, r.db, func(tx *sql.Tx) error { return r.recordEnds(ctx, tx, c, ends) }); werr != nil {
		return errors.Join(err, werr)
	}
	r.logEnds(ctx, log, c, ends)
	return err
}

// skipReason is the metrics label of a skipped stack's state.
func skipReason(s State) string {
	if s == StateSkippedUpstreamFailed {
		return "upstream_failed"
	}
	return "unchanged"
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
		if err := r.store.failCascade(ctx, r.db, c.ID, msg); err != nil {
			return false, err
		}
		r.metrics.cascadeFinished(c.ID, cascadeFailed)
		return true, nil
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
		var changed []nodeRow
		for i := range updated {
			if updated[i].Node.State != merged[i].State || updated[i].Generation != merged[i].Generation {
				updated[i].Node = merged[i]
				updated[i].Reason = fmt.Sprintf("waits again: the root was updated to version %d", c.PendingVersion)
				changed = append(changed, updated[i])
			}
		}
		if err := r.store.saveNodes(ctx, tx, c.ID, changed); err != nil {
			return err
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

// judgeReady settles the ready stacks, judged concurrently: a skip when none of a stack's
// parents' outputs changed, otherwise a deployment, all of which are then started together. It
// returns the stacks it skipped, for the caller to record (a skip lets their children be
// judged), and records a stack that waits for another cascade's deployment of it.
func (r *Relay) judgeReady(ctx context.Context, log *slog.Logger, c cascadeRow, nodes []nodeRow, ready []string,
	compare *outputsComparer,
) ([]*nodeRow, error) {
	version := make(map[string]int, len(nodes)+1)
	version[c.Root] = c.RootVersion
	for _, n := range nodes {
		if n.Stack != c.Root {
			version[n.Stack] = n.Version
		}
	}
	readyNodes := make([]*nodeRow, len(ready))
	for i, ref := range ready {
		readyNodes[i] = findNode(nodes, ref)
	}
	judgements := make([]judgement, len(ready))
	err := forEach(ctx, len(ready), stepParallelism, func(i int) error {
		var err error
		judgements[i], err = r.judge(ctx, c, *readyNodes[i], version, compare)
		return err
	})
	if err != nil {
		return nil, err
	}
	var skipped, busy []*nodeRow
	var starts []toStart
	for i, j := range judgements {
		n := readyNodes[i]
		switch {
		case j.busy:
			if n.Reason != reasonBusyElsewhere {
				n.Reason = reasonBusyElsewhere
				busy = append(busy, n)
			}
		case j.verdict.Deploy:
			starts = append(starts, toStart{n: n, why: j.verdict.Reason, against: j.against})
		default:
			n.State, n.Version, n.Reason = StateSkippedUnchanged, j.version, j.verdict.Reason
			skipped = append(skipped, n)
		}
	}
	if len(busy) > 0 {
		err := inTx(ctx, r.db, func(tx *sql.Tx) error { return r.store.saveNodes(ctx, tx, c.ID, values(busy)) })
		if err != nil {
			return nil, err
		}
	}
	if len(starts) > 0 {
		if err := r.startDeployments(ctx, log, c, starts); err != nil {
			return nil, err
		}
	}
	return skipped, nil
}

// judgement is what judging a ready stack found: it waits for another cascade's deployment of
// it (busy), or the verdict, with the parents' versions it was reached against, and the
// stack's version for a skip.
type judgement struct {
	busy    bool
	verdict Verdict
	against map[string]int
	version int
}

// judge decides whether a ready stack deploys; it reads, and writes nothing. version holds
// the version of every stack of the cascade, the root's being the cascade's.
func (r *Relay) judge(ctx context.Context, c cascadeRow, n nodeRow, version map[string]int,
	compare *outputsComparer,
) (judgement, error) {
	busy, err := r.store.deployingElsewhere(ctx, r.db, c.Organization, n.Stack, c.ID)
	if err != nil || busy {
		return judgement{busy: busy}, err
	}
	records, err := r.store.edgeVersions(ctx, r.db, c.Organization, n.Stack)
	if err != nil {
		return judgement{}, err
	}
	rec, err := r.store.stackRecord(ctx, r.db, c.Organization, n.Stack)
	if err != nil {
		return judgement{}, err
	}
	edges := make([]Edge, 0, len(n.Parents))
	against := make(map[string]int, len(n.Parents))
	for _, p := range n.Parents {
		edges = append(edges, Edge{Parent: p, Recorded: records[p], Current: version[p]})
		against[p] = version[p]
	}
	verdict := Judge(rec.LastFailed, edges, func(parent string, from, to int) (bool, error) {
		return compare.changed(ctx, parent, from, to)
	})
	if err := ctx.Err(); err != nil {
		return judgement{}, err
	}
	r.metrics.decided(c.ID, n.Parents, verdict.Deploy)
	if verdict.Deploy {
		return judgement{verdict: verdict, against: against}, nil
	}
	project, stack := splitRef(n.Stack)
	st, err := r.cloud.GetStack(ctx, c.Organization, project, stack)
	if err != nil {
		return judgement{}, fmt.Errorf("reading stack %s: %w", n.Stack, err)
	}
	return judgement{verdict: verdict, version: st.Version}, nil
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
