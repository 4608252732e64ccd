package relay

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

func ms(t time.Time) int64 { return t.UnixMilli() }

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// cascadeRecord is one cascade as GET /v1/cascades reads it.
type cascadeRecord struct {
	ID           int64
	Organization string
	Root         string
	Version      int
	Cause        string
	State        string
	Error        string
	Created      time.Time
	Updated      time.Time
}

// insertCascade records a new cascade and its rows, and sets its id.
func (s *store) insertCascade(ctx context.Context, tx *sql.Tx, org string, c *cascade) error {
	project, name := splitRef(c.root)
	err := tx.QueryRowContext(ctx, `
INSERT INTO relay_cascade (organization, project, stack, root_version, pending_version, generation, state, discovered,
	cause, created_ms, updated_ms)
VALUES ($1, $2, $3, $4, $4, 1, $5, 1, $6, $7, $7) RETURNING id`,
		org, project, name, c.version, c.state, c.cause, ms(c.created)).Scan(&c.id)
	if err != nil {
		return err
	}
	for _, r := range c.rows {
		r.dirty = true
	}
	return s.saveCascade(ctx, tx, org, c)
}

// saveCascade writes a cascade's state and its rows that changed.
func (s *store) saveCascade(ctx context.Context, tx *sql.Tx, org string, c *cascade) error {
	if _, err := tx.ExecContext(ctx, `UPDATE relay_cascade SET state = $2, error = $3, updated_ms = $4 WHERE id = $1`,
		c.id, c.state, c.err, ms(s.now())); err != nil {
		return err
	}
	var dirty []int
	for i, r := range c.rows {
		if r.dirty {
			dirty = append(dirty, i)
		}
	}
	for start := 0; start < len(dirty); start += batchRows {
		var args []any
		var values []string
		for _, i := range dirty[start:min(start+batchRows, len(dirty))] {
			r := c.rows[i]
			parents, err := json.Marshal(r.parents)
			if err != nil {
				return err
			}
			covers, err := json.Marshal(r.covers)
			if err != nil {
				return err
			}
			if r.covers == nil {
				covers = []byte("{}")
			}
			project, name := splitRef(r.stack)
			values = append(values, placeholders(len(args), 13))
			args = append(args, c.id, i, org, project, name, string(parents), string(r.state), 1, r.reason,
				r.deploymentID, r.deployments, string(covers), r.version)
		}
		if _, err := tx.ExecContext(ctx, `
INSERT INTO relay_cascade_stack (cascade_id, position, organization, project, stack, parents, state, generation, reason,
	deployment_id, deployments, against, version)
VALUES `+strings.Join(values, ", ")+`
ON CONFLICT (cascade_id, project, stack) DO UPDATE SET state = excluded.state, reason = excluded.reason,
	deployment_id = excluded.deployment_id, deployments = excluded.deployments, against = excluded.against,
	version = excluded.version`, args...); err != nil {
			return err
		}
	}
	for _, i := range dirty {
		c.rows[i].dirty = false
	}
	return nil
}

// runningCascades reads an organization's running cascades, oldest first.
func (s *store) runningCascades(ctx context.Context, q querier, org string) ([]*cascade, error) {
	recs, err := s.cascades(ctx, q, `WHERE organization = $1 AND state = $2 ORDER BY id`, org, cascadeRunning)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, nil
	}
	// One query for every running cascade's rows: an organization may have many running at once.
	rows, err := s.cascadeRowsWhere(ctx, q,
		`WHERE cascade_id IN (SELECT id FROM relay_cascade WHERE organization = $1 AND state = $2)`, org, cascadeRunning)
	if err != nil {
		return nil, err
	}
	out := make([]*cascade, 0, len(recs))
	for _, rec := range recs {
		out = append(out, &cascade{id: rec.ID, root: rec.Root, version: rec.Version, cause: rec.Cause,
			created: rec.Created, state: rec.State, err: rec.Error, rows: rows[rec.ID]})
	}
	return out, nil
}

// cascades reads cascades, filtered and ordered by where.
func (s *store) cascades(ctx context.Context, q querier, where string, args ...any) ([]cascadeRecord, error) {
	rows, err := q.QueryContext(ctx, `
SELECT id, organization, project, stack, root_version, cause, state, error, created_ms, updated_ms
FROM relay_cascade `+where, args...)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var out []cascadeRecord
	for rows.Next() {
		var c cascadeRecord
		var project, name string
		var created, updated int64
		if err := rows.Scan(&c.ID, &c.Organization, &project, &name, &c.Version, &c.Cause, &c.State, &c.Error,
			&created, &updated); err != nil {
			return nil, err
		}
		c.Root = project + "/" + name
		c.Created, c.Updated = time.UnixMilli(created).UTC(), time.UnixMilli(updated).UTC()
		out = append(out, c)
	}
	return out, rows.Err()
}

// rowsOf reads the rows of the cascades recs, each cascade's in their order, in one query: by the ids
// read rather than by the condition that selected them, for a cascade that began in between would
// have rows and no record.
func (s *store) rowsOf(ctx context.Context, q querier, recs []cascadeRecord) (map[int64][]*cascadeRow, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	ids := make([]any, len(recs))
	for i, c := range recs {
		ids[i] = c.ID
	}
	return s.cascadeRowsWhere(ctx, q, `WHERE cascade_id IN `+placeholders(0, len(ids)), ids...)
}

// cascadeRowsWhere reads the rows of the cascades where selects, each cascade's in their order, in one
// query however many cascades that is.
func (s *store) cascadeRowsWhere(ctx context.Context, q querier, where string, args ...any) (map[int64][]*cascadeRow,
	error) {
	rows, err := q.QueryContext(ctx, `
SELECT cascade_id, project, stack, parents, state, reason, deployment_id, deployments, against, version
FROM relay_cascade_stack `+where+` ORDER BY cascade_id, position`, args...)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	out := map[int64][]*cascadeRow{}
	for rows.Next() {
		r := &cascadeRow{}
		var id int64
		var project, name, parents, covers, state string
		if err := rows.Scan(&id, &project, &name, &parents, &state, &r.reason, &r.deploymentID, &r.deployments,
			&covers, &r.version); err != nil {
			return nil, err
		}
		r.stack, r.state = project+"/"+name, State(state)
		if err := errors.Join(json.Unmarshal([]byte(parents), &r.parents), json.Unmarshal([]byte(covers), &r.covers)); err != nil {
			return nil, fmt.Errorf("cascade %d, stack %s: %w", id, r.stack, err)
		}
		out[id] = append(out[id], r)
	}
	return out, rows.Err()
}
