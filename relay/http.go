package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxDeliveryBytes bounds a delivery's body; update payloads are a few kilobytes.
const maxDeliveryBytes = 1 << 20

// routes serves the routes of the sets in which:
//
//	GET  /healthz      200 {"status":"ok"} while the database answers, 503 otherwise (both sets)
//	POST /v1/hooks     a webhook delivery (?target= names the edge; the payload names the stack)
//	GET  /v1/cascades  the cascades, newest first (?limit=, 50 by default, at most 500) (admin)
//	GET  /v1/plan      what a change of a stack would deploy (?organization=&stack=project/stack; plan.go) (admin)
//	GET  /metrics      Prometheus metrics (metrics.go) (admin)
//	GET  /             the status page, GET /v1/status?organization= what it draws (status.go) (admin)
//
// Anything else is 404, so the hooks address shows nothing of the graph to whoever reaches it.
func (r *Relay) routes(which routeSet) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", r.healthz)
	if which&hooksRoutes != 0 {
		mux.HandleFunc("POST "+HooksPath, r.receive)
	}
	if which&adminRoutes != 0 {
		mux.HandleFunc("GET /v1/cascades", r.listCascades)
		mux.Handle("GET /v1/plan", planHandler(r.cloud))
		mux.Handle("GET /metrics", r.metrics.handler(r.log))
		r.statusRoutes(mux)
	}
	return mux
}

func (r *Relay) healthz(w http.ResponseWriter, req *http.Request) {
	if err := r.db.PingContext(req.Context()); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "database unavailable: " + err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// receive verifies a delivery's signature over the raw body before reading anything in it,
// then queues the update it announces. The answer is 202 for an update queued (or already
// queued: "duplicate"), 200 for a verified delivery that starts nothing, 401 for a missing or
// wrong signature, 400 for an update that cannot be read, 403 for an update in an organization
// the relay does not serve (Config.Organizations), 408 for a body sent too slowly, 413 for one
// too large.
func (r *Relay) receive(w http.ResponseWriter, req *http.Request) {
	body, err := readBody(w, req)
	if err != nil {
		r.metrics.deliveries.WithLabelValues("invalid").Inc()
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is over %d bytes", tooBig.Limit))
			return
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			writeError(w, http.StatusRequestTimeout, fmt.Sprintf("the body did not arrive within the relay's "+
				"read timeout (%s, headers included): send it at once", r.cfg.HTTP.withDefaults().ReadTimeout))
			return
		}
		writeError(w, http.StatusBadRequest, "reading the body: "+err.Error())
		return
	}
	delivery := req.Header.Get(headerID)
	if err := verifySignature(body, req.Header.Get(headerSignature), r.secrets); err != nil {
		r.metrics.deliveries.WithLabelValues("refused").Inc()
		r.log.Warn("delivery refused", "delivery", delivery, "error", err.Error(), "remote", req.RemoteAddr)
		writeError(w, http.StatusUnauthorized, err.Error())
		return
	}
	ev, ignored, err := parseDelivery(req.Header.Get(headerKind), body)
	if err != nil {
		r.metrics.deliveries.WithLabelValues("invalid").Inc()
		r.log.Warn("delivery unreadable", "delivery", delivery, "error", err.Error())
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if ignored != "" {
		r.metrics.deliveries.WithLabelValues("ignored").Inc()
		writeJSON(w, http.StatusOK, map[string]string{"ignored": ignored})
		return
	}
	log := r.log.With("organization", ev.Organization, "stack", ev.Ref(), "version", ev.Version)
	if orgs := r.cfg.Organizations; len(orgs) > 0 && !slices.Contains(orgs, ev.Organization) {
		r.metrics.deliveries.WithLabelValues("forbidden").Inc()
		log.Warn("delivery forbidden: not an organization of --organization", "delivery", delivery,
			"remote", req.RemoteAddr)
		writeError(w, http.StatusForbidden, fmt.Sprintf("the payload's organization %q is not one this relay "+
			"deploys in: it takes deliveries of %s only (--organization)", ev.Organization, strings.Join(orgs, ", ")))
		return
	}
	duplicate := !r.recent.claim(ev, time.Now())
	if !duplicate {
		if err := r.takeHint(req.Context(), ev); err != nil {
			r.recent.release(ev)
			r.log.Error("recording a delivery failed", "delivery", delivery, "error", err.Error())
			writeError(w, http.StatusInternalServerError, "recording the update: "+err.Error())
			return
		}
	}
	result := "accepted"
	if duplicate {
		result = "duplicate"
	}
	r.metrics.deliveries.WithLabelValues(result).Inc()
	log.Info("delivery accepted", "delivery", delivery, "target", req.URL.Query().Get("target"), "duplicate", duplicate)
	writeJSON(w, http.StatusAccepted, map[string]any{
		"organization": ev.Organization, "stack": ev.Ref(), "version": ev.Version,
		"duplicate": duplicate,
	})
}

// takeHint records what a delivery announced, for the organization's next look, and wakes it. A
// delivery is a hint, not the truth: the look compares it with what it knows, and the poll finds what
// deliveries never announce.
func (r *Relay) takeHint(ctx context.Context, ev Event) error {
	if err := r.store.addHint(ctx, r.db, ev.Organization, ev.Ref(), ev.Version); err != nil {
		return err
	}
	return r.scheduleOrg(ctx, ev.Organization)
}

func readBody(w http.ResponseWriter, req *http.Request) ([]byte, error) {
	defer func() { _ = req.Body.Close() }()
	return io.ReadAll(http.MaxBytesReader(w, req.Body, maxDeliveryBytes))
}

// CascadeView is one cascade as GET /v1/cascades shows it.
type CascadeView struct {
	ID           int64  `json:"id"`
	Organization string `json:"organization"`
	// Root is the stack whose update started the cascade, as "organization/project/stack", and Version
	// the version that update made.
	Root    string `json:"root"`
	Version int    `json:"version"`
	// Cause says how the relay learnt of the root's update: a delivery, or its own polling.
	Cause   string      `json:"cause"`
	State   string      `json:"state"` // running, done, or failed (a cycle)
	Error   string      `json:"error,omitempty"`
	Created time.Time   `json:"created"`
	Updated time.Time   `json:"updated"`
	Stacks  []StackView `json:"stacks"`
}

// StackView is one stack below a cascade's root.
type StackView struct {
	Stack        string   `json:"stack"` // "organization/project/stack"
	Parents      []string `json:"parents"`
	State        State    `json:"state"`
	Reason       string   `json:"reason"`
	DeploymentID string   `json:"deploymentId"`
	// Covers is every parent's version the deployment deploys against ("organization/project/stack"
	// → version): one deployment covers every change above it that ended before it started.
	Covers map[string]int `json:"covers,omitempty"`
	// Deployments counts the deployments the relay started for the stack in this cascade.
	Deployments int `json:"deployments"`
	Version     int `json:"version,omitempty"`
}

func (r *Relay) listCascades(w http.ResponseWriter, req *http.Request) {
	limit := 50
	if raw := req.URL.Query().Get("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > 500 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("limit %q must be a whole number from 1 to 500", raw))
			return
		}
		limit = n
	}
	views, err := r.cascadeViews(req, limit)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "reading the cascades: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"cascades": views})
}

