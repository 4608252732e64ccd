package cloud

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAPIErrorFormat(t *testing.T) {
	t.Parallel()
	err := &APIError{Method: "POST", Path: "/api/stacks/o/p/s/hooks", StatusCode: 400,
		Message: "displayName must not be empty", RequestID: "abc"}
	assert.EqualError(t, err,
		"POST /api/stacks/o/p/s/hooks: 400 Bad Request: displayName must not be empty (request id abc)")
	assert.EqualError(t, &APIError{Method: "GET", Path: "/api/x", StatusCode: 599}, "GET /api/x: 599")
}

func TestErrorStatuses(t *testing.T) {
	t.Parallel()
	sentinels := []error{ErrNotFound, ErrUnauthorized, ErrForbidden, ErrConflict, ErrRateLimited}
	tests := []struct {
		name        string
		status      int
		body        string
		header      map[string]string
		wantIs      error
		wantStatus  int
		wantMessage string
		wantID      string
	}{
		{name: "json 404", status: 404, body: `{"code":404,"message":"Stack 'x' not found"}`,
			wantIs: ErrNotFound, wantStatus: 404, wantMessage: "Stack 'x' not found"},
		{name: "plain-text 404 from a router", status: 404, body: "404 page not found\n",
			wantIs: ErrNotFound, wantStatus: 404, wantMessage: "404 page not found"},
		{name: "401", status: 401, body: `{"code":401,"message":"Unauthorized: No credentials provided or are invalid."}`,
			wantIs: ErrUnauthorized, wantStatus: 401, wantMessage: "Unauthorized: No credentials provided or are invalid."},
		{name: "403", status: 403, body: `{"code":403,"message":"Forbidden"}`,
			wantIs: ErrForbidden, wantStatus: 403, wantMessage: "Forbidden"},
		{name: "409", status: 409, body: `{"code":409,"message":"Webhook with name h already exists"}`,
			wantIs: ErrConflict, wantStatus: 409, wantMessage: "Webhook with name h already exists"},
		{name: "json code 0 takes the HTTP status", status: 404, body: `{"code":0,"message":"gone"}`,
			wantIs: ErrNotFound, wantStatus: 404, wantMessage: "gone"},
		{name: "json without code", status: 409, body: `{"message":"taken","documentationUrl":"https://x"}`,
			wantIs: ErrConflict, wantStatus: 409, wantMessage: "taken"},
		{name: "implausible code keeps the HTTP status", status: 404, body: `{"code":12,"message":"nope"}`,
			wantIs: ErrNotFound, wantStatus: 404, wantMessage: "nope"},
		{name: "400 with request id", status: 400, body: `{"code":400,"message":"bad filter"}`,
			header:     map[string]string{"X-Pulumi-Request-ID": "req-42"},
			wantStatus: 400, wantMessage: "bad filter", wantID: "req-42"},
		{name: "empty body", status: 400, wantStatus: 400},
		{name: "json without message is quoted whole", status: 400, body: `{"error":"x"}`,
			wantStatus: 400, wantMessage: `{"error":"x"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			})
			c, _ := newTestClient(t, h, RetryPolicy{})
			_, err := c.GetStack(t.Context(), "o", "p", "s")
			var apiErr *APIError
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, http.MethodGet, apiErr.Method)
			assert.Equal(t, "/api/stacks/o/p/s", apiErr.Path)
			assert.Equal(t, tt.wantStatus, apiErr.StatusCode)
			assert.Equal(t, tt.wantMessage, apiErr.Message)
			assert.Equal(t, tt.wantID, apiErr.RequestID)
			for _, s := range sentinels {
				assert.Equal(t, s == tt.wantIs, errors.Is(err, s), "errors.Is(err, %v)", s)
			}
			assert.NotErrorIs(t, err, ErrAmbiguous)
			assert.Equal(t, int64(1), c.Stats().Requests, "4xx other than 429 is not retried")
		})
	}
}

func TestLongPlainTextBodyIsTruncated(t *testing.T) {
	t.Parallel()
	page := "<html>" + strings.Repeat("é", 2000) + "</html>"
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(page))
	})
	c, _ := newTestClient(t, h, RetryPolicy{})
	_, err := c.GetStack(t.Context(), "o", "p", "s")
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	assert.LessOrEqual(t, len(apiErr.Message), maxMessageBytes+len("…"))
	assert.True(t, strings.HasPrefix(apiErr.Message, "<html>é"))
	assert.True(t, strings.HasSuffix(apiErr.Message, "é…"), "cut on a rune boundary")
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		header string
		want   time.Duration
	}{
		{"", 0},
		{"7", 7 * time.Second},
		{" 120 ", 120 * time.Second},
		{"0", 0},
		{"-3", 0},
		{"soon", 0},
		{now.Add(20 * time.Second).Format(http.TimeFormat), 20 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, parseRetryAfter(tt.header, now), "Retry-After %q", tt.header)
	}
}
