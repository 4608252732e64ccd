package relay

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
)

// Starting a deployment is the one request the relay can neither repeat nor undo: a second
// POST queues a second run. So the relay first records its intent, with the stack's newest
// deployment version at that moment, and only then asks. If it never learns the answer (it
// was killed, or the service answered ambiguously), the deployment it asked for, if any, is
// the next one the stack got: it is looked up by version before anything is asked again.

// maxLookahead bounds the deployments after the intent that are searched for the relay's own
// (others may be queued on the stack meanwhile, by people or other tools).
const maxLookahead = 20

// stepParallelism bounds the requests one step of a cascade has in flight at once: the ready
// stacks of a large layer are judged and started, and the deployments in flight followed,
// concurrently, while what they change is written in one transaction per phase.
const stepParallelism = 16

// toStart is a ready stack the relay decided to deploy, why, and against which parents'
// versions.
type toStart struct {
	n       *nodeRow
	why     string
	against map[string]int
}

// startDeployments records the intent to deploy each stack, all in one transaction, then asks
// for the deployments concurrently and records what came back in one more.
func (r *Relay) startDeployments(ctx context.Context, log *slog.Logger, c cascadeRow, starts []toStart) error {
	priors := make([]int, len(starts))
	missing := make([]bool, len(starts))
	err := forEach(ctx, len(starts), stepParallelism, func(i int) error {
		project, stack := splitRef(starts[i].n.Stack)
		latest, total, err := r.cloud.ListDeployments(ctx, c.Organization, project, stack, 1, 1)
		if errors.Is(err, cloud.ErrNotFound) {
			missing[i] = true
			return nil
		}
		if err != nil {
			return fmt.Errorf("listing the deployments of %s: %w", starts[i].n.Stack, err)
		}
		priors[i] = total
		for _, d := range latest {
			priors[i] = max(priors[i], d.Version)
		}
		return nil
	})
	if err != nil {
		return err
	}
	var ends []ended
	var asking []*nodeRow
	intents := make([]nodeRow, len(starts))
	for i, s := range starts {
		if missing[i] {
			// An edge to a stack that was deleted: it fails, and what is below it is skipped.
			s.n.Cause = s.why
			if err := r.prepareEnd(ctx, c, s.n, false, "the stack does not exist"); err != nil {
				return err
			}
			ends = append(ends, ended{n: s.n})
			continue
		}
		intent := *s.n
		intent.State, intent.DeploymentID, intent.PriorVersion, intent.Against = StateDeploying, "", priors[i], s.against
		intent.Deployments++
		intent.Cause, intent.Reason = s.why, "asking for a deployment: "+s.why
		intents[i] = intent
	}
	// Another cascade may have started one of these stacks since it was judged, or another run
	// of this cascade's step (a replica's step that River took for abandoned): checking and
	// recording in one transaction keeps two of them from deploying one stack at once. The
	// stacks were waiting here when judged, so a deploying row even in this cascade is someone
	// else's.
	recorded := make([]bool, len(starts))
	err = inTx(ctx, r.db, func(tx *sql.Tx) error {
		clear(recorded) // inTx runs this again after a conflict (PostgreSQL): nothing from an aborted run counts
		for i := range starts {
			if missing[i] {
				continue
			}
			busy, err := r.store.deployingElsewhere(ctx, tx, c.Organization, starts[i].n.Stack, 0)
			if err != nil {
				return err
			}
			if busy {
				continue
			}
			recorded[i] = true
		}
		var record []nodeRow
		for i := range starts {
			if recorded[i] {
				record = append(record, intents[i])
			}
		}
		if err := r.store.saveNodes(ctx, tx, c.ID, record); err != nil {
			return err
		}
		return r.recordEnds(ctx, tx, c, ends)
	})
	if err != nil {
		return err
	}
	r.logEnds(ctx, log, c, ends)
	for i, s := range starts {
		if recorded[i] {
			*s.n = intents[i]
			asking = append(asking, s.n)
		}
	}
	return r.postDeployments(ctx, log, c, asking)
}

