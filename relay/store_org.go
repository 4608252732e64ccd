package relay

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// errFenced stops a job whose organization another job took over: it must write nothing more.
var errFenced = errors.New("another relay took over this organization's schedule")

// claimOrg registers the organization if it is new and takes its schedule over: the epoch it returns
// fences every later write of this job (fenceOrg), so that a job River gave to another replica, while
// this one still ran, can no longer write or ask for anything.
func (s *store) claimOrg(ctx context.Context, q querier, name string) (epoch int64, baselined bool, err error) {
	if _, err := q.ExecContext(ctx, `
INSERT INTO relay_org (organization) VALUES ($1) ON CONFLICT (organization) DO NOTHING`, name); err != nil {
		return 0, false, err
	}
	var baseline int64
	err = q.QueryRowContext(ctx, `
UPDATE relay_org SET epoch = epoch + 1 WHERE organization = $1 RETURNING epoch, baseline_ms`, name).Scan(&epoch, &baseline)
	return epoch, baseline != 0, err
}

// fenceOrg fails with errFenced unless the organization is still this job's; in a transaction it also
// holds the organization's row until the commit, so that the fence cannot move in between.
func (s *store) fenceOrg(ctx context.Context, tx *sql.Tx, name string, epoch int64) error {
	res, err := tx.ExecContext(ctx, `UPDATE relay_org SET epoch = epoch WHERE organization = $1 AND epoch = $2`,
		name, epoch)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return errors.Join(errFenced, err)
	}
	return nil
}

func (s *store) markBaselined(ctx context.Context, tx *sql.Tx, name string) error {
	_, err := tx.ExecContext(ctx, `UPDATE relay_org SET baseline_ms = $2 WHERE organization = $1`, name, ms(s.now()))
	return err
}

// organizations lists the organizations the relay ever scheduled.
func (s *store) organizations(ctx context.Context, q querier) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT organization FROM relay_org ORDER BY organization`)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var out []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		out = append(out, name)
	}
	return out, rows.Err()
}

// loadOrg reads what the relay knows of an organization: its stacks, its links and its running
// cascades.
func (s *store) loadOrg(ctx context.Context, q querier, name string, epoch int64, baselined bool) (*org, error) {
	o := newOrg(name)
	o.epoch, o.baselined = epoch, baselined
	rows, err := q.QueryContext(ctx, `
SELECT project, stack, seen_version, last_update, edges_version, updating, deleted, last_failed, estimate_ms,
	flight, last_deployment
FROM relay_stack WHERE organization = $1`, name)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var project, name, flightJSON, lastJSON string
		var updating, deleted, failed int
		st := &stack{}
		if err := rows.Scan(&project, &name, &st.version, &st.lastUpdate, &st.edgesVersion, &updating, &deleted,
			&failed, &st.estimateMS, &flightJSON, &lastJSON); err != nil {
			_ = rows.Close()
			return nil, err
		}
		st.ref = project + "/" + name
		st.readAt = st.lastUpdate + 1
		st.updating, st.deleted, st.failed = updating != 0, deleted != 0, failed != 0
		if st.flight, err = decodeFlight(flightJSON); err == nil {
			st.last, err = decodeFlight(lastJSON)
		}
		if err != nil {
			_ = rows.Close()
			return nil, fmt.Errorf("stack %s: %w", st.ref, err)
		}
		o.stacks[st.ref] = st
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, err
	}
	rows, err = q.QueryContext(ctx, `
SELECT parent, child, parent_version, always_deploy, live FROM relay_edge WHERE organization = $1`, name)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		l := &link{}
		var always, live int
		if err := rows.Scan(&l.parent, &l.child, &l.recorded, &always, &live); err != nil {
			_ = rows.Close()
			return nil, err
		}
		l.always, l.live = always != 0, live != 0
		o.addLink(l)
		o.stackOf(l.parent)
		o.stackOf(l.child)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, err
	}
	clear(o.dirtyStacks) // stackOf marks the stacks only the links named; they are written when they change
	if o.cascades, err = s.runningCascades(ctx, q, name); err != nil {
		return nil, err
	}
	return o, nil
}

func decodeFlight(raw string) (*flight, error) {
	if raw == "" {
		return nil, nil
	}
	var f flight
	if err := json.Unmarshal([]byte(raw), &f); err != nil {
		return nil, fmt.Errorf("a recorded deployment: %w", err)
	}
	return &f, nil
}

func encodeFlight(f *flight) (string, error) {
	if f == nil {
		return "", nil
	}
	data, err := json.Marshal(f)
	return string(data), err
}

// batchRows bounds the rows one multi-row statement writes (SQLite allows 32766 parameters).
const batchRows = 200

// saveOrg writes the stacks and links changed since the last save, in tx, fenced.
func (s *store) saveOrg(ctx context.Context, tx *sql.Tx, o *org) error {
	if err := s.fenceOrg(ctx, tx, o.name, o.epoch); err != nil {
		return err
	}
	refs := slices.Sorted(maps.Keys(o.dirtyStacks))
	for start := 0; start < len(refs); start += batchRows {
		chunk := refs[start:min(start+batchRows, len(refs))]
		var args []any
		var values []string
		for _, ref := range chunk {
			st := o.stacks[ref]
			flightJSON, err := encodeFlight(st.flight)
			if err != nil {
				return err
			}
			lastJSON, err := encodeFlight(st.last)
			if err != nil {
				return err
			}
			project, name := splitRef(ref)
			values = append(values, placeholders(len(args), 12))
			args = append(args, o.name, project, name, st.version, st.lastUpdate, st.edgesVersion, b2i(st.updating),
				b2i(st.deleted), b2i(st.failed), st.estimateMS, flightJSON, lastJSON)
		}
		if _, err := tx.ExecContext(ctx, `
