package relay

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
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

	deliveries             *prometheus.CounterVec
	cascadesStarted        prometheus.Counter
	cascadesFinished       *prometheus.CounterVec
	deploymentsStarted     prometheus.Counter
	deploymentsEnded       *prometheus.CounterVec
	stacksSkipped          *prometheus.CounterVec
	decisionSeconds        *prometheus.HistogramVec
	updatesWithoutDelivery prometheus.Counter
	readFailures           prometheus.Counter
	lookFailures           prometheus.Counter
	consecutiveFailures    *prometheus.GaugeVec
	replicasTakenOver      prometheus.Counter
}

const metricsNamespace = "auto_deploy_relay"

func newMetrics(r *Relay) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "deliveries_total",
			Help: "Webhook deliveries received, by result: accepted, duplicate (an update already received), " +
				"ignored (verified but starts nothing), refused (bad signature), invalid (unreadable or too large), " +
				"forbidden (an organization not in --organization).",
		}, []string{"result"}),
		cascadesStarted: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "cascades_started_total",
			Help: "Cascades started: a stack with stacks below it changed by someone else's update.",
		}),
		cascadesFinished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "cascades_finished_total",
			Help: "Cascades finished, by outcome: done (every stack below the root finished), or failed " +
				"(a cycle among its stacks: nothing on or below it deployed).",
		}, []string{"outcome"}),
		deploymentsStarted: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "deployments_started_total",
			Help: "Deployments the relay started (or found started after an interruption).",
		}),
		deploymentsEnded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "deployments_finished_total",
			Help: "Deployments the relay followed to their end, by outcome: succeeded, failed (which includes " +
				"a deployment that could not be started) or cancelled (it ran past --deployment-timeout).",
		}, []string{"outcome"}),
		stacksSkipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "deployments_skipped_total",
			Help: "Stacks whose parents moved that the relay found need no deployment, by reason: unchanged " +
				"(none of the outputs they read changed).",
		}, []string{"reason"}),
		decisionSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metricsNamespace, Name: "decision_seconds",
			Help: "Time from a stack's last changed parent's deployment ending, as the relay saw it, to the " +
				"relay's decision to deploy or skip the stack, by decision. Observed only when this process " +
				"saw that end.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
		}, []string{"decision"}),
		updatesWithoutDelivery: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "updates_without_delivery_total",
			Help: "Stack versions the relay's polling found that no delivery announced: a delivery lost, or " +
				"a version written without an update event (a refresh, a drift remediation).",
		}),
		readFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "read_failures_total",
			Help: "Requests to Pulumi Cloud about one stack that failed and are retried on the relay's backoff; " +
				"the stack is unsure (nothing below it starts) until a retry succeeds.",
		}),
		lookFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "look_failures_total",
			Help: "Looks of an organization's schedule that failed as a whole (the database), retried on the " +
				"relay's backoff.",
		}),
		consecutiveFailures: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: metricsNamespace, Name: "consecutive_failures",
			Help: "The most failures in a row of one read the organization's schedule waits to retry (a stack's, " +
				"or the stack list's), or of its looks as a whole; 0 once they succeed. Reported by the process " +
				"that runs the organization's schedule, while it runs it.",
		}, []string{"organization"}),
		replicasTakenOver: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "replicas_taken_over_total",
			Help: "PostgreSQL only: replicas this process found silent (no heartbeat for --rescue-after) and whose " +
				"running jobs it handed on to any replica.",
		}),
	}
	// Every label value is there from the start, at zero, so that rate() and alerts see a
	// series before its first event.
	for _, result := range []string{"accepted", "duplicate", "ignored", "refused", "invalid", "forbidden"} {
		m.deliveries.WithLabelValues(result)
	}
	for _, outcome := range []string{cascadeDone, cascadeFailed} {
		m.cascadesFinished.WithLabelValues(outcome)
	}
	for _, outcome := range []string{outcomeSucceeded, outcomeFailed, outcomeCancelled} {
		m.deploymentsEnded.WithLabelValues(outcome)
	}
	m.stacksSkipped.WithLabelValues("unchanged")
	for _, decision := range []string{"deploy", "skip"} {
		m.decisionSeconds.WithLabelValues(decision)
	}
	retries := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Namespace: metricsNamespace, Name: "transaction_retries_total",
		Help: "Transactions PostgreSQL aborted as conflicting with a concurrent one (a deadlock), which the " +
			"relay then ran again; counted for the whole process.",
	}, func() float64 { return float64(conflictRetries.Load()) })
	m.registry.MustRegister(m.deliveries, m.cascadesStarted, m.cascadesFinished, m.deploymentsStarted,
		m.deploymentsEnded, m.stacksSkipped, m.decisionSeconds, m.updatesWithoutDelivery, m.readFailures,
		m.lookFailures, m.consecutiveFailures, m.replicasTakenOver, retries, &queueCollector{r: r},
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

func (m *metrics) cascadeFinished(outcome string) { m.cascadesFinished.WithLabelValues(outcome).Inc() }

func (m *metrics) deploymentEnded(outcome string) { m.deploymentsEnded.WithLabelValues(outcome).Inc() }

func (m *metrics) readFailed(string) { m.readFailures.Inc() }

func (m *metrics) lookFailed() { m.lookFailures.Inc() }

func (m *metrics) replicaTakenOver() { m.replicasTakenOver.Inc() }

// limiter is a Cloud client that reports the bounds on its requests in flight (cloud.Client.Limits).
type limiter interface{ Limits() (reads, writes int) }

// watchLimits serves the bounds the Cloud client keeps on its requests in flight, which a burst of
// 429s halves and answers without one raise again, so that its recovery is visible.
func (m *metrics) watchLimits(c limiter) {
	help := "Requests to Pulumi Cloud this process may have in flight at once, by kind (reads, writes): the " +
		"configured bound, halved by each burst of 429 answers and raised by one after every 20 answers in a " +
		"row without one."
	reads := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: metricsNamespace, Name: "cloud_request_limit",
		Help: help, ConstLabels: prometheus.Labels{"kind": "reads"}},
		func() float64 { n, _ := c.Limits(); return float64(n) })
	writes := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: metricsNamespace, Name: "cloud_request_limit",
		Help: help, ConstLabels: prometheus.Labels{"kind": "writes"}},
		func() float64 { _, n := c.Limits(); return float64(n) })
	m.registry.MustRegister(reads, writes)
}

