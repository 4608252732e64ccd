package relay

import (
	"net/http"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scrape reads /metrics as Prometheus would.
func (h *harness) scrape() map[string]*dto.MetricFamily {
	h.t.Helper()
	resp, err := http.Get(h.base + "/metrics")
	require.NoError(h.t, err)
	defer func() { _ = resp.Body.Close() }()
	require.Equal(h.t, http.StatusOK, resp.StatusCode)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	require.NoError(h.t, err)
	return families
}

// metricValue is the value of the series of name whose labels include labels ("k=v" each);
// a histogram's value is its count of observations, and several series add up.
func metricValue(t *testing.T, families map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	family, ok := families[name]
	require.True(t, ok, "/metrics has no %s", name)
	var sum float64
	found := false
series:
	for _, m := range family.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for _, kv := range labels {
			k, v, _ := strings.Cut(kv, "=")
			if have[k] != v {
				continue series
			}
		}
		found = true
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		}
	}
	require.True(t, found, "/metrics has no %s%v", name, labels)
	return sum
}

func TestMetricsCountWhatTheCascadesDid(t *testing.T) {
	t.Parallel()
	// root → a → a1 → join, root → b → join, root → s; a fails in the first cascade.
	fc := joinBelowAFailure()
	fc.setFail("p/a", true)
	fc.setHold("p/s", true)
	h := startRelay(t, fc, testDB(t))

	m := h.scrape()
	for _, name := range []string{"cascades_started_total", "deployments_started_total"} {
		assert.Zero(t, metricValue(t, m, "auto_deploy_relay_"+name), "%s before any delivery", name)
	}
	// Counted for the whole process, which other tests share: only its presence is checked here.
	require.Contains(t, m, "auto_deploy_relay_transaction_retries_total")
	assert.Equal(t, dto.MetricType_COUNTER, m["auto_deploy_relay_transaction_retries_total"].GetType())

	first := fc.update("p/root", map[string]any{"v": 1})
	h.deliver(first)
	h.deliver(first) // the same update again, as a second edge delivers it
	body := payload(first)
	status, _ := h.post(body, map[string]string{headerSignature: sign(body, "not-the-secret"), headerKind: "stack_update"})
	require.Equal(t, http.StatusUnauthorized, status)

	// While s's deployment runs, the cascade's job waits in the queue.
	h.waitFor("s deploying", func(cs []CascadeView) bool {
		return len(cs) == 1 && states(cs[0])["p/s"] == StateDeploying && stackView(t, cs[0], "p/s").DeploymentID != ""
	})
	m = h.scrape()
	assert.Equal(t, 1.0, metricValue(t, m, "auto_deploy_relay_jobs", "kind=relay_cascade"),
		"one job per running cascade, whatever its state")
	assert.Equal(t, 1.0, metricValue(t, m, "auto_deploy_relay_cascades_started_total"))
	fc.setHold("p/s", false)
	h.waitDone(1)

	m = h.scrape()
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"deliveries_total", []string{"result=accepted"}, 1},
		{"deliveries_total", []string{"result=duplicate"}, 1},
		{"deliveries_total", []string{"result=refused"}, 1},
		{"cascades_started_total", nil, 1},
		{"cascades_finished_total", []string{"outcome=done"}, 1},
		{"cascades_finished_total", []string{"outcome=failed"}, 0},
		{"deployments_started_total", nil, 3}, // a, b, s
		{"deployments_finished_total", []string{"outcome=succeeded"}, 2},
		{"deployments_finished_total", []string{"outcome=failed"}, 1},
		{"deployments_skipped_total", []string{"reason=upstream_failed"}, 2}, // a1, join
		{"deployments_skipped_total", []string{"reason=unchanged"}, 0},
		{"decision_seconds", []string{"decision=deploy"}, 3},
		{"decision_seconds", []string{"decision=skip"}, 0},
	} {
		assert.Equal(t, c.want, metricValue(t, m, "auto_deploy_relay_"+c.name, c.labels...), "%s%v", c.name, c.labels)
	}
	// The cascade's job completes just after the cascade is recorded done.
	require.Eventually(t, func() bool { return metricValue(t, h.scrape(), "auto_deploy_relay_jobs") == 0 },
		defaultWait, pollEvery, "the queue drains once the cascade is done")

	// The same outputs again: a deploys (its last deployment failed) and so does what never
	// deployed below it; the rest is skipped as unchanged.
	fc.setFail("p/a", false)
	h.deliver(fc.update("p/root", map[string]any{"v": 1}))
	h.waitDone(2)
	m = h.scrape()
	var deployed, succeeded, failed, unchanged, upstream float64
	for _, c := range h.cascades() {
		for _, s := range c.Stacks {
			deployed += float64(s.Deployments)
			switch s.State {
			case StateSucceeded:
				succeeded++
			case StateFailed:
				failed++
			case StateSkippedUnchanged:
				unchanged++
			case StateSkippedUpstreamFailed:
				upstream++
			}
		}
	}
	var inCloud float64
	for _, ref := range []string{"p/a", "p/a1", "p/b", "p/join", "p/s"} {
		inCloud += float64(len(fc.deploymentsOf(ref)))
	}
	require.Equal(t, inCloud, deployed, "the cascades' deployments are the cloud's")
	require.NotZero(t, unchanged, "the second cascade skips what did not change")
	assert.Equal(t, 2.0, metricValue(t, m, "auto_deploy_relay_cascades_started_total"))
	assert.Equal(t, 2.0, metricValue(t, m, "auto_deploy_relay_cascades_finished_total", "outcome=done"))
	assert.Equal(t, deployed, metricValue(t, m, "auto_deploy_relay_deployments_started_total"))
	assert.Equal(t, succeeded, metricValue(t, m, "auto_deploy_relay_deployments_finished_total", "outcome=succeeded"))
	assert.Equal(t, failed, metricValue(t, m, "auto_deploy_relay_deployments_finished_total", "outcome=failed"))
	assert.Equal(t, unchanged, metricValue(t, m, "auto_deploy_relay_deployments_skipped_total", "reason=unchanged"))
	assert.Equal(t, upstream, metricValue(t, m, "auto_deploy_relay_deployments_skipped_total", "reason=upstream_failed"))
	assert.Equal(t, deployed, metricValue(t, m, "auto_deploy_relay_decision_seconds", "decision=deploy"))
	assert.Equal(t, unchanged, metricValue(t, m, "auto_deploy_relay_decision_seconds", "decision=skip"))
}

func TestMetricsCountAFailedCascadeInItsOwnRelay(t *testing.T) {
	t.Parallel()
	// Two relays in one process: each counts its own cascades.
	other := startRelay(t, chain(), testDB(t))
	fc := newFakeCloud("acme", "p/root", "p/a", "p/b")
	fc.edge("p/root", "p/a")
	fc.edge("p/a", "p/b")
	fc.edge("p/b", "p/a")
	h := startRelay(t, fc, testDB(t))
	h.deliver(fc.update("p/root", map[string]any{"v": 1}))
	require.Equal(t, cascadeFailed, h.waitDone(1).State)

	m := h.scrape()
	assert.Equal(t, 1.0, metricValue(t, m, "auto_deploy_relay_cascades_started_total"))
	assert.Equal(t, 1.0, metricValue(t, m, "auto_deploy_relay_cascades_finished_total", "outcome=failed"))
	assert.Equal(t, 0.0, metricValue(t, m, "auto_deploy_relay_deployments_started_total"))
	assert.Equal(t, 0.0, metricValue(t, other.scrape(), "auto_deploy_relay_cascades_started_total"),
		"the other relay started nothing")
}
