package relay

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// maxDeliveryBytes bounds a delivery's body; update payloads are a few kilobytes.
const maxDeliveryBytes = 1 << 20

// Handler serves the relay's routes:
//
//	GET  /healthz      200 {"status":"ok"} while the database answers, 503 otherwise
//	GET  /v1/cascades  the cascades, newest first (?limit=, 50 by default, at most 500)
//	POST /v1/hooks     a webhook delivery (?target= names the edge; the payload names the stack)
//	GET  /metrics      Prometheus metrics (metrics.go)
//	GET  /v1/plan      what a change of a stack would deploy (?organization=&stack=project/stack; plan.go)
func (r *Relay) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", r.healthz)
	mux.HandleFunc("GET /v1/cascades", r.listCascades)
	mux.HandleFunc("POST "+HooksPath, r.receive)
	mux.Handle("GET /metrics", r.metrics.handler(r.log))
	mux.Handle("GET /v1/plan", planHandler(r.cloud))
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
// wrong signature, 400 for an update that cannot be read.
func (r *Relay) receive(w http.ResponseWriter, req *http.Request) {
	body, err := readBody(w, req)
	if err != nil {
		r.metrics.deliveries.WithLabelValues("invalid").Inc()
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is over %d bytes", tooBig.Limit))
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
	duplicate := r.recent.has(ev, time.Now())
	if !duplicate {
		q, err := r.queueUpdate(req.Context(), ev)
		if err != nil {
			r.log.Error("queueing an update failed", "delivery", delivery, "error", err.Error())
			writeError(w, http.StatusInternalServerError, "queueing the update: "+err.Error())
			return
		}
		r.recent.add(ev, time.Now())
		duplicate = q.what == queuedDuplicate
		switch q.what {
		case queuedHeld:
			log.Info("update held: the relay's own deployment of this stack is in flight", "cascade", q.cascade)
		case queuedIgnored:
			log.Info("update " + ignoredOutcome(ev.Version, q.seen))
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

func readBody(w http.ResponseWriter, req *http.Request) ([]byte, error) {
	defer func() { _ = req.Body.Close() }()
	return io.ReadAll(http.MaxBytesReader(w, req.Body, maxDeliveryBytes))
}

// CascadeView is one cascade as GET /v1/cascades shows it.
type CascadeView struct {
	ID           int64  `json:"id"`
	Organization string `json:"organization"`
	// Root is the stack whose update started the cascade, as "organization/project/stack".
	Root string `json:"root"`
	// Version is the root's version the cascade deploys after: the newest update merged in.
	Version    int         `json:"version"`
	Generation int         `json:"generation"`
	State      string      `json:"state"` // running, done or failed
	Error      string      `json:"error,omitempty"`
	Created    time.Time   `json:"created"`
	Updated    time.Time   `json:"updated"`
	Stacks     []StackView `json:"stacks"`
}

// StackView is one stack below a cascade's root.
type StackView struct {
	Stack        string   `json:"stack"` // "organization/project/stack"
	Parents      []string `json:"parents"`
	State        State    `json:"state"`
	Reason       string   `json:"reason"`
	DeploymentID string   `json:"deploymentId"`
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
	rows, err := r.store.cascades(ctx, r.db, `ORDER BY id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	views := make([]CascadeView, 0, len(rows))
	for _, c := range rows {
		nodes, err := r.store.nodes(ctx, r.db, c.ID)
		if err != nil {
			return nil, err
		}
		v := CascadeView{ID: c.ID, Organization: c.Organization, Root: c.Organization + "/" + c.Root,
			Version: c.RootVersion, Generation: c.Generation, State: c.State, Error: c.Error,
			Created: c.Created, Updated: c.Updated, Stacks: make([]StackView, 0, len(nodes))}
		for _, n := range nodes {
			parents := make([]string, len(n.Parents))
			for i, p := range n.Parents {
				parents[i] = c.Organization + "/" + p
			}
			v.Stacks = append(v.Stacks, StackView{Stack: c.Organization + "/" + n.Stack, Parents: parents,
				State: n.State, Reason: n.Reason, DeploymentID: n.DeploymentID, Deployments: n.Deployments,
				Version: n.Version})
		}
		views = append(views, v)
	}
	return views, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