// postDeployments asks for the deployments the intents of nodes record, once each, and records
// the answers in one transaction.
func (r *Relay) postDeployments(ctx context.Context, log *slog.Logger, c cascadeRow, nodes []*nodeRow) error {
	posted := make([]error, len(nodes))
	err := forEach(ctx, len(nodes), stepParallelism, func(i int) error {
		n := nodes[i]
		project, stack := splitRef(n.Stack)
		ref, err := r.cloud.CreateDeployment(ctx, c.Organization, project, stack, "update")
		switch {
		case err == nil:
			n.DeploymentID = ref.ID
			n.Reason = fmt.Sprintf("deployment %s running: %s", ref.ID, n.Cause)
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, cloud.ErrAmbiguous):
			posted[i] = err
			return nil
		}
		posted[i] = err
		return r.prepareEnd(ctx, c, n, false, fmt.Sprintf("the deployment could not be started: %v", err))
	})
	// What was started is recorded even when another request failed.
	var saves []*nodeRow
	var ends []ended
	for i, n := range nodes {
		switch {
		case posted[i] == nil && n.DeploymentID != "":
			saves = append(saves, n)
		case posted[i] != nil && !errors.Is(posted[i], cloud.ErrAmbiguous) && n.State != StateDeploying:
			ends = append(ends, ended{n: n})
		}
	}
	werr := inTx(ctx, r.db, func(tx *sql.Tx) error {
		if err := r.store.saveNodes(ctx, tx, c.ID, values(saves)); err != nil {
			return err
		}
		return r.recordEnds(ctx, tx, c, ends)
	})
	if werr != nil {
		return errors.Join(err, werr)
	}
	for i, n := range nodes {
		switch {
		case posted[i] == nil && n.DeploymentID != "":
			r.metrics.deploymentsStarted.Inc()
			log.Info("deployment started", "stack", n.Stack, "deployment", n.DeploymentID, "reason", n.Cause)
		case errors.Is(posted[i], cloud.ErrAmbiguous):
			log.Warn("the deployment request's outcome is unknown; the next step looks for it before asking again",
				"stack", n.Stack, "error", posted[i].Error())
		case posted[i] != nil:
			log.Error("the deployment could not be started", "stack", n.Stack, "error", posted[i].Error())
		}
	}
	r.logEnds(ctx, log, c, ends)
	return err
}

// followDeployment moves a deploying stack on: it finds the deployment of an intent, or asks
// for it when there is none. When the stack's deployment ended, it prepares n for recordEnds
// and reports the outcome.
func (r *Relay) followDeployment(ctx context.Context, log *slog.Logger, c cascadeRow, n *nodeRow) (*ended, error) {
	project, stack := splitRef(n.Stack)
	if n.DeploymentID == "" {
		d, err := r.findStarted(ctx, c.Organization, n)
		switch {
		case errors.Is(err, errNotStarted):
			log.Info("no deployment was started for the recorded intent; asking for it now", "stack", n.Stack)
			return nil, r.postDeployments(ctx, log, c, []*nodeRow{n})
		case err != nil:
			return nil, err
		}
		n.DeploymentID = d.ID
		n.Reason = fmt.Sprintf("deployment %s running (found after an interrupted start): %s", d.ID, n.Cause)
		if err := r.store.saveNode(ctx, r.db, c.ID, *n); err != nil {
			return nil, err
		}
		r.metrics.deploymentsStarted.Inc()
		log.Info("found the deployment started before an interruption; not starting another",
			"stack", n.Stack, "deployment", d.ID)
	}
	d, err := r.cloud.GetDeployment(ctx, c.Organization, project, stack, n.DeploymentID)
	if err != nil {
		return nil, fmt.Errorf("reading deployment %s of %s: %w", n.DeploymentID, n.Stack, err)
	}
	var ok bool
	var what string
	switch d.Status {
	case "succeeded":
		ok, what = true, fmt.Sprintf("deployment %s succeeded", d.ID)
	case "failed":
		what = fmt.Sprintf("deployment %s failed", d.ID)
	case "skipped":
		what = fmt.Sprintf("deployment %s was skipped by the service (a newer one replaced it in the stack's queue)", d.ID)
	default:
		return nil, nil
	}
	if err := r.prepareEnd(ctx, c, n, ok, what); err != nil {
		return nil, err
	}
	return &ended{n: n, ok: ok}, nil
}

var errNotStarted = errors.New("no deployment was started")

