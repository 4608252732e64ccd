package relay

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// notAboutACascade are the log lines that concern the process or one delivery, not a cascade.
var notAboutACascade = map[string]bool{
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

// assertCascadeLines checks that every line about a cascade carries id, and returns how many did.
func assertCascadeLines(t *testing.T, lines []map[string]any, id int64) int {
	t.Helper()
	about := 0
	for _, rec := range lines {
		msg, _ := rec["msg"].(string)
		// River's own warnings name its jobs, not cascades.
		if notAboutACascade[msg] || rec["component"] == "river" {
			assert.NotContains(t, rec, "cascade", "%v", rec)
			continue
		}
		// An update already accounted for is about the cascade that accounted for it when its
		// end drops it, and about none when it is delivered later.
		if strings.HasPrefix(msg, "update ignored") && rec["cascade"] == nil {
			continue
		}
		about++
		assert.Equal(t, float64(id), rec["cascade"], "a line about cascade %d without its id: %v", id, rec)
	}
	return about
}

func TestEveryLogLineOfACascadeCarriesItsID(t *testing.T) {
	t.Parallel()
	// root → a → a1, root → b → c; a fails in the first cascade.
	fc := newFakeCloud("acme", "p/root", "p/a", "p/a1", "p/b", "p/c")
	for _, e := range [][2]string{{"p/root", "p/a"}, {"p/a", "p/a1"}, {"p/root", "p/b"}, {"p/b", "p/c"}} {
		fc.edge(e[0], e[1])
	}
	fc.setFail("p/a", true)
	fc.setNext("p/b", map[string]any{"b": 1})
	h := startRelay(t, fc, testDB(t))
	h.deliver(fc.update("p/root", map[string]any{"v": 1}))
	h.waitDone(1)
	first := h.logs.String()
	about := assertCascadeLines(t, logLines(t, first), 1)
	// started, a, b and c started and ended, a1 skipped, done; and the update that started it
	assert.GreaterOrEqual(t, about, 10, "the first cascade's lines")

	// The second cascade: b's deployment is in flight while the root updates again (a merge),
	// and the event of the relay's own deployment of b arrives (held, then ignored).
	fc.setFail("p/a", false)
	fc.setHold("p/b", true)
	h.deliver(fc.update("p/root", map[string]any{"v": 2}))
	h.waitFor("b deploying", func(cs []CascadeView) bool {
		return len(cs) == 2 && states(cs[0])["p/b"] == StateDeploying && stackView(t, cs[0], "p/b").DeploymentID != ""
	})
	h.deliver(Event{Organization: "acme", Project: "p", Stack: "b", Version: 3})
	h.deliver(fc.update("p/root", map[string]any{"v": 3}))
	h.waitFor("the update merged", func(cs []CascadeView) bool { return cs[0].Generation == 2 })
	fc.setHold("p/b", false)
	c := h.waitDone(2)
	require.Equal(t, 2, c.Generation)
	second := logLines(t, strings.TrimPrefix(h.logs.String(), first))
	about = assertCascadeLines(t, second, 2)
	assert.GreaterOrEqual(t, about, 8, "the second cascade's lines")
	var msgs []string
	for _, rec := range second {
		msgs = append(msgs, rec["msg"].(string))
	}
	assert.Contains(t, msgs, "root updated again during the cascade: merged as a new generation")
	assert.Contains(t, msgs, "update merged into the running cascade of this root as its next generation")
	assert.Contains(t, msgs, "update held: the relay's own deployment of this stack is in flight")
}
