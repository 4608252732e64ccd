package relay

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
)

// processLines are the log lines about the process or one delivery, not an organization's schedule.
var processLines = map[string]bool{
	"listening":         true,
	"shutting down":     true,
	"delivery accepted": true,
	"delivery refused":  true,
}

// logLines decodes JSON log lines.
func logLines(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(logs), "\n") {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), "a log line that is not JSON: %s", line)
		out = append(out, rec)
	}
	return out
}

// Every line about the schedule names its organization, and every line about a stack's deployment or
// skip names the cascades it settles, so `jq 'select(.cascades | index(12))'` tells one cascade's story.
func TestLogLinesNameTheOrganizationAndTheCascades(t *testing.T) {
	t.Parallel()
	// root → a → a1, root → b → c; a fails.
	h := startRelay(t, newCloud(t, "root", "a", "a1", "b", "c"), testDB(t))
	for _, e := range [][2]string{{"p/root", "p/a"}, {"p/a", "p/a1"}, {"p/root", "p/b"}, {"p/b", "p/c"}} {
		h.edge(e[0], e[1])
	}
	h.behave("p/a", emulator.DeploymentBehaviour{Outcome: "failed"})
	h.fire("p/root", map[string]any{"v": 1})
	c := h.waitDone(1)
	h.fire("p/root", map[string]any{"v": 1}) // unchanged: skips
	h.waitDone(2)
	lines := logLines(t, h.logs.String())
	var stackLines int
	for _, rec := range lines {
		msg, _ := rec["msg"].(string)
		if processLines[msg] || rec["component"] == "river" {
			continue
		}
		assert.Equal(t, testOrg, rec["organization"], "a line without its organization: %v", rec)
		switch msg {
		case "deployment started", "deployment ended", "stack skipped":
			stackLines++
			ids, _ := rec["cascades"].([]any)
			assert.NotEmpty(t, ids, "a line about a stack of a running cascade without it: %v", rec)
		}
		if msg == "deployment started" && rec["stack"] == "p/b" {
			assert.True(t, slices.Contains(rec["cascades"].([]any), any(float64(c.ID))), "%v", rec)
		}
	}
	// b and c deploy, a starts and fails; then b skipped... and a deploys again (its last failed).
	assert.GreaterOrEqual(t, stackLines, 7)
}
