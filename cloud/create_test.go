package cloud

import (
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCreateOnceKeepsTheConflict: a 409 whose webhook cannot be read back, attempt after
// attempt, is reported as the 409 it is, with the read's failure beside it, not as the
// read's 404.
func TestCreateOnceKeepsTheConflict(t *testing.T) {
	t.Parallel()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusConflict)
			_, _ = w.Write([]byte(`{"code":409,"message":"Webhook with name hook already exists"}`))
			return
		}
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"code":404,"message":"Webhook not found"}`))
	})
	c, _ := newTestClient(t, h, RetryPolicy{MaxAttempts: 2})
	_, _, err := c.CreateWebhookOnce(t.Context(), WebhookScope{Organization: "o", Project: "p", Stack: "s"},
		Webhook{Name: "hook", DisplayName: "d", PayloadURL: "p/t", Active: true})
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrConflict)
	assert.NotErrorIs(t, err, ErrNotFound)
	assert.Equal(t, "POST /api/stacks/o/p/s/hooks: 409 Conflict: Webhook with name hook already exists (reading "+
		"back the webhook that holds the name failed: GET /api/stacks/o/p/s/hooks/hook: 404 Not Found: Webhook not "+
		"found)", err.Error())
}

// TestCreateOnceHonoursMaxAttempts: a create whose answer is lost every time, with nothing
// landed, is sent at most MaxAttempts times, like any other request.
func TestCreateOnceHonoursMaxAttempts(t *testing.T) {
	t.Parallel()
	var posts atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodPost {
			posts.Add(1)
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"code":503,"message":"unavailable"}`))
			return
		}
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"code":404,"message":"Webhook not found"}`))
	})
	c, rec := newTestClient(t, h, RetryPolicy{MaxAttempts: 3})
	_, _, err := c.CreateWebhookOnce(t.Context(), WebhookScope{Organization: "o", Project: "p", Stack: "s"},
		Webhook{Name: "hook", DisplayName: "d", PayloadURL: "p/t", Active: true})
	require.ErrorIs(t, err, ErrAmbiguous)
	assert.ErrorContains(t, err, "(gave up after 3 attempts)")
	assert.Equal(t, int32(3), posts.Load())
	assert.Len(t, rec.Waits(), 2, "a wait between attempts, none after the last")
}

// TestCreateOnceCreatesUnderANameFreedMeanwhile: a 409 whose webhook is gone when read back
// (another program deleted the pending edge it held in between) is sent again, and the
// webhook this call creates is reported as created, not as another's.
func TestCreateOnceCreatesUnderANameFreedMeanwhile(t *testing.T) {
	t.Parallel()
	var posts, gets atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodPost && posts.Add(1) == 1:
			w.WriteHeader(http.StatusConflict)
			_, _ = w.Write([]byte(`{"code":409,"message":"Webhook with name hook already exists"}`))
		case r.Method == http.MethodPost:
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte(`{"name":"hook","displayName":"d","payloadUrl":"p/t","active":true}`))
		default:
			gets.Add(1)
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"code":404,"message":"Webhook not found"}`))
		}
	})
	c, rec := newTestClient(t, h, RetryPolicy{MaxAttempts: 3})
	outcome, live, err := c.CreateWebhookOnce(t.Context(), WebhookScope{Organization: "o", Project: "p", Stack: "s"},
		Webhook{Name: "hook", DisplayName: "d", PayloadURL: "p/t", Active: true})
	require.NoError(t, err)
	assert.Equal(t, Created, outcome)
	assert.Equal(t, "hook", live.Name)
	assert.Equal(t, int32(2), posts.Load(), "sent again once the name was free")
	assert.Equal(t, int32(1), gets.Load())
	assert.Len(t, rec.Waits(), 1)
}
