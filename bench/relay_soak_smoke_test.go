//go:build e2e

package bench

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/autodeploy-dev/pulumi-auto-deploy/internal/pgtest"
)

// TestRelaySoakSmoke runs the soak harness for 80 seconds on 20 stacks, a kill every 25 seconds and
// --retain 10s: every change deployed exactly once, none left waiting, each takeover within 10 s and
// the cascades bounded by the retention. RSS and goroutines are reported, not asserted: they are not
// warm in 80 seconds.
func TestRelaySoakSmoke(t *testing.T) {
	t.Parallel()
	sc := relaySoakScenario{Trees: 2, Duration: 80 * time.Second, Deployment: 200 * time.Millisecond,
		KillEvery: 25 * time.Second, Retain: 10 * time.Second, Poll: 2 * time.Second, Sample: 5 * time.Second,
		DB: pgtest.Start(t)}
	res := runRelaySoak(t, sc, func(line string) { t.Log(line) })
	t.Log("\n" + relaySoakReport(res, 20*time.Second, 20*time.Second, "this machine"))
	for _, v := range res.Violations {
		t.Error(v)
	}
	assert.Zero(t, res.RunningAtEnd)
	assert.GreaterOrEqual(t, res.Kills, 2)
	for _, took := range res.Takeovers {
		assert.LessOrEqual(t, took, 10*time.Second, "takeover after a SIGKILL")
	}
	for _, s := range res.Samples {
		if s.At > sc.Retain+10*time.Second {
			assert.LessOrEqual(t, s.Rows["relay_cascade"], relaySoakRowBound(sc.Retain), "cascades at %s", s.At)
		}
	}
}