// findStarted looks for the update deployment the intent asked for: the first one numbered
// after the stack's newest deployment at the intent.
func (r *Relay) findStarted(ctx context.Context, org string, n *nodeRow) (cloud.Deployment, error) {
	project, stack := splitRef(n.Stack)
	for v := n.PriorVersion + 1; v <= n.PriorVersion+maxLookahead; v++ {
		d, err := r.cloud.GetDeploymentByVersion(ctx, org, project, stack, v)
		if errors.Is(err, cloud.ErrNotFound) {
			return cloud.Deployment{}, errNotStarted
		}
		if err != nil {
			return cloud.Deployment{}, fmt.Errorf("looking for the deployment of %s started before an interruption: %w",
				n.Stack, err)
		}
		if d.Operation == "" || d.Operation == "update" {
			return d, nil
		}
	}
	return cloud.Deployment{}, errNotStarted
}

// ended is a stack whose deployment ended, prepared by prepareEnd, and whether it succeeded.
// recordEnds sets held to the newest update of the stack that arrived while it deployed (0 for
// none).
type ended struct {
	n    *nodeRow
	ok   bool
	held int
}

// prepareEnd sets n to how its deployment ended: its state (or waiting again, when the cascade
// moved to a newer generation meanwhile) and its stack version, read now, so that the update
// event its deployment caused starts nothing. recordEnds writes it.
func (r *Relay) prepareEnd(ctx context.Context, c cascadeRow, n *nodeRow, ok bool, what string) error {
	project, stack := splitRef(n.Stack)
	// A stack that does not exist (an edge to a deleted stack) fails to deploy and has no version.
	st, err := r.cloud.GetStack(ctx, c.Organization, project, stack)
	if err != nil && !errors.Is(err, cloud.ErrNotFound) {
		return fmt.Errorf("reading stack %s after its deployment: %w", n.Stack, err)
	}
	n.State = AfterDeployment(n.Generation, c.Generation, ok)
	n.Version = st.Version
	n.Reason = what
	if st.Version > 0 {
		n.Reason += fmt.Sprintf(" (stack version %d)", st.Version)
	}
	n.Reason += ": " + n.Cause
	if n.State == StateWaiting {
		n.Generation = c.Generation
		n.Reason += fmt.Sprintf("; deploys again after the root's update to version %d", c.RootVersion)
	}
	return nil
}

// recordEnds writes, in tx, how the deployments of ends ended: each stack's state, the
// versions it deployed against when it succeeded, whether it failed, and its stack version.
// An update held while the stack deployed (holdUpdate) is the deployment's own when its version
// is at or below the stack's version read after the end, and is dropped; a newer one is someone
// else's, and is queued as an event like any delivered update.
func (r *Relay) recordEnds(ctx context.Context, tx *sql.Tx, c cascadeRow, ends []ended) error {
	// The rows first: takeHeld locks each (see there).
	for i := range ends {
		held, err := r.store.takeHeld(ctx, tx, c.ID, ends[i].n.Stack)
		if err != nil {
			return err
		}
		ends[i].held = held
	}
	nodes := make([]nodeRow, len(ends))
	for i, e := range ends {
		if e.held > e.n.Version {
			project, stack := splitRef(e.n.Stack)
			ev := eventArgs{Organization: c.Organization, Project: project, Stack: stack, Version: e.held}
			if _, err := r.jobs.InsertTx(ctx, tx, ev, nil); err != nil {
				return err
			}
		}
		if e.ok {
			if err := r.store.recordEdges(ctx, tx, c.Organization, e.n.Stack, e.n.Against); err != nil {
				return err
			}
		}
		if err := r.store.recordDeploymentEnd(ctx, tx, c.Organization, e.n.Stack, e.n.Version, !e.ok); err != nil {
			return err
		}
		nodes[i] = *e.n
	}
	return r.store.saveNodes(ctx, tx, c.ID, nodes)
}

func (r *Relay) logEnds(ctx context.Context, log *slog.Logger, c cascadeRow, ends []ended) {
	for _, e := range ends {
		r.metrics.deploymentEnded(c.ID, e.n.Stack, e.ok, e.n.State)
		level := slog.LevelInfo
		if !e.ok {
			level = slog.LevelError
		}
		log.Log(ctx, level, "deployment ended", "stack", e.n.Stack, "state", e.n.State, "deployment", e.n.DeploymentID,
			"reason", e.n.Reason)
		switch {
		case e.held > e.n.Version:
			log.Info("update held during the relay's deployment is newer than the deployment: queued as an update",
				"stack", e.n.Stack, "version", e.held)
		case e.held > 0:
			log.Info("update "+ignoredOutcome(e.held, e.n.Version), "stack", e.n.Stack, "version", e.held)
		}
	}
}
