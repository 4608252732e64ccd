package emulator

import (
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConcurrentCreatesGetUniqueNames(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	require.NoError(t, h.srv.CreateStack("acme", "app", "dev"))
	const workers, each = 16, 10

	names := make(chan string, workers*each)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				r := h.call(http.MethodPost, "/api/stacks/acme/app/dev/hooks", stackHook("acme", "app", "dev", nil))
				created := must[webhookWire](t, r, http.StatusCreated)
				names <- created.Name
			}
		})
	}
	wg.Wait()
	close(names)

	seen := map[string]bool{}
	for n := range names {
		assert.False(t, seen[n], "duplicate name %s", n)
		seen[n] = true
	}
	assert.Len(t, seen, workers*each)
	list := must[[]webhookWire](t, h.call(http.MethodGet, "/api/stacks/acme/app/dev/hooks", nil), http.StatusOK)
	assert.Len(t, list, workers*each)
	st := h.srv.Stats()
	assert.Equal(t, workers*each, st.Writes)
}

// Cascades, API calls and accessors racing each other must stay consistent; run with -race.
func TestConcurrentCascadesAndReads(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	buildTree(t, h)
	const rounds = 8

	var wg sync.WaitGroup
	for range rounds {
		wg.Go(func() {
			res, err := h.srv.FireUpdate("acme", "dep", "a")
			assert.NoError(t, err)
			assert.Equal(t, []string{"b", "c", "d", "e", "f"}, stackNames(res.Deployments),
				"a cascade is atomic, so no other cascade's deployments interleave")
		})
		wg.Go(func() {
			_ = h.srv.Webhooks()
			_ = h.srv.Deliveries()
			_ = h.srv.Stats()
			h.call(http.MethodGet, "/api/stacks/acme/dep/b/deployments", nil)
		})
	}
	wg.Wait()
	assert.Len(t, h.srv.Deployments(), rounds*5)
}
