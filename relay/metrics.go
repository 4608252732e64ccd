package relay

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the relay's Prometheus metrics, served at /metrics. Each Relay has a registry of
// its own, so that several relays in one process (the tests) count apart. The counters count
// what this process did since it started, as Prometheus counters do; the queue gauges are read
// from the database at scrape time, so they hold across restarts.
type metrics struct {
	registry *prometheus.Registry

	deliveries         *prometheus.CounterVec
	cascadesStarted    prometheus.Counter
	cascadesFinished   *prometheus.CounterVec
	deploymentsStarted prometheus.Counter
	deploymentsEnded   *prometheus.CounterVec
	stacksSkipped      *prometheus.CounterVec
	decisionSeconds    *prometheus.HistogramVec

	// finished holds, per running cascade, when each stack finished (the root: when its update
	// arrived) as this process saw it, which is where a child's decision latency starts.
	mu       sync.Mutex
	finished map[int64]map[string]time.Time
}

const metricsNamespace = "auto_deploy_relay"

func newMetrics(r *Relay) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "deliveries_total",
			Help: "Webhook deliveries received, by result: accepted, duplicate (an update already queued), " +
				"ignored (verified but starts nothing), refused (bad signature), invalid (unreadable or too large), " +
				"forbidden (an organization not in --organization).",
		}, []string{"result"}),
		cascadesStarted: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "cascades_started_total",
			Help: "Cascades started by a root's update.",
		}),
		cascadesFinished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "cascades_finished_total",
			Help: "Cascades finished, by outcome: done (every stack below the root finished), or failed " +
				"(the cascade could not run: a cycle, or the graph could not be read).",
		}, []string{"outcome"}),
		deploymentsStarted: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "deployments_started_total",
			Help: "Deployments the relay started (or found started after an interruption).",
		}),
		deploymentsEnded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "deployments_finished_total",
			Help: "Deployments the relay followed to their end, by outcome: succeeded or failed (which " +
				"includes a deployment that could not be started).",
		}, []string{"outcome"}),
		stacksSkipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "deployments_skipped_total",
			Help: "Stacks a cascade did not deploy, by reason: unchanged (none of their parents' outputs " +
				"changed) or upstream_failed (a stack above them failed).",
		}, []string{"reason"}),
		decisionSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metricsNamespace, Name: "decision_seconds",
			Help: "Time from a stack's last parent finishing (for the root, the relay taking its update) to the " +
				"relay's decision to deploy or skip it, by decision. Observed only when this process saw " +
				"the parent finish.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
		}, []string{"decision"}),
		finished: map[int64]map[string]time.Time{},
	}
	// Every label value is there from the start, at zero, so that rate() and alerts see a
	// series before its first event.
	for _, result := range []string{"accepted", "duplicate", "ignored", "refused", "invalid", "forbidden"} {
		m.deliveries.WithLabelValues(result)
	}
	for _, outcome := range []string{cascadeDone, cascadeFailed} {
		m.cascadesFinished.WithLabelValues(outcome)
	}
	for _, outcome := range []string{"succeeded", "failed"} {
		m.deploymentsEnded.WithLabelValues(outcome)
	}
	for _, reason := range []string{"unchanged", "upstream_failed"} {
		m.stacksSkipped.WithLabelValues(reason)
	}
	for _, decision := range []string{"deploy", "skip"} {
		m.decisionSeconds.WithLabelValues(decision)
	}
	retries := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Namespace: metricsNamespace, Name: "transaction_retries_total",
		Help: "Transactions PostgreSQL aborted as conflicting with a concurrent one (SERIALIZABLE), which the " +
			"relay then ran again; counted for the whole process.",
	}, func() float64 { return float64(conflictRetries.Load()) })
	m.registry.MustRegister(m.deliveries, m.cascadesStarted, m.cascadesFinished, m.deploymentsStarted,
		m.deploymentsEnded, m.stacksSkipped, m.decisionSeconds, retries, &queueCollector{r: r},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector())
	return m
}

// handler serves the registry; a collector that fails (the database did not answer) leaves
// its metrics out and logs why, and the rest are still served.
func (m *metrics) handler(log *slog.Logger) http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{
		ErrorLog:      promErrorLog{log},
		ErrorHandling: promhttp.ContinueOnError,
	})
}

type promErrorLog struct{ log *slog.Logger }