// decided observes the latency of deciding to deploy or skip a stack, from its last changed parent's
// deployment ending as this process saw it; without that (a change someone else made), there is no
// honest latency to observe.
func (m *metrics) decided(since time.Time, deploy bool, now time.Time) {
	if since.IsZero() {
		return
	}
	decision := "skip"
	if deploy {
		decision = "deploy"
	}
	m.decisionSeconds.WithLabelValues(decision).Observe(now.Sub(since).Seconds())
}

// queueCollector reads the depth of River's queue at scrape time: the jobs not yet finalized,
// by kind and state, from the index River fetches by state with.
type queueCollector struct{ r *Relay }

var (
	jobKinds  = []string{orgArgs{}.Kind(), pruneArgs{}.Kind()}
	jobStates = []string{"available", "running", "scheduled", "retryable", "discarded"}
	jobsDesc  = prometheus.NewDesc(metricsNamespace+"_jobs",
		"River jobs waiting, running or discarded, by kind (relay_org: one per organization the relay "+
			"schedules; relay_prune: the pruning of what --retain no longer keeps) and state (running while "+
			"a relay makes its looks, scheduled or available between two runs, discarded after its last "+
			"attempt failed, kept a week by River).",
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
WHERE state IN ('available', 'running', 'scheduled', 'retryable', 'discarded')
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
