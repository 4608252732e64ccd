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

	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
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

func TestMetricsCountWhatTheRelayDid(t *testing.T) {
	t.Parallel()
	// root → a → a1 → join, root → b → join, root → s; a fails at first.
	h := startRelay(t, newCloud(t, "root", "a", "a1", "b", "join", "s"), testDB(t))
	for _, e := range [][2]string{{"p/root", "p/a"}, {"p/a", "p/a1"}, {"p/a1", "p/join"}, {"p/root", "p/b"},
		{"p/b", "p/join"}, {"p/root", "p/s"}} {
		h.edge(e[0], e[1])
	}
	h.behave("p/a", emulator.DeploymentBehaviour{Outcome: "failed"})

	m := h.scrape()
	for _, name := range []string{"cascades_started_total", "deployments_started_total", "updates_without_delivery_total"} {
		assert.Zero(t, metricValue(t, m, "auto_deploy_relay_"+name), "%s before any delivery", name)
	}
	// Counted for the whole process, which other tests share: only its presence is checked here.
	require.Contains(t, m, "auto_deploy_relay_transaction_retries_total")
	assert.Equal(t, dto.MetricType_COUNTER, m["auto_deploy_relay_transaction_retries_total"].GetType())
	assert.Equal(t, 1.0, metricValue(t, m, "auto_deploy_relay_jobs", "kind=relay_org"), "one job per organization")

	body := payload(Event{Organization: testOrg, Project: "p", Stack: "root", Version: 2})
	status, _ := h.post(body, map[string]string{headerSignature: sign(body, "not-the-secret"), headerKind: "stack_update"})
	require.Equal(t, http.StatusUnauthorized, status)
	h.fire("p/root", map[string]any{"v": 1}) // delivered three times, once per edge leaving root
	h.waitDone(1)

	m = h.scrape()
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"deliveries_total", []string{"result=accepted"}, 2}, // root's update, and b's (b → join)
		{"deliveries_total", []string{"result=duplicate"}, 2},
		{"deliveries_total", []string{"result=refused"}, 1},
		{"cascades_started_total", nil, 1},
		{"cascades_finished_total", []string{"outcome=done"}, 1},
		{"cascades_finished_total", []string{"outcome=failed"}, 0},
		{"deployments_started_total", nil, 3}, // a, b, s: a1 and join are below a's failure
		{"deployments_finished_total", []string{"outcome=succeeded"}, 2},
		{"deployments_finished_total", []string{"outcome=failed"}, 1},
		{"deployments_skipped_total", []string{"reason=unchanged"}, 0},
		{"decision_seconds", []string{"decision=skip"}, 0},
	} {
		assert.Equal(t, c.want, metricValue(t, m, "auto_deploy_relay_"+c.name, c.labels...), "%s%v", c.name, c.labels)
	}

	// The same outputs again: a deploys (its last deployment failed), the rest is unchanged.
	h.behave("p/a", emulator.DeploymentBehaviour{})
	h.fire("p/root", map[string]any{"v": 1})
	h.waitDone(2)
	m = h.scrape()
	var deployed, succeeded, failed float64
	for _, c := range h.cascades() {
		for _, s := range c.Stacks {
			deployed += float64(s.Deployments)
			switch s.State {
			case StateSucceeded:
				succeeded++
			case StateFailed:
				failed++
			}
		}
	}
	var inCloud float64
	for _, ref := range []string{"p/a", "p/a1", "p/b", "p/join", "p/s"} {
		inCloud += float64(len(h.deployments(ref)))
	}
	require.Equal(t, inCloud, deployed, "the cascades' deployments are the cloud's")
	assert.Equal(t, 2.0, metricValue(t, m, "auto_deploy_relay_cascades_started_total"))
	assert.Equal(t, 2.0, metricValue(t, m, "auto_deploy_relay_cascades_finished_total", "outcome=done"))
	assert.Equal(t, deployed, metricValue(t, m, "auto_deploy_relay_deployments_started_total"))
	assert.Equal(t, succeeded, metricValue(t, m, "auto_deploy_relay_deployments_finished_total", "outcome=succeeded"))
	assert.Equal(t, failed, metricValue(t, m, "auto_deploy_relay_deployments_finished_total", "outcome=failed"))
	// b and s were judged unchanged; a1 and join deployed below the fixed a (a1's edge is new).
	assert.Equal(t, 2.0, metricValue(t, m, "auto_deploy_relay_deployments_skipped_total", "reason=unchanged"))
}

func TestMetricsCountACycleInItsOwnRelay(t *testing.T) {
	t.Parallel()
	// Two relays in one process: each counts its own cascades.
	other := startRelay(t, newCloud(t, "root"), testDB(t))
	h := startRelay(t, newCloud(t, "root", "a", "b"), testDB(t))
	h.edge("p/root", "p/a")
	h.edge("p/a", "p/b")
	h.edge("p/b", "p/a")
	h.fire("p/root", map[string]any{"v": 1})
	c := h.waitDone(1)
	require.Equal(t, cascadeFailed, c.State)
	assert.Contains(t, c.Error, "p/a → p/b → p/a")

	m := h.scrape()
	assert.Equal(t, 1.0, metricValue(t, m, "auto_deploy_relay_cascades_started_total"))
	assert.Equal(t, 1.0, metricValue(t, m, "auto_deploy_relay_cascades_finished_total", "outcome=failed"))
	assert.Equal(t, 0.0, metricValue(t, m, "auto_deploy_relay_deployments_started_total"))
	assert.Equal(t, 0.0, metricValue(t, other.scrape(), "auto_deploy_relay_cascades_started_total"),
		"the other relay started nothing")
}
