package relay

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Cascade states: running until every stack below the root has finished (done), or until the
// cascade could not run at all (failed: a cycle, or the graph could not be read).
const (
	cascadeRunning = "running"
	cascadeDone    = "done"
	cascadeFailed  = "failed"
)

// cascadeRow is one cascade as stored.
type cascadeRow struct {
	ID           int64
	Organization string
	Root         string // "project/stack"
	RootVersion  int
	// PendingVersion is the newest root version delivered; above RootVersion while an update
	// that arrived mid-cascade waits to be merged in as the next generation.
	PendingVersion int
	Generation     int
	State          string
	Discovered     bool
	Error          string
	Created        time.Time
	Updated        time.Time
}

// nodeRow is one stack below a cascade's root as stored.
type nodeRow struct {
	Node
	Reason string
	// Cause is why the stack deploys, kept for the reason shown once the deployment ended.
	Cause        string
	DeploymentID string
	Deployments  int // deployments the relay started for it in this cascade
	// PriorVersion is the stack's newest deployment version before the relay asked for one, so
	// that the deployment it asked for is the next one. A deploying stack without a
	// DeploymentID is an intent: a deployment may exist that the relay has not recorded.
	PriorVersion int
	// Against holds the parents' versions the deployment was decided against; they become the
	// edge records when it succeeds.
	Against map[string]int
	// Version is the stack's version once it finished.
	Version int
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (s *store) createCascade(ctx context.Context, q querier, org, root string, version int) (int64, error) {
	project, stack := splitRef(root)
	now := ms(s.now())
	var id int64
	err := q.QueryRowContext(ctx, `
INSERT INTO relay_cascade (organization, project, stack, root_version, pending_version, generation, state, created_ms, updated_ms)
VALUES ($1, $2, $3, $4, $4, 1, $5, $6, $6) RETURNING id`,
		org, project, stack, version, cascadeRunning, now).Scan(&id)
	return id, err
}

// activeCascade returns the running cascade rooted at ref, if there is one.
func (s *store) activeCascade(ctx context.Context, q querier, org, ref string) (int64, bool, error) {
	project, stack := splitRef(ref)
	var id int64
	err := q.QueryRowContext(ctx, `
SELECT id FROM relay_cascade WHERE organization = $1 AND project = $2 AND stack = $3 AND state = $4
ORDER BY id DESC LIMIT 1`, org, project, stack, cascadeRunning).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	return id, err == nil, err
}

// raisePending records a newer root version for a running cascade to merge.
func (s *store) raisePending(ctx context.Context, q querier, id int64, version int) error {
	_, err := q.ExecContext(ctx, `
UPDATE relay_cascade SET
	pending_version = CASE WHEN pending_version < $2 THEN $2 ELSE pending_version END, updated_ms = $3
WHERE id = $1`, id, version, ms(s.now()))
	return err
}

func (s *store) loadCascade(ctx context.Context, q querier, id int64) (cascadeRow, []nodeRow, error) {
	rows, err := s.cascades(ctx, q, `WHERE id = $1`, id)
	if err != nil {
		return cascadeRow{}, nil, err
	}
	if len(rows) == 0 {
		return cascadeRow{}, nil, fmt.Errorf("cascade %d: %w", id, sql.ErrNoRows)
	}
	nodes, err := s.nodes(ctx, q, id)
	return rows[0], nodes, err
}

// cascades reads cascades, newest first, filtered by where.
func (s *store) cascades(ctx context.Context, q querier, where string, args ...any) ([]cascadeRow, error) {
	rows, err := q.QueryContext(ctx, `
SELECT id, organization, project, stack, root_version, pending_version, generation, state, discovered, error,
	created_ms, updated_ms
FROM relay_cascade `+where, args...)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var out []cascadeRow
	for rows.Next() {
		var c cascadeRow
		var project, stack string
		var discovered int
		var created, updated int64
		if err := rows.Scan(&c.ID, &c.Organization, &project, &stack, &c.RootVersion, &c.PendingVersion,
			&c.Generation, &c.State, &discovered, &c.Error, &created, &updated); err != nil {
			return nil, err
		}
		c.Root = project + "/" + stack
		c.Discovered = discovered != 0
		c.Created, c.Updated = time.UnixMilli(created).UTC(), time.UnixMilli(updated).UTC()
		out = append(out, c)
	}
	return out, rows.Err()
}

// nodes reads a cascade's stacks in the order the graph was walked.
func (s *store) nodes(ctx context.Context, q querier, id int64) ([]nodeRow, error) {
	rows, err := q.QueryContext(ctx, `
SELECT project, stack, parents, state, generation, reason, cause, deployment_id, deployments, prior_version,
	against, version
FROM relay_cascade_stack WHERE cascade_id = $1 ORDER BY position`, id)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var out []nodeRow
	for rows.Next() {
		var n nodeRow
		var project, stack, parents, against, state string
		if err := rows.Scan(&project, &stack, &parents, &state, &n.Generation, &n.Reason, &n.Cause, &n.DeploymentID,
			&n.Deployments, &n.PriorVersion, &against, &n.Version); err != nil {
			return nil, err
		}
		n.Stack, n.State = project+"/"+stack, State(state)
		if err := json.Unmarshal([]byte(parents), &n.Parents); err != nil {
			return nil, fmt.Errorf("cascade %d, stack %s: parents: %w", id, n.Stack, err)
		}
		if err := json.Unmarshal([]byte(against), &n.Against); err != nil {
			return nil, fmt.Errorf("cascade %d, stack %s: against: %w", id, n.Stack, err)
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// saveGraph records the stacks a cascade covers, all waiting, in the order given.
func (s *store) saveGraph(ctx context.Context, tx *sql.Tx, c cascadeRow, nodes []nodeRow) error {
	for i, n := range nodes {
		project, stack := splitRef(n.Stack)
		parents, err := json.Marshal(n.Parents)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `
INSERT INTO relay_cascade_stack (cascade_id, position, organization, project, stack, parents, state, generation, reason)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			c.ID, i, c.Organization, project, stack, string(parents), string(n.State), n.Generation, n.Reason); err != nil {
			return err
		}
	}
	_, err := tx.ExecContext(ctx, `UPDATE relay_cascade SET discovered = 1, updated_ms = $2 WHERE id = $1`,
		c.ID, ms(s.now()))
	return err
}

// saveNode records everything about a stack that changes as its cascade runs.
func (s *store) saveNode(ctx context.Context, q querier, id int64, n nodeRow) error {
	return s.saveNodes(ctx, q, id, []nodeRow{n})
}

// saveNodes records nodes of cascade id as saveNode does, and the cascade's last change once.
func (s *store) saveNodes(ctx context.Context, q querier, id int64, nodes []nodeRow) error {
	if len(nodes) == 0 {
		return nil
	}
	for _, n := range nodes {
		project, stack := splitRef(n.Stack)
		against, err := json.Marshal(n.Against)
		if err != nil {
			return err
		}
		if n.Against == nil {
			against = []byte("{}")
		}
		if _, err := q.ExecContext(ctx, `
UPDATE relay_cascade_stack SET state = $4, generation = $5, reason = $6, deployment_id = $7, deployments = $8,
	prior_version = $9, against = $10, version = $11, cause = $12
WHERE cascade_id = $1 AND project = $2 AND stack = $3`,
			id, project, stack, string(n.State), n.Generation, n.Reason, n.DeploymentID, n.Deployments,
			n.PriorVersion, string(against), n.Version, n.Cause); err != nil {
			return err
		}
	}
	_, err := q.ExecContext(ctx, `UPDATE relay_cascade SET updated_ms = $2 WHERE id = $1`, id, ms(s.now()))
	return err
}

// values returns the nodes ptrs point to.
func values(ptrs []*nodeRow) []nodeRow {
	out := make([]nodeRow, len(ptrs))
	for i, p := range ptrs {
		out[i] = *p
	}
	return out
}

// startGeneration moves a cascade to generation gen at root version version.
func (s *store) startGeneration(ctx context.Context, q querier, id int64, gen, version int) error {
	_, err := q.ExecContext(ctx, `UPDATE relay_cascade SET generation = $2, root_version = $3, updated_ms = $4 WHERE id = $1`,
		id, gen, version, ms(s.now()))
	return err
}

// finishCascade ends a running cascade as done, unless a newer root update arrived meanwhile:
// then it reports false and the cascade runs on to merge it.
func (s *store) finishCascade(ctx context.Context, q querier, id int64) (bool, error) {
	res, err := q.ExecContext(ctx, `
UPDATE relay_cascade SET state = $2, updated_ms = $3
WHERE id = $1 AND state = $4 AND pending_version <= root_version`, id, cascadeDone, ms(s.now()), cascadeRunning)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// failCascade ends a running cascade that cannot run, saying why.
func (s *store) failCascade(ctx context.Context, q querier, id int64, msg string) error {
	_, err := q.ExecContext(ctx, `UPDATE relay_cascade SET state = $2, error = $3, updated_ms = $4 WHERE id = $1 AND state = $5`,
		id, cascadeFailed, msg, ms(s.now()), cascadeRunning)
	return err
}

// deployingElsewhere reports whether the relay has a deployment of ref in flight in a running
// cascade other than except (0 for any).
func (s *store) deployingElsewhere(ctx context.Context, q querier, org, ref string, except int64) (bool, error) {
	project, stack := splitRef(ref)
	var n int
	err := q.QueryRowContext(ctx, `
SELECT COUNT(*) FROM relay_cascade_stack s JOIN relay_cascade c ON c.id = s.cascade_id
WHERE s.organization = $1 AND s.project = $2 AND s.stack = $3 AND s.state = $4 AND c.state = $5 AND c.id <> $6`,
		org, project, stack, string(StateDeploying), cascadeRunning, except).Scan(&n)
	return n > 0, err
}

// holdUpdate records an update of ref to version on ref's row in the running cascade that is
// deploying it, if one is, and returns that cascade: the relay's own deployment of ref is in
// flight, and its end decides whether the update was that deployment's (takeHeld).
func (s *store) holdUpdate(ctx context.Context, q querier, org, ref string, version int) (int64, bool, error) {
	project, stack := splitRef(ref)
	rows, err := q.QueryContext(ctx, `
UPDATE relay_cascade_stack SET held_version = CASE WHEN held_version < $4 THEN $4 ELSE held_version END
WHERE organization = $1 AND project = $2 AND stack = $3 AND state = $5
	AND cascade_id IN (SELECT id FROM relay_cascade WHERE state = $6)
RETURNING cascade_id`, org, project, stack, version, string(StateDeploying), cascadeRunning)
	if err != nil {
		return 0, false, err
	}
	defer func() { _ = rows.Close() }()
	var id int64
	held := false
	for rows.Next() {
		if err := rows.Scan(&id); err != nil {
			return 0, false, err
		}
		held = true
	}
	return id, held, rows.Err()
}

// takeHeld returns the newest update held on ref's row of cascade id (0 for none) and clears it,
// in one statement that also locks the row: on PostgreSQL a step's transaction takes the rows it
// records first, so that a delivery held on one of them meanwhile waits for the step (and then
// finds the stack no longer deploying) rather than aborting it after all its writes. RETURNING
// gives the row as updated, so a held version is cleared to its negation, which says what it was
// and which holdUpdate and abandonDeploying read as nothing held; anything else becomes 0.
func (s *store) takeHeld(ctx context.Context, q querier, id int64, ref string) (int, error) {
	project, stack := splitRef(ref)
	var cleared int
	err := q.QueryRowContext(ctx, `
UPDATE relay_cascade_stack SET held_version = CASE WHEN held_version > 0 THEN -held_version ELSE 0 END
WHERE cascade_id = $1 AND project = $2 AND stack = $3
RETURNING held_version`, id, project, stack).Scan(&cleared)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return -cleared, err
}

// abandonDeploying marks the stacks cascade id is deploying as failed, saying why (the relay no
// longer follows their deployments: the cascade gave up), and returns the updates held on them.
// Changing their state is what keeps an update delivered meanwhile from being held on a cascade
// that ended (holdUpdate matches deploying rows only); on PostgreSQL, a hold committed after this
// transaction began makes it conflict and run again, so none is missed.
func (s *store) abandonDeploying(ctx context.Context, q querier, id int64, why string) ([]Event, error) {
	rows, err := q.QueryContext(ctx, `
UPDATE relay_cascade_stack SET state = $2, reason = $3
WHERE cascade_id = $1 AND state = $4
RETURNING organization, project, stack, held_version`, id, string(StateFailed), why, string(StateDeploying))
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var held []Event
	for rows.Next() {
		var ev Event
		if err := rows.Scan(&ev.Organization, &ev.Project, &ev.Stack, &ev.Version); err != nil {
			return nil, err
		}
		if ev.Version > 0 {
			held = append(held, ev)
		}
	}
	return held, rows.Err()
}
