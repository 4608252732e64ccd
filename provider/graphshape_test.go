package provider

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestTransitiveReduction(t *testing.T) {
	t.Parallel()
	// net → db → app and net → app: the direct edge is implied by the longer path.
	graph := map[string][]string{"p/net": {"p/app", "p/db"}, "p/db": {"p/app"}, "p/app": {}}
	reduced, dropped := transitiveReduction(graph)
	assert.Equal(t, map[string][]string{"p/net": {"p/db"}, "p/db": {"p/app"}, "p/app": {}}, reduced)
	assert.Equal(t, []redundantEdge{{"p/net", "p/app", []string{"p/net", "p/db", "p/app"}}}, dropped)

	// A longer chain: a → b → c → d with a → d and b → d.
	graph = map[string][]string{"p/a": {"p/b", "p/d"}, "p/b": {"p/c", "p/d"}, "p/c": {"p/d"}}
	reduced, dropped = transitiveReduction(graph)
	assert.Equal(t, map[string][]string{"p/a": {"p/b"}, "p/b": {"p/c"}, "p/c": {"p/d"}}, reduced)
	assert.Len(t, dropped, 2)

	// A tree has nothing to reduce.
	tree := map[string][]string{"p/a": {"p/b", "p/c"}, "p/b": {"p/d"}}
	reduced, dropped = transitiveReduction(tree)
	assert.Equal(t, map[string][]string{"p/a": {"p/b", "p/c"}, "p/b": {"p/d"}}, reduced)
	assert.Empty(t, dropped)
}

func TestDiamonds(t *testing.T) {
	t.Parallel()
	// u → b → d and u → c → d: neither path implies the other.
	graph := map[string][]string{"p/u": {"p/b", "p/c"}, "p/b": {"p/d"}, "p/c": {"p/d"}}
	assert.Equal(t, []diamond{{"p/u", "p/d", [2][]string{{"p/u", "p/b", "p/d"}, {"p/u", "p/c", "p/d"}}}},
		diamonds(graph))

	// The nearest shared ancestor is named, not the root above it.
	graph = map[string][]string{"p/r": {"p/u"}, "p/u": {"p/b", "p/c"}, "p/b": {"p/d"}, "p/c": {"p/d"}}
	got := diamonds(graph)
	assert.Len(t, got, 1)
	assert.Equal(t, "p/u", got[0].upstream)

	// Two unrelated upstreams of one stack are no diamond: no update reaches it twice.
	assert.Empty(t, diamonds(map[string][]string{"p/a": {"p/d"}, "p/b": {"p/d"}}))
}
