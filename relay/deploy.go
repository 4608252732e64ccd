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

// startDeployment records the intent to deploy n, then asks for the deployment.
func (r *Relay) startDeployment(ctx context.Context, log *slog.Logger, c cascadeRow, n *nodeRow, why string,
	against map[string]int,
) error {
	project, stack := splitRef(n.Stack)
	latest, total, err := r.cloud.ListDeployments(ctx, c.Organization, project, stack, 1, 1)
	if errors.Is(err, cloud.ErrNotFound) {
		// An edge to a stack that was deleted: it fails, and what is below it is skipped.
		n.Cause = why
		return r.endDeployment(ctx, log, c, n, false, "the stack does not exist")
	}
	if err != nil {
		return fmt.Errorf("listing the deployments of %s: %w", n.Stack, err)
	}
	prior := total
	for _, d := range latest {
		prior = max(prior, d.Version)
	}
	intent := *n
	intent.State, intent.DeploymentID, intent.PriorVersion, intent.Against = StateDeploying, "", prior, against
	intent.Deployments++
	intent.Cause, intent.Reason = why, "asking for a deployment: "+why
	// Another cascade may have started this stack since it was judged, or another run of this
	// cascade's step (a replica's step that River took for abandoned): checking and recording in
	// one transaction keeps two of them from deploying one stack at once. The stack was waiting
	// here when judged, so a deploying row even in this cascade is someone else's.
	busy := false
	err = inTx(ctx, r.db, func(tx *sql.Tx) error {
		var err error
		if busy, err = r.store.deployingElsewhere(ctx, tx, c.Organization, n.Stack, 0); err != nil || busy {
			return err
		}
		return r.store.saveNode(ctx, tx, c.ID, intent)
	})
	if err != nil || busy {
		return err
	}
	*n = intent
	return r.postDeployment(ctx, log, c, n)
}

// postDeployment asks for the deployment an intent records, once.
func (r *Relay) postDeployment(ctx context.Context, log *slog.Logger, c cascadeRow, n *nodeRow) error {
	project, stack := splitRef(n.Stack)
	ref, err := r.cloud.CreateDeployment(ctx, c.Organization, project, stack, "update")
	switch {
	case err == nil:
		n.DeploymentID = ref.ID
		n.Reason = fmt.Sprintf("deployment %s running: %s", ref.ID, n.Cause)
		if err := r.store.saveNode(ctx, r.db, c.ID, *n); err != nil {
			return err
		}
		log.Info("deployment started", "stack", n.Stack, "deployment", ref.ID, "reason", n.Cause)
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, cloud.ErrAmbiguous):
		log.Warn("the deployment request's outcome is unknown; the next step looks for it before asking again",
			"stack", n.Stack, "error", err.Error())
		return nil
	}
	log.Error("the deployment could not be started", "stack", n.Stack, "error", err.Error())
	return r.endDeployment(ctx, log, c, n, false, fmt.Sprintf("the deployment could not be started: %v", err))
}

// followDeployment moves a deploying stack on: it finds the deployment of an intent, or asks
// for it when there is none, and ends the stack when its deployment ended.
func (r *Relay) followDeployment(ctx context.Context, log *slog.Logger, c cascadeRow, n *nodeRow) error {
	project, stack := splitRef(n.Stack)
	if n.DeploymentID == "" {
		d, err := r.findStarted(ctx, c.Organization, n)
		switch {
		case errors.Is(err, errNotStarted):
			log.Info("no deployment was started for the recorded intent; asking for it now", "stack", n.Stack)
			return r.postDeployment(ctx, log, c, n)
		case err != nil:
			return err
		}
		n.DeploymentID = d.ID
		n.Reason = fmt.Sprintf("deployment %s running (found after an interrupted start): %s", d.ID, n.Cause)
		if err := r.store.saveNode(ctx, r.db, c.ID, *n); err != nil {
			return err
		}
		log.Info("found the deployment started before an interruption; not starting another",
			"stack", n.Stack, "deployment", d.ID)
	}
	d, err := r.cloud.GetDeployment(ctx, c.Organization, project, stack, n.DeploymentID)
	if err != nil {
		return fmt.Errorf("reading deployment %s of %s: %w", n.DeploymentID, n.Stack, err)
	}
	switch d.Status {
	case "succeeded":
		return r.endDeployment(ctx, log, c, n, true, fmt.Sprintf("deployment %s succeeded", d.ID))
	case "failed":
		return r.endDeployment(ctx, log, c, n, false, fmt.Sprintf("deployment %s failed", d.ID))
	case "skipped":
		return r.endDeployment(ctx, log, c, n, false,
			fmt.Sprintf("deployment %s was skipped by the service (a newer one replaced it in the stack's queue)", d.ID))
	}
	return nil
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

// endDeployment records how a stack's deployment ended: its state (or waiting again, when the
// cascade moved to a newer generation meanwhile), the versions it deployed against, whether
// it failed, and its stack version, so that the update event its deployment caused starts
// nothing.
func (r *Relay) endDeployment(ctx context.Context, log *slog.Logger, c cascadeRow, n *nodeRow, ok bool, what string) error {
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
	err = inTx(ctx, r.db, func(tx *sql.Tx) error {
		if ok {
			if err := r.store.recordEdges(ctx, tx, c.Organization, n.Stack, n.Against); err != nil {
				return err
			}
		}
		if err := r.store.setLastFailed(ctx, tx, c.Organization, n.Stack, !ok); err != nil {
			return err
		}
		if err := r.store.raiseSeen(ctx, tx, c.Organization, n.Stack, st.Version); err != nil {
			return err
		}
		return r.store.saveNode(ctx, tx, c.ID, *n)
	})
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if !ok {
		level = slog.LevelError
	}
	log.Log(ctx, level, "deployment ended", "stack", n.Stack, "state", n.State, "deployment", n.DeploymentID,
		"reason", n.Reason)
	return nil
}
