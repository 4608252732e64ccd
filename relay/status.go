package relay

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/autodeploy-dev/pulumi-auto-deploy/edge"
)

// The status page: on the admin address, GET / is a small static page (relay/status, embedded) that
// asks GET /v1/status every second and draws the organization's relay graph, each stack in its state,
// and a timeline of the relay's deployments in the current and recent cascades. The JSON is computed
// from the database alone, never from a running job's memory: the organization's schedule may run on
// another replica, and this one must show the same thing.

//go:embed status
var statusFiles embed.FS

// statusCSP lets the page load its own script and stylesheet and call its own origin, nothing else;
// its links to Pulumi Cloud's console are plain links, which a CSP does not govern.
const statusCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

const (
	// statusRecentCascades is how many of the newest cascades the page shows besides the running ones.
	statusRecentCascades = 10
	// statusMaxDeployments bounds the timeline: a cascade of thousands of stacks shows its newest ones.
	statusMaxDeployments = 500
	// statusQuietWindow is how far back the timeline reaches when no cascade is shown.
	statusQuietWindow = time.Hour
)

// statusRoutes adds the status page and its JSON to the admin routes.
func (r *Relay) statusRoutes(mux *http.ServeMux) {
	assets, err := fs.Sub(statusFiles, "status")
	if err != nil {
		panic("relay: the status page's assets: " + err.Error())
	}
	files := http.FileServerFS(assets)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, req *http.Request) {
		setStatusHeaders(w)
		http.ServeFileFS(w, req, assets, "index.html")
	})
	mux.Handle("GET /status/{file}", http.StripPrefix("/status/", http.HandlerFunc(
		func(w http.ResponseWriter, req *http.Request) {
			setStatusHeaders(w)
			files.ServeHTTP(w, req)
		})))
	mux.HandleFunc("GET /v1/status", r.status)
}

func setStatusHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", statusCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
}

// StatusView is an organization as the status page draws it (GET /v1/status). Stacks are named
// "project/stack", as in the plan; the cascades are as GET /v1/cascades shows them.
type StatusView struct {
	Organization string `json:"organization"`
	// NowMS is when the relay read it (Unix ms): the timeline's right edge for what still runs.
	NowMS int64 `json:"nowMs"`
	// Stacks are the stacks of the relay graph, by name, and Edges its live relay edges.
	Stacks []StackStatus `json:"stacks"`
	Edges  []EdgeStatus  `json:"edges"`
	// Cycles are the cycles among the edges, each a path that closes on its first stack.
	Cycles [][]string `json:"cycles,omitempty"`
	// Cascades are the running cascades and the newest others, newest first.
	Cascades []CascadeView `json:"cascades"`
	// Deployments are the relay's deployments intended since the oldest cascade shown began (the last
	// hour when none is), and those not ended, the newest 500 of them, oldest first.
	Deployments []DeploymentView `json:"deployments"`
}

// StackStatus is one stack of the graph on the status page.
type StackStatus struct {
	Stack string `json:"stack"`
	// State is what the page draws: idle, due, waiting, deploying, succeeded, failed or skipped
	// (pageState says how it follows from the rest).
	State string `json:"state"`
	// Phase is its phase in the organization's schedule, and Why says why when it is not idle.
	Phase Phase  `json:"phase"`
	Why   string `json:"why,omitempty"`
	// Version is its newest version the relay knows of.
	Version int `json:"version"`
}

// EdgeStatus is one live relay edge.
type EdgeStatus struct {
	Parent       string `json:"parent"`
	Child        string `json:"child"`
	AlwaysDeploy bool   `json:"alwaysDeploy,omitempty"`
}

// The states the page draws a stack in.
const (
	pageIdle      = "idle"
	pageDue       = "due"
	pageWaiting   = "waiting"
	pageDeploying = "deploying"
	pageSucceeded = "succeeded"
	pageFailed    = "failed"
	pageSkipped   = "skipped"
)

