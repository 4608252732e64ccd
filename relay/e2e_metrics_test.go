//go:build e2e

package relay_test

import (
	"encoding/json"
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

// scrape reads the relay binary's /metrics and returns each series of the relay's own
// metrics as "name{label=value,...}" (labels in the order served) with its value; a
// histogram's value is its count.
func (e *e2eEnv) scrape() map[string]float64 {
	e.t.Helper()
	resp, err := http.Get(e.relay.base + "/metrics")
	require.NoError(e.t, err)
	defer func() { _ = resp.Body.Close() }()
	require.Equal(e.t, http.StatusOK, resp.StatusCode)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	require.NoError(e.t, err)
	out := map[string]float64{}
	for name, family := range families {
		if !strings.HasPrefix(name, "auto_deploy_relay_") {
			continue
		}
		for _, m := range family.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			out[strings.TrimPrefix(name, "auto_deploy_relay_")+"{"+strings.Join(labels, ",")+"}"] = value(m)
		}
	}
	return out
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Histogram != nil:
		return float64(m.GetHistogram().GetSampleCount())
	}
	return 0
}

// TestRelayMetricsAndLogsOfTheBinary runs two cascades through the relay binary and the
// emulator, then checks /metrics against the emulator's deployments and the cascades, and that
// every line the process logged about a cascade carries its id.
func TestRelayMetricsAndLogsOfTheBinary(t *testing.T) {
	e := newEnv(t, "root", "a", "a1", "b", "c")
	for _, edge := range [][2]string{{"root", "a"}, {"a", "a1"}, {"root", "b"}, {"root", "c"}} {
		e.edge(edge[0], edge[1], e2eSecret)
	}
	e.behave("a", emulator.DeploymentBehaviour{FailTimes: 1})
	e.fire("root", map[string]any{"v": 1}, nil)
	e.waitDone(1)
	m := e.scrape()
	assert.Equal(t, 3.0, m["deployments_started_total{}"], "a, b and c")
	assert.Equal(t, 1.0, m["deployments_finished_total{outcome=failed}"], "a")
	assert.Equal(t, 2.0, m["deployments_finished_total{outcome=succeeded}"], "b and c")

	// The same outputs again: a deploys (its last deployment failed), a1 too (it never
	// deployed after its edge), b and c are skipped.
	e.fire("root", map[string]any{"v": 1}, nil)
	e.waitDone(2)
	m = e.scrape()
	var deployments float64
	for _, stack := range []string{"a", "a1", "b", "c"} {
		deployments += float64(len(e.deployments(stack)))
	}
	require.Equal(t, 5.0, deployments, "the emulator's deployments")
	for series, want := range map[string]float64{
		"cascades_started_total{}":                      2,
		"cascades_finished_total{outcome=done}":         2,
		"cascades_finished_total{outcome=failed}":       0,
		"deployments_started_total{}":                   deployments,
		"deployments_finished_total{outcome=succeeded}": 4,
		"deployments_finished_total{outcome=failed}":    1,
		"deployments_skipped_total{reason=unchanged}":   2,
		"decision_seconds{decision=skip}":               0, // b and c: their parent's change was someone else's
		"deliveries_total{result=refused}":              0,
		"deliveries_total{result=invalid}":              0,
		"updates_without_delivery_total{}":              0,
		"jobs{kind=relay_org,state=running}":            1,
	} {
		assert.Equal(t, want, m[series], series)
	}
	assert.Equal(t, 1.0, m["decision_seconds{decision=deploy}"], "a1, decided after a's deployment ended")
	assert.Positive(t, m["deliveries_total{result=accepted}"])
	assert.Positive(t, m["deliveries_total{result=duplicate}"], "the root's three edges deliver each update three times")

	// Every line about the schedule names the organization; those about a stack's deployment or skip
	// name the cascades it settles.
	stackLines := 0
	for _, line := range strings.Split(strings.TrimSpace(e.relay.logs.String()), "\n") {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), "a log line that is not JSON: %s", line)
		msg, _ := rec["msg"].(string)
		switch msg {
		case "listening", "shutting down", "delivery accepted", "delivery refused":
			continue
		case "deployment started", "deployment ended", "stack skipped":
			stackLines++
			ids, _ := rec["cascades"].([]any)
			assert.NotEmpty(t, ids, "a line about a stack without its cascades: %s", line)
		}
		assert.Equal(t, e2eOrg, rec["organization"], "a line without its organization: %s", line)
	}
	assert.Equal(t, 12, stackLines, "5 deployments started and ended, 2 skips")
}
