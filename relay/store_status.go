package relay

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
)

// The status page's reads (status.go). Each is one query whatever the organization's size, so that a
// page asking every second costs the database a handful of indexed reads; none writes.

// statusCascades reads the organization's running cascades and its recent newest ones, newest first,
// with their rows.
func (s *store) statusCascades(ctx context.Context, q querier, org string, recent int) ([]cascadeRecord,
	map[int64][]*cascadeRow, error) {
	const which = `WHERE organization = $1 AND (state = $2 OR id IN (
	SELECT id FROM relay_cascade WHERE organization = $1 ORDER BY id DESC LIMIT $3))`
	recs, err := s.cascades(ctx, q, which+` ORDER BY id DESC`, org, cascadeRunning, recent)
	if err != nil {
		return nil, nil, err
	}
	rows, err := s.rowsOf(ctx, q, recs)
	return recs, rows, err
}

// DeploymentView is one deployment the relay asked for (a relay_deployment row), as the status page's
// timeline draws it.
type DeploymentView struct {
	// Row is its relay_deployment id; Stack is "project/stack".
	Row   int64  `json:"row"`
	Stack string `json:"stack"`
	// DeploymentID is its id in Pulumi Cloud and ConsoleURL its page there, both empty while the relay
	// has not had the answer to its request.
	DeploymentID string `json:"deploymentId"`
	ConsoleURL   string `json:"consoleUrl"`
	// Reason is why the relay deployed the stack, and Covers every parent's version ("project/stack" →
	// version) it deploys against: the changes above it that caused it.
	Reason string         `json:"reason"`
	Covers map[string]int `json:"covers"`
	// IntentMS is when the relay decided to ask (Unix ms), StartedMS when Pulumi Cloud answered and
	// EndedMS when the relay saw it end; each 0 until then.
	IntentMS  int64 `json:"intentMs"`
	StartedMS int64 `json:"startedMs"`
	EndedMS   int64 `json:"endedMs"`
	// Outcome is succeeded, failed or cancelled once it ended, and Version the stack's version then.
	Outcome string `json:"outcome"`
	Version int    `json:"version"`
}

// statusDeployments reads the organization's deployments intended since sinceMS (Unix ms) or not yet
// ended, the newest limit of them, oldest first.
func (s *store) statusDeployments(ctx context.Context, q querier, org string, sinceMS int64,
	limit int) ([]DeploymentView, error) {
	rows, err := q.QueryContext(ctx, `
SELECT id, project, stack, deployment_id, console_url, reason, covers, intent_ms, started_ms, ended_ms, outcome, version
FROM relay_deployment WHERE organization = $1 AND (intent_ms >= $2 OR ended_ms = 0)
ORDER BY id DESC LIMIT $3`, org, sinceMS, limit)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var out []DeploymentView
	for rows.Next() {
		var d DeploymentView
		var project, name, covers string
		if err := rows.Scan(&d.Row, &project, &name, &d.DeploymentID, &d.ConsoleURL, &d.Reason, &covers, &d.IntentMS,
			&d.StartedMS, &d.EndedMS, &d.Outcome, &d.Version); err != nil {
			return nil, err
		}
		d.Stack = project + "/" + name
		if err := json.Unmarshal([]byte(covers), &d.Covers); err != nil {
			return nil, fmt.Errorf("relay deployment %d of %s: its covers: %w", d.Row, d.Stack, err)
		}
		out = append(out, d)
	}
	slices.Reverse(out)
	return out, rows.Err()
}