// pageState is the state the page draws a stack in. While it has something to do, its phase in the
// schedule says: ready is due; waiting and unsure are waiting; blocked (a failure above it) is skipped;
// deploying (the relay's deployment or someone else's update) is deploying; on or below a cycle is
// failed, as its cascades' rows are. Otherwise how it last ended: its row in the newest cascade shown
// that holds it (a skip of either kind is skipped), else its last relay deployment's outcome (cancelled
// is failed), else idle.
func pageState(phase Phase, row State, last *flight) string {
	switch phase {
	case PhaseReady:
		return pageDue
	case PhaseWaiting, PhaseUnsure:
		return pageWaiting
	case PhaseBlocked:
		return pageSkipped
	case PhaseDeploying:
		return pageDeploying
	case PhaseCycle:
		return pageFailed
	}
	switch row {
	case StateWaiting:
		return pageWaiting
	case StateDeploying:
		return pageDeploying
	case StateSucceeded:
		return pageSucceeded
	case StateFailed:
		return pageFailed
	case StateSkippedUnchanged, StateSkippedUpstreamFailed:
		return pageSkipped
	}
	switch {
	case last == nil || last.Outcome == "":
		return pageIdle
	case last.Outcome == outcomeSucceeded:
		return pageSucceeded
	default:
		return pageFailed
	}
}

// status serves GET /v1/status?organization=ORG. organization may be left out while the relay
// schedules exactly one. 400: organization missing (with none or several scheduled) or not a name;
// 404: an organization the relay does not schedule; 500: the database could not be read.
func (r *Relay) status(w http.ResponseWriter, req *http.Request) {
	ctx := req.Context()
	org := req.URL.Query().Get("organization")
	if org != "" && !edge.ValidName(org) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("the query parameter organization %q is not an organization "+
			"name: 1-100 letters, digits, '-', '_' or '.'", org))
		return
	}
	known, err := r.store.organizations(ctx, r.db)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "reading the organizations: "+err.Error())
		return
	}
	switch {
	case org == "" && len(known) == 1:
		org = known[0]
	case org == "":
		writeError(w, http.StatusBadRequest, "the query parameter organization is missing: name the organization "+
			"to show, one of those the relay schedules ("+orgList(known)+")")
		return
	case !slices.Contains(known, org):
		writeError(w, http.StatusNotFound, fmt.Sprintf("the relay does not schedule organization %q: it schedules %s",
			org, orgList(known)))
		return
	}
	view, err := r.statusOf(ctx, org)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "reading the status of "+org+": "+err.Error())
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, view)
}

func orgList(orgs []string) string {
	if len(orgs) == 0 {
		return "none yet"
	}
	return strings.Join(orgs, ", ")
}

// statusOf reads an organization's status from the database: what the relay knows of it (loadOrg, which
// writes nothing), the schedule computed from that (Schedule is pure), the cascades and the
// deployments.
func (r *Relay) statusOf(ctx context.Context, name string) (StatusView, error) {
	now := time.Now()
	var o *org
	var recs []cascadeRecord
	var rows map[int64][]*cascadeRow
	var deployments []DeploymentView
	err := r.readAtOnce(ctx, func(q querier) (err error) {
		if o, err = r.store.loadOrg(ctx, q, name, 0, false); err != nil {
			return err
		}
		if recs, rows, err = r.store.statusCascades(ctx, q, name, statusRecentCascades); err != nil {
			return err
		}
		since := now.Add(-statusQuietWindow).UnixMilli()
		if len(recs) > 0 {
			since = recs[len(recs)-1].Created.UnixMilli()
		}
		deployments, err = r.store.statusDeployments(ctx, q, name, since, statusMaxDeployments)
		return err
	})
	if err != nil {
		return StatusView{}, err
	}

	world := o.world(now, o.defaultEstimate())
	plan := Schedule(world)
	// newest is each stack's row in the newest cascade that holds it; recs are newest first.
	newest := map[string]State{}
	view := StatusView{Organization: name, NowMS: now.UnixMilli(), Cycles: plan.Cycles,
		Stacks: []StackStatus{}, Edges: []EdgeStatus{}, Cascades: make([]CascadeView, 0, len(recs)),
		Deployments: deployments}
	for _, c := range recs {
		for _, row := range rows[c.ID] {
			if _, ok := newest[row.stack]; !ok {
				newest[row.stack] = row.state
			}
		}
		view.Cascades = append(view.Cascades, cascadeView(c, rows[c.ID]))
	}
	if view.Deployments == nil {
		view.Deployments = []DeploymentView{}
	}
	for _, ref := range slices.Sorted(maps.Keys(world.Stacks)) {
		phase := plan.Phase[ref]
		if phase == "" {
			phase = PhaseIdle
		}
		view.Stacks = append(view.Stacks, StackStatus{Stack: ref, State: pageState(phase, newest[ref], o.stacks[ref].last),
			Phase: phase, Why: plan.Why[ref], Version: world.Stacks[ref].Version})
	}
	for _, l := range world.Links {
		view.Edges = append(view.Edges, EdgeStatus{Parent: l.Parent, Child: l.Child, AlwaysDeploy: l.AlwaysDeploy})
	}
	return view, nil
}
