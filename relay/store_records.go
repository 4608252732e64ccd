package relay

import (
	"context"
	"database/sql"
	"errors"
)

// What the relay remembers about stacks across cascades: per stack the newest version whose
// update it has accounted for (seen) and whether its last deployment by the relay failed; per
// edge the parent's version the child last deployed against.

type stackRecord struct {
	SeenVersion int
	LastFailed  bool
}

func (s *store) stackRecord(ctx context.Context, q querier, org, ref string) (stackRecord, error) {
	project, stack := splitRef(ref)
	var r stackRecord
	var failed int
	err := q.QueryRowContext(ctx, `
SELECT seen_version, last_failed FROM relay_stack WHERE organization = $1 AND project = $2 AND stack = $3`,
		org, project, stack).Scan(&r.SeenVersion, &failed)
	if errors.Is(err, sql.ErrNoRows) {
		return stackRecord{}, nil
	}
	r.LastFailed = failed != 0
	return r, err
}

// raiseSeenVersion is the upsert's assignment that raises a stack's seen version to the one
// inserted, never lowering it.
const raiseSeenVersion = `seen_version =
	CASE WHEN relay_stack.seen_version < excluded.seen_version THEN excluded.seen_version ELSE relay_stack.seen_version END`

// raiseSeen records that updates of ref up to version are accounted for: an event at or below
// it starts nothing.
func (s *store) raiseSeen(ctx context.Context, q querier, org, ref string, version int) error {
	project, stack := splitRef(ref)
	_, err := q.ExecContext(ctx, `
INSERT INTO relay_stack (organization, project, stack, seen_version) VALUES ($1, $2, $3, $4)
ON CONFLICT (organization, project, stack) DO UPDATE SET `+raiseSeenVersion,
		org, project, stack, version)
	return err
}

// edgeVersions returns, for each parent of child that has a record, the parent's version the
// child last deployed against.
func (s *store) edgeVersions(ctx context.Context, q querier, org, child string) (map[string]int, error) {
	rows, err := q.QueryContext(ctx, `
SELECT parent, parent_version FROM relay_edge WHERE organization = $1 AND child = $2`, org, child)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	out := map[string]int{}
	for rows.Next() {
		var parent string
		var v int
		if err := rows.Scan(&parent, &v); err != nil {
			return nil, err
		}
		out[parent] = v
	}
	return out, rows.Err()
}

// recordEdges records the parents' versions child deployed against.
func (s *store) recordEdges(ctx context.Context, q querier, org, child string, against map[string]int) error {
	for parent, v := range against {
		if _, err := q.ExecContext(ctx, `
INSERT INTO relay_edge (organization, parent, child, parent_version) VALUES ($1, $2, $3, $4)
ON CONFLICT (organization, parent, child) DO UPDATE SET parent_version = excluded.parent_version`,
			org, parent, child, v); err != nil {
			return err
		}
	}
	return nil
}

// recordDeploymentEnd records, once the relay's deployment of ref ended, that its updates up to
// version are accounted for (as raiseSeen) and whether the deployment failed.
func (s *store) recordDeploymentEnd(ctx context.Context, q querier, org, ref string, version int, failed bool) error {
	project, stack := splitRef(ref)
	_, err := q.ExecContext(ctx, `
INSERT INTO relay_stack (organization, project, stack, seen_version, last_failed) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (organization, project, stack) DO UPDATE SET last_failed = excluded.last_failed, `+raiseSeenVersion,
		org, project, stack, version, b2i(failed))
	return err
}