func (r *Relay) cascadeViews(req *http.Request, limit int) ([]CascadeView, error) {
	ctx := req.Context()
	var views []CascadeView
	err := r.readAtOnce(ctx, func(q querier) error {
		recs, err := r.store.cascades(ctx, q, `ORDER BY id DESC LIMIT $1`, limit)
		if err != nil {
			return err
		}
		rows, err := r.store.rowsOf(ctx, q, recs)
		if err != nil {
			return err
		}
		views = make([]CascadeView, 0, len(recs))
		for _, c := range recs {
			views = append(views, cascadeView(c, rows[c.ID]))
		}
		return nil
	})
	return views, err
}

// cascadeView is a cascade and its rows as GET /v1/cascades shows them, every stack qualified with
// the organization.
func cascadeView(c cascadeRecord, rows []*cascadeRow) CascadeView {
	qualify := func(ref string) string { return c.Organization + "/" + ref }
	v := CascadeView{ID: c.ID, Organization: c.Organization, Root: qualify(c.Root), Version: c.Version,
		Cause: c.Cause, State: c.State, Error: c.Error, Created: c.Created, Updated: c.Updated,
		Stacks: make([]StackView, 0, len(rows))}
	for _, row := range rows {
		sv := StackView{Stack: qualify(row.stack), Parents: make([]string, len(row.parents)), State: row.state,
			Reason: row.reason, DeploymentID: row.deploymentID, Deployments: row.deployments, Version: row.version}
		for i, p := range row.parents {
			sv.Parents[i] = qualify(p)
		}
		for p, version := range row.covers {
			if sv.Covers == nil {
				sv.Covers = map[string]int{}
			}
			sv.Covers[qualify(p)] = version
		}
		v.Stacks = append(v.Stacks, sv)
	}
	return v
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