func (l promErrorLog) Println(v ...any) {
	l.log.Warn("collecting the metrics failed", "error", fmt.Sprint(v...))
}

// rootArrived records when an update of cascade id's root arrived, which starts the clock of
// the root's children, and counts the cascade when the update started it.
func (m *metrics) rootArrived(id int64, root string, started bool) {
	if started {
		m.cascadesStarted.Inc()
	}
	m.stackFinished(id, root, time.Now())
}

// cascadeFinished counts a cascade's end and forgets its stacks' times.
func (m *metrics) cascadeFinished(id int64, outcome string) {
	m.cascadesFinished.WithLabelValues(outcome).Inc()
	m.mu.Lock()
	delete(m.finished, id)
	m.mu.Unlock()
}

func (m *metrics) stackFinished(id int64, stack string, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.finished[id] == nil {
		m.finished[id] = map[string]time.Time{}
	}
	m.finished[id][stack] = at
}

// decided observes the latency of deciding to deploy or skip a stack of cascade id, from the
// last of its parents finishing; when this process did not see one of them finish (it started
// mid-cascade), there is no honest latency to observe.
func (m *metrics) decided(id int64, parents []string, deploy bool) {
	m.mu.Lock()
	var since time.Time
	for _, p := range parents {
		at, ok := m.finished[id][p]
		if !ok {
			m.mu.Unlock()
			return
		}
		if at.After(since) {
			since = at
		}
	}
	m.mu.Unlock()
	decision := "skip"
	if deploy {
		decision = "deploy"
	}
	m.decisionSeconds.WithLabelValues(decision).Observe(time.Since(since).Seconds())
}

// skipped counts a stack that finished without a deployment: reason is unchanged or
// upstream_failed.
func (m *metrics) skipped(id int64, stack, reason string) {
	m.stacksSkipped.WithLabelValues(reason).Inc()
	m.stackFinished(id, stack, time.Now())
}

// deploymentEnded counts a deployment's end; a stack that deploys again (the cascade moved
// to a newer generation meanwhile) has not finished.
func (m *metrics) deploymentEnded(id int64, stack string, ok bool, state State) {
	outcome := "failed"
	if ok {
		outcome = "succeeded"
	}
	m.deploymentsEnded.WithLabelValues(outcome).Inc()
	if state.Finished() {
		m.stackFinished(id, stack, time.Now())
	}
}

// queueCollector reads the depth of River's queue at scrape time: the jobs not yet finalized,
// by kind and state, from the index River fetches by state with.
type queueCollector struct{ r *Relay }

var (
	jobKinds  = []string{eventArgs{}.Kind(), cascadeArgs{}.Kind()}
	jobStates = []string{"available", "running", "scheduled", "retryable"}
	jobsDesc  = prometheus.NewDesc(metricsNamespace+"_jobs",
		"River jobs waiting or running, by kind (relay_event: a delivered update; relay_cascade: a "+
			"cascade's steps, one job per running cascade) and state (scheduled includes a running "+
			"cascade between two steps).",
		[]string{"kind", "state"}, nil)
)

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- jobsDesc }

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	db := c.r.db
	if db == nil {
		return // not open yet
	}
	// One connection serves SQLite: a scrape waits for the step holding it, but not forever.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rows, err := db.QueryContext(ctx, `
SELECT kind, state, COUNT(*) FROM river_job
WHERE state IN ('available', 'running', 'scheduled', 'retryable')
GROUP BY kind, state`)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(jobsDesc, fmt.Errorf("counting River's jobs: %w", err))
		return
	}
	defer func() { _ = rows.Close() }()
	counts := map[[2]string]float64{}
	for rows.Next() {
		var kind, state string
		var n float64
		if err := rows.Scan(&kind, &state, &n); err != nil {
			ch <- prometheus.NewInvalidMetric(jobsDesc, fmt.Errorf("counting River's jobs: %w", err))
			return
		}
		counts[[2]string{kind, state}] = n
	}
	if err := rows.Err(); err != nil {
		ch <- prometheus.NewInvalidMetric(jobsDesc, fmt.Errorf("counting River's jobs: %w", err))
		return
	}
	for _, kind := range jobKinds {
		for _, state := range jobStates {
			ch <- prometheus.MustNewConstMetric(jobsDesc, prometheus.GaugeValue, counts[[2]string{kind, state}], kind, state)
		}
	}
}