INSERT INTO relay_stack (organization, project, stack, seen_version, last_update, edges_version, updating, deleted,
	last_failed, estimate_ms, flight, last_deployment)
VALUES `+strings.Join(values, ", ")+`
ON CONFLICT (organization, project, stack) DO UPDATE SET seen_version = excluded.seen_version,
	last_update = excluded.last_update, edges_version = excluded.edges_version, updating = excluded.updating,
	deleted = excluded.deleted, last_failed = excluded.last_failed, estimate_ms = excluded.estimate_ms,
	flight = excluded.flight, last_deployment = excluded.last_deployment`, args...); err != nil {
			return err
		}
	}
	keys := slices.SortedFunc(maps.Keys(o.dirtyLinks), func(a, b linkKey) int {
		if c := strings.Compare(a.parent, b.parent); c != 0 {
			return c
		}
		return strings.Compare(a.child, b.child)
	})
	for start := 0; start < len(keys); start += batchRows {
		chunk := keys[start:min(start+batchRows, len(keys))]
		var args []any
		var values []string
		for _, k := range chunk {
			l := o.links[k.parent][k.child]
			values = append(values, placeholders(len(args), 6))
			args = append(args, o.name, l.parent, l.child, l.recorded, b2i(l.always), b2i(l.live))
		}
		if _, err := tx.ExecContext(ctx, `
INSERT INTO relay_edge (organization, parent, child, parent_version, always_deploy, live)
VALUES `+strings.Join(values, ", ")+`
ON CONFLICT (organization, parent, child) DO UPDATE SET parent_version = excluded.parent_version,
	always_deploy = excluded.always_deploy, live = excluded.live`, args...); err != nil {
			return err
		}
	}
	return nil
}

// placeholders is "($n+1, …, $n+count)".
func placeholders(n, count int) string {
	var b strings.Builder
	b.WriteByte('(')
	for i := range count {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d", n+i+1)
	}
	b.WriteByte(')')
	return b.String()
}

// addHint records that a delivery announced version of ref, keeping the newest announced.
func (s *store) addHint(ctx context.Context, q querier, org, ref string, version int) error {
	project, name := splitRef(ref)
	_, err := q.ExecContext(ctx, `
INSERT INTO relay_hint (organization, project, stack, version, received_ms) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (organization, project, stack) DO UPDATE SET
	version = CASE WHEN relay_hint.version < excluded.version THEN excluded.version ELSE relay_hint.version END,
	received_ms = excluded.received_ms`, org, project, name, version, ms(s.now()))
	return err
}

// hint is a version a delivery announced.
type hint struct {
	ref      string
	version  int
	received time.Time
}

// hints returns the hints of an organization; forgetHints forgets them once taken in.
func (s *store) hints(ctx context.Context, q querier, org string) ([]hint, error) {
	rows, err := q.QueryContext(ctx, `
SELECT project, stack, version, received_ms FROM relay_hint WHERE organization = $1`, org)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var out []hint
	for rows.Next() {
		var project, name string
		var h hint
		var received int64
		if err := rows.Scan(&project, &name, &h.version, &received); err != nil {
			return nil, err
		}
		h.ref, h.received = project+"/"+name, time.UnixMilli(received)
		out = append(out, h)
	}
	slices.SortFunc(out, func(a, b hint) int { return strings.Compare(a.ref, b.ref) })
	return out, rows.Err()
}

// forgetHints forgets hints taken in, unless a newer version was announced meanwhile.
func (s *store) forgetHints(ctx context.Context, tx *sql.Tx, org string, hints []hint) error {
	for _, h := range hints {
		project, name := splitRef(h.ref)
		if _, err := tx.ExecContext(ctx, `
DELETE FROM relay_hint WHERE organization = $1 AND project = $2 AND stack = $3 AND version <= $4`,
			org, project, name, h.version); err != nil {
			return err
		}
	}
	return nil
}

// newDeploymentRow records a relay deployment's intent and returns its row id.
func (s *store) newDeploymentRow(ctx context.Context, tx *sql.Tx, org, ref string, f *flight) (int64, error) {
	covers, err := json.Marshal(f.Covers)
	if err != nil {
		return 0, err
	}
	project, name := splitRef(ref)
	var id int64
	err = tx.QueryRowContext(ctx, `
INSERT INTO relay_deployment (organization, project, stack, reason, covers, intent_ms) VALUES ($1, $2, $3, $4, $5, $6)
RETURNING id`, org, project, name, f.Reason, string(covers), f.IntentMS).Scan(&id)
	return id, err
}

// saveDeploymentRow records what became of a relay deployment.
func (s *store) saveDeploymentRow(ctx context.Context, tx *sql.Tx, f *flight) error {
	_, err := tx.ExecContext(ctx, `
UPDATE relay_deployment SET deployment_id = $2, console_url = $3, started_ms = $4, ended_ms = $5, outcome = $6,
	version = $7
WHERE id = $1`,
		f.Row, f.ID, f.ConsoleURL, f.StartedMS, f.EndedMS, f.Outcome, f.Version)
	return err
}
