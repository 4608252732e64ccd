package cloud

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		baseURL string
		token   string
		want    string
		wantErr string
	}{
		{name: "public service", baseURL: "https://api.pulumi.com", token: "t", want: "https://api.pulumi.com"},
		{name: "empty means public service", baseURL: "", token: "t", want: "https://api.pulumi.com"},
		{name: "trailing slash", baseURL: "https://api.pulumi.com/", token: "t", want: "https://api.pulumi.com"},
		{name: "trailing api", baseURL: "http://127.0.0.1:8383/api", token: "t", want: "http://127.0.0.1:8383"},
		{name: "trailing api slash", baseURL: "http://localhost:8383/api/", token: "t", want: "http://localhost:8383"},
		{name: "path kept", baseURL: "https://pulumi.example.com/selfhosted", token: "t",
			want: "https://pulumi.example.com/selfhosted"},
		{name: "path trailing slash", baseURL: "https://pulumi.example.com/a/b//", token: "t",
			want: "https://pulumi.example.com/a/b"},
		{name: "path then api", baseURL: "https://pulumi.example.com/selfhosted/api/", token: "t",
			want: "https://pulumi.example.com/selfhosted"},
		{name: "query dropped", baseURL: "https://pulumi.example.com/p?x=1", token: "t",
			want: "https://pulumi.example.com/p"},
		{name: "token with newline", baseURL: "http://h", token: "t\n", want: "http://h"},
		{name: "other scheme", baseURL: "file:///tmp/state", token: "t", wantErr: "must use http or https"},
		{name: "no scheme", baseURL: "api.pulumi.com", token: "t", wantErr: "must use http or https"},
		{name: "no host", baseURL: "https:///api", token: "t", wantErr: "has no host"},
		{name: "unparsable", baseURL: "http://[::1", token: "t", wantErr: "invalid base URL"},
		{name: "empty token", baseURL: "https://api.pulumi.com", token: " ", wantErr: "access token is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := New(nil, tt.baseURL, tt.token)
			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
				assert.Nil(t, c)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, c.BaseURL())
		})
	}
}

func TestPathPrefix(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"": "", "/": "", "/api": "", "/api/": "", "//api//": "",
		"/selfhosted": "/selfhosted", "/selfhosted/": "/selfhosted", "/selfhosted/api": "/selfhosted",
		"/a/b/api/": "/a/b", "/myapi": "/myapi", "/api/x": "/api/x", "/x/api/api": "/x/api",
		"/self%2Fhosted": "/self%2Fhosted",
	} {
		assert.Equal(t, want, PathPrefix(in), "PathPrefix(%q)", in)
	}
}

// The base URL's path reaches the server, in front of /api/..., for every
// method, with the query still attached.
func TestBaseURLPathIsKept(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ suffix, want string }{
		{"/selfhosted", "/selfhosted/api/stacks/o/p/s"},
		{"/selfhosted/", "/selfhosted/api/stacks/o/p/s"},
		{"/selfhosted/api/", "/selfhosted/api/stacks/o/p/s"},
		{"/a/b%20c", "/a/b c/api/stacks/o/p/s"},
	} {
		t.Run(tc.suffix, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var paths, queries []string
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				paths = append(paths, r.URL.Path)
				queries = append(queries, r.URL.RawQuery)
				mu.Unlock()
				if r.Method == http.MethodDelete {
					w.WriteHeader(http.StatusNoContent)
					return
				}
				_, _ = io.WriteString(w, `{"stackName":"s"}`)
			}))
			t.Cleanup(hs.Close)
			c, err := New(hs.Client(), hs.URL+tc.suffix, testToken)
			require.NoError(t, err)
			_, err = c.GetStack(t.Context(), "o", "p", "s")
			require.NoError(t, err)
			require.NoError(t, c.DeleteStack(t.Context(), "o", "p", "s", true))
			mu.Lock()
			defer mu.Unlock()
			assert.Equal(t, []string{tc.want, tc.want}, paths)
			assert.Equal(t, []string{"", "force=true"}, queries)
		})
	}
}

// A base URL that ends in /api does not produce /api/api/...
func TestBaseURLTrailingAPIIsDropped(t *testing.T) {
	t.Parallel()
	srv := &recordingServer{status: http.StatusOK, body: `{}`}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	c, err := New(hs.Client(), hs.URL+"/api/", testToken, WithUserAgent("auto-deploy-test/1.0"))
	require.NoError(t, err)
	_, err = c.GetStack(t.Context(), "o", "p", "s")
	require.NoError(t, err)
	req := srv.only(t)
	assert.Equal(t, "/api/stacks/o/p/s", req.RequestURI)
	assert.Equal(t, "auto-deploy-test/1.0", req.Header.Get("User-Agent"))
}

// flaky answers the first len(statuses) requests with those statuses (and a
// Retry-After when given), then 200 with body. It also keeps each request body.
type flaky struct {
	mu         sync.Mutex
	statuses   []int
	retryAfter []string
	body       string
	bodies     []string
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	n := len(f.bodies)
	f.bodies = append(f.bodies, string(b))
	f.mu.Unlock()
	if n < len(f.statuses) {
		if n < len(f.retryAfter) && f.retryAfter[n] != "" {
			w.Header().Set("Retry-After", f.retryAfter[n])
		}
		w.WriteHeader(f.statuses[n])
		_, _ = fmt.Fprintf(w, `{"code":%d,"message":"try later"}`, f.statuses[n])
		return
	}
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, f.body)
}

func TestRetryOnGetThenSuccess(t *testing.T) {
	t.Parallel()
	f := &flaky{statuses: []int{503, 503}, body: `{"stackName":"s"}`}
	c, rec := newTestClient(t, f, RetryPolicy{})
	got, err := c.GetStack(t.Context(), "o", "p", "s")
	require.NoError(t, err)
	assert.Equal(t, "s", got.StackName)
	assert.Equal(t, ClientStats{Requests: 3, Retries: 2}, c.Stats())
	waits := rec.Waits()
	require.Len(t, waits, 2)
	assert.LessOrEqual(t, waits[0], 250*time.Millisecond)
	assert.LessOrEqual(t, waits[1], 500*time.Millisecond)
}

func TestIdempotentMethodsRetried(t *testing.T) {
	t.Parallel()
	calls := map[string]func(ctx context.Context, c *Client) error{
		"PUT settings": func(ctx context.Context, c *Client) error {
			_, err := c.PutDeploymentSettings(ctx, "o", "p", "s", map[string]any{"a": 1})
			return err
		},
		"PATCH webhook": func(ctx context.Context, c *Client) error {
			_, err := c.UpdateWebhook(ctx, orgScope, "h", Webhook{DisplayName: "d"})
			return err
		},
		"DELETE webhook": func(ctx context.Context, c *Client) error {
			return c.DeleteWebhook(ctx, orgScope, "h")
		},
		"GET deliveries": func(ctx context.Context, c *Client) error {
			_, err := c.ListWebhookDeliveries(ctx, orgScope, "h")
			return err
		},
	}
	for name, call := range calls {
		for _, status := range []int{502, 503, 504} {
			t.Run(fmt.Sprintf("%s %d", name, status), func(t *testing.T) {
				t.Parallel()
				f := &flaky{statuses: []int{status}, body: `{}`}
				if strings.HasPrefix(name, "GET") {
					f.body = `[]`
				}
				c, _ := newTestClient(t, f, RetryPolicy{})
				require.NoError(t, call(t.Context(), c))
				assert.Equal(t, ClientStats{Requests: 2, Retries: 1}, c.Stats())
				assert.Equal(t, f.bodies[0], f.bodies[1], "the same body is sent again")
			})
		}
	}
}

func TestDeleteRetriedThenNotFound(t *testing.T) {
	t.Parallel()
	// The first attempt may have deleted the webhook before the 503.
	f := &flaky{statuses: []int{503, 404}}
	c, _ := newTestClient(t, f, RetryPolicy{})
	err := c.DeleteWebhook(t.Context(), stackScope, "h")
	require.ErrorIs(t, err, ErrNotFound)
	assert.Equal(t, int64(2), c.Stats().Requests)
}

func TestCreatesNotRetriedWhenAmbiguous(t *testing.T) {
	t.Parallel()
	creates := map[string]func(ctx context.Context, c *Client) error{
		"webhook": func(ctx context.Context, c *Client) error {
			_, err := c.CreateWebhook(ctx, orgScope, Webhook{DisplayName: "d", PayloadURL: "https://x"})
			return err
		},
		"stack": func(ctx context.Context, c *Client) error {
			_, err := c.CreateStack(ctx, "o", "p", "s")
			return err
		},
		"deployment": func(ctx context.Context, c *Client) error {
			_, err := c.CreateDeployment(ctx, "o", "p", "s", "update")
			return err
		},
	}
	for name, create := range creates {
		for _, status := range []int{502, 503, 504} {
			t.Run(fmt.Sprintf("%s %d", name, status), func(t *testing.T) {
				t.Parallel()
				f := &flaky{statuses: []int{status}, body: `{}`}
				c, rec := newTestClient(t, f, RetryPolicy{})
				err := create(t.Context(), c)
				require.ErrorIs(t, err, ErrAmbiguous)
				var apiErr *APIError
				require.ErrorAs(t, err, &apiErr, "the service's answer stays inspectable")
				assert.Equal(t, status, apiErr.StatusCode)
				assert.ErrorContains(t, err, "may have been applied")
				assert.Equal(t, ClientStats{Requests: 1}, c.Stats())
				assert.Empty(t, rec.Waits())
			})
		}
	}
}

func TestRateLimitedPostRetried(t *testing.T) {
	t.Parallel()
	f := &flaky{statuses: []int{429}, retryAfter: []string{"2"}, body: `{"name":"h1"}`}
	c, rec := newTestClient(t, f, RetryPolicy{})
	w, err := c.CreateWebhook(t.Context(), orgScope, Webhook{DisplayName: "d", PayloadURL: "https://x"})
	require.NoError(t, err)
	assert.Equal(t, "h1", w.Name)
	require.Len(t, rec.Waits(), 1)
	assert.InDelta(t, 2.2*float64(time.Second), float64(rec.Waits()[0]), 0.2*float64(time.Second),
		"Retry-After 2, stretched by at most a fifth")
	assert.Equal(t, ClientStats{Requests: 2, Retries: 1}, c.Stats())
	assert.Equal(t, f.bodies[0], f.bodies[1])
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		status   int
		header   string
		min, max time.Duration
	}{
		// The wait asked for, stretched by up to a fifth at random so refused clients spread out.
		{"seconds", 429, "3", 3 * time.Second, 3 * time.Second * 6 / 5},
		{"seconds capped", 429, "120", 30 * time.Second, 30 * time.Second},
		{"http date", 429, time.Now().Add(10 * time.Second).UTC().Format(http.TimeFormat), 1, 12 * time.Second},
		{"http date capped", 429, time.Now().Add(time.Hour).UTC().Format(http.TimeFormat),
			30 * time.Second, 30 * time.Second},
		{"on 503", 503, "4", 4 * time.Second, 4 * time.Second * 6 / 5},
		{"unparsable falls back to backoff", 429, "later", 0, 250 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &flaky{statuses: []int{tt.status}, retryAfter: []string{tt.header}, body: `{}`}
			c, rec := newTestClient(t, f, RetryPolicy{})
			_, err := c.GetStack(t.Context(), "o", "p", "s")
			require.NoError(t, err)
			waits := rec.Waits()
			require.Len(t, waits, 1)
			assert.GreaterOrEqual(t, waits[0], tt.min)
			assert.LessOrEqual(t, waits[0], tt.max)
		})
	}
}

// A 429 asks the client to wait: however many come in a row, the request is retried
// within the time budget, not given up after MaxAttempts.
func TestRateLimitedRetriedBeyondMaxAttempts(t *testing.T) {
	t.Parallel()
	f := &flaky{statuses: []int{429, 429, 429, 429, 429, 429, 429}, body: `[]`}
	c, rec := newTestClient(t, f, RetryPolicy{MaxAttempts: 3})
	_, err := c.ListWebhooks(t.Context(), orgScope)
	require.NoError(t, err)
	assert.Equal(t, ClientStats{Requests: 8, Retries: 7}, c.Stats())
	assert.Len(t, rec.Waits(), 7)
}

// Failures other than 429 still count toward MaxAttempts when 429s come between them.
func TestMaxAttemptsCountsOnlyFailures(t *testing.T) {
	t.Parallel()
	f := &flaky{statuses: []int{503, 429, 503, 429, 429, 503, 503}}
	c, _ := newTestClient(t, f, RetryPolicy{MaxAttempts: 3})
	_, err := c.GetStack(t.Context(), "o", "p", "s")
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, 503, apiErr.StatusCode)
	assert.ErrorContains(t, err, "(gave up after 6 attempts)")
	assert.Equal(t, ClientStats{Requests: 6, Retries: 5}, c.Stats())
}

func TestRateLimitedExhausted(t *testing.T) {
	t.Parallel()
	f := &flaky{statuses: []int{429, 429, 429, 429}, retryAfter: []string{"40", "40", "40", "40"}}
	c, _ := newTestClient(t, f, RetryPolicy{MaxAttempts: 1, MaxElapsed: 80 * time.Second})
	_, err := c.ListWebhooks(t.Context(), orgScope)
	require.ErrorIs(t, err, ErrRateLimited)
	assert.EqualError(t, err, "GET /api/orgs/acme/hooks: 429 Too Many Requests: try later "+
		"(gave up after 3 attempts: another would exceed the 1m20s retry budget)")
	assert.Equal(t, ClientStats{Requests: 3, Retries: 2}, c.Stats())
}

func TestMaxAttemptsExhausted(t *testing.T) {
	t.Parallel()
	f := &flaky{statuses: []int{503, 503, 503, 503, 503, 503, 503}}
	c, rec := newTestClient(t, f, RetryPolicy{MaxAttempts: 4, BaseDelay: time.Second, MaxDelay: 3 * time.Second})
	_, err := c.GetStack(t.Context(), "o", "p", "s")
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, 503, apiErr.StatusCode)
	assert.ErrorContains(t, err, "(gave up after 4 attempts)")
	assert.NotErrorIs(t, err, ErrAmbiguous, "a GET is never ambiguous")
	assert.Equal(t, ClientStats{Requests: 4, Retries: 3}, c.Stats())
	waits := rec.Waits()
	require.Len(t, waits, 3)
	for i, ceiling := range []time.Duration{time.Second, 2 * time.Second, 3 * time.Second} {
		assert.LessOrEqual(t, waits[i], ceiling, "wait %d", i)
	}
}

func TestMaxElapsedBudget(t *testing.T) {
	t.Parallel()
	f := &flaky{statuses: []int{429, 429, 429, 429, 429}, retryAfter: []string{"30", "30", "30", "30", "30"}}
	c, rec := newTestClient(t, f, RetryPolicy{MaxAttempts: 10, MaxElapsed: time.Minute})
	_, err := c.GetStack(t.Context(), "o", "p", "s")
	require.ErrorIs(t, err, ErrRateLimited)
	assert.ErrorContains(t, err, "gave up after 3 attempts: another would exceed the 1m0s retry budget")
	assert.Equal(t, []time.Duration{30 * time.Second, 30 * time.Second}, rec.Waits())
}

func TestBackoffBounds(t *testing.T) {
	t.Parallel()
	p := RetryPolicy{}.withDefaults()
	for attempt := 1; attempt <= 40; attempt++ {
		ceiling := min(p.BaseDelay<<min(attempt-1, 20), p.MaxDelay)
		for range 50 {
			d := p.backoff(attempt)
			assert.GreaterOrEqual(t, d, time.Duration(0))
			assert.LessOrEqual(t, d, ceiling, "attempt %d", attempt)
		}
	}
}

func TestCancelDuringBackoff(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	f := &flaky{statuses: []int{503, 503}}
	c, _ := newTestClient(t, f, RetryPolicy{Sleep: func(ctx context.Context, _ time.Duration) error {
		cancel()
		<-ctx.Done()
		return ctx.Err()
	}})
	_, err := c.GetStack(ctx, "o", "p", "s")
	require.ErrorIs(t, err, context.Canceled)
	assert.ErrorContains(t, err, "GET /api/stacks/o/p/s: context canceled while waiting to retry")
	assert.ErrorContains(t, err, "503 Service Unavailable")
	assert.Equal(t, ClientStats{Requests: 1}, c.Stats())
}

func TestCancelDuringRealSleep(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusTooManyRequests)
		time.AfterFunc(20*time.Millisecond, cancel)
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := New(srv.Client(), srv.URL, testToken) // the default Sleep
	require.NoError(t, err)
	start := time.Now()
	_, err = c.GetStack(ctx, "o", "p", "s")
	require.ErrorIs(t, err, context.Canceled)
	assert.Less(t, time.Since(start), 10*time.Second, "did not sit out the 30s Retry-After")
}

func TestCancelledBeforeRequest(t *testing.T) {
	t.Parallel()
	srv := &recordingServer{status: http.StatusOK, body: `{}`}
	c, _ := newTestClient(t, srv, RetryPolicy{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := c.CreateWebhook(ctx, orgScope, Webhook{})
	require.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, ErrAmbiguous)
	assert.ErrorContains(t, err, "POST /api/orgs/acme/hooks: context canceled")
}

// hang holds each request until the client gives up on it. The body must be
// drained first: only then does the server notice the client hanging up.
func hang(_ http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	select {
	case <-r.Context().Done():
	case <-time.After(10 * time.Second):
	}
}

func TestPerAttemptTimeout(t *testing.T) {
	t.Parallel()
	c, _ := newTestClient(t, http.HandlerFunc(hang), RetryPolicy{MaxAttempts: 2},
		WithRequestTimeout(50*time.Millisecond))
	_, err := c.GetStack(t.Context(), "o", "p", "s")
	require.Error(t, err)
	assert.EqualError(t, err,
		"GET /api/stacks/o/p/s: no response within 50ms (per-attempt timeout): context deadline exceeded"+
			" (gave up after 2 attempts)")
	assert.Equal(t, ClientStats{Requests: 2, Retries: 1}, c.Stats())
}

func TestPerAttemptTimeoutOnCreateIsAmbiguous(t *testing.T) {
	t.Parallel()
	c, _ := newTestClient(t, http.HandlerFunc(hang), RetryPolicy{}, WithRequestTimeout(50*time.Millisecond))
	_, err := c.CreateDeployment(t.Context(), "o", "p", "s", "update")
	require.ErrorIs(t, err, ErrAmbiguous)
	assert.ErrorContains(t, err, "POST /api/stacks/o/p/s/deployments: no response within 50ms")
	assert.Equal(t, int64(1), c.Stats().Requests)
}

// dropFirst closes the connection without answering the first request, after
// reading it: the classic "did my write land?" failure.
type dropFirst struct {
	n    atomic.Int64
	body string
}

func (d *dropFirst) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.ReadAll(r.Body)
	if d.n.Add(1) == 1 {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			_ = conn.Close()
		}
		return
	}
	_, _ = io.WriteString(w, d.body)
}

func TestConnectionDropped(t *testing.T) {
	t.Parallel()
	t.Run("create is ambiguous", func(t *testing.T) {
		t.Parallel()
		c, _ := newTestClient(t, &dropFirst{body: `{}`}, RetryPolicy{})
		_, err := c.CreateWebhook(t.Context(), stackScope, Webhook{DisplayName: "d", PayloadURL: "https://x"})
		require.ErrorIs(t, err, ErrAmbiguous)
		assert.ErrorContains(t, err, "POST /api/stacks/acme/web/prod/hooks: ")
		assert.Equal(t, int64(1), c.Stats().Requests)
	})
	t.Run("get is retried", func(t *testing.T) {
		t.Parallel()
		c, _ := newTestClient(t, &dropFirst{body: `[]`}, RetryPolicy{})
		_, err := c.ListWebhooks(t.Context(), stackScope)
		require.NoError(t, err)
		assert.Equal(t, ClientStats{Requests: 2, Retries: 1}, c.Stats())
	})
}

func TestConnectionRefusedRetriedEvenForCreate(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there now
	rec := &sleepRecorder{}
	c, err := New(nil, url, testToken, WithRetry(RetryPolicy{MaxAttempts: 3, Sleep: rec.sleep}))
	require.NoError(t, err)
	_, err = c.CreateWebhook(t.Context(), orgScope, Webhook{DisplayName: "d", PayloadURL: "https://x"})
	require.Error(t, err)
	assert.NotErrorIs(t, err, ErrAmbiguous, "a refused connection proves nothing was sent")
	assert.ErrorContains(t, err, "POST /api/orgs/acme/hooks: ")
	assert.ErrorContains(t, err, "(gave up after 3 attempts)")
	assert.Equal(t, ClientStats{Requests: 3, Retries: 2}, c.Stats())
}

func TestSecretsNeverInErrors(t *testing.T) {
	t.Parallel()
	const secret = "hmac-very-secret"
	// A hostile or buggy edge that quotes the whole request back.
	echo := func(status int, asJSON bool) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			msg := fmt.Sprintf("bad request from %s with body %s", r.Header.Get("Authorization"), b)
			w.Header().Set("X-Pulumi-Request-ID", "rid")
			w.WriteHeader(status)
			if asJSON {
				out := fmt.Sprintf(`{"code":%d,"message":%q}`, status, msg)
				_, _ = io.WriteString(w, out)
				return
			}
			_, _ = io.WriteString(w, msg)
		})
	}
	hook := Webhook{DisplayName: "d", PayloadURL: "https://x", Secret: secret}
	calls := map[string]func(ctx context.Context, c *Client) error{
		"create": func(ctx context.Context, c *Client) error {
			_, err := c.CreateWebhook(ctx, orgScope, hook)
			return err
		},
		"update": func(ctx context.Context, c *Client) error {
			_, err := c.UpdateWebhook(ctx, orgScope, "h", hook)
			return err
		},
		"get": func(ctx context.Context, c *Client) error {
			_, err := c.GetStack(ctx, "o", "p", "s")
			return err
		},
	}
	for name, call := range calls {
		for _, status := range []int{400, 401, 404, 429, 500, 503} {
			for _, asJSON := range []bool{true, false} {
				t.Run(fmt.Sprintf("%s %d json=%v", name, status, asJSON), func(t *testing.T) {
					t.Parallel()
					c, _ := newTestClient(t, echo(status, asJSON), RetryPolicy{MaxAttempts: 2})
					err := call(t.Context(), c)
					require.Error(t, err)
					assert.NotContains(t, err.Error(), testToken)
					assert.NotContains(t, err.Error(), secret)
					assert.Contains(t, err.Error(), "[redacted]", "the message itself survives")
				})
			}
		}
	}
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		c, _ := newTestClient(t, http.HandlerFunc(hang), RetryPolicy{}, WithRequestTimeout(20*time.Millisecond))
		_, err := c.CreateWebhook(t.Context(), orgScope, hook)
		require.Error(t, err)
		assert.NotContains(t, err.Error(), testToken)
		assert.NotContains(t, err.Error(), secret)
	})
	t.Run("constructor", func(t *testing.T) {
		t.Parallel()
		_, err := New(nil, "ftp://x", testToken)
		require.Error(t, err)
		assert.NotContains(t, err.Error(), testToken)
	})
}

func TestDefaultSleepHonoursContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	assert.ErrorIs(t, sleep(ctx, time.Hour), context.Canceled)
	assert.NoError(t, sleep(t.Context(), time.Millisecond))
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	// Every distinct path fails once with 503 and then succeeds, so the
	// counters have exact expected values however requests interleave.
	var seen sync.Map
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, loaded := seen.LoadOrStore(r.Method+" "+r.RequestURI, true); !loaded {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		switch r.Method {
		case http.MethodGet:
			_, _ = io.WriteString(w, `[]`)
		default:
			_, _ = io.WriteString(w, `{}`)
		}
	})
	c, _ := newTestClient(t, h, RetryPolicy{})

	const workers, perWorker = 16, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*perWorker*2)
	for g := range workers {
		wg.Go(func() {
			for i := range perWorker {
				name := fmt.Sprintf("h-%d-%d", g, i)
				if _, err := c.ListWebhookDeliveries(t.Context(), orgScope, name); err != nil {
					errs <- err
				}
				if _, err := c.UpdateWebhook(t.Context(), stackScope, name, Webhook{DisplayName: name}); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
	const calls = workers * perWorker * 2
	assert.Equal(t, ClientStats{Requests: 2 * calls, Retries: calls}, c.Stats())
}

func TestUnknownErrorsAreNotSentinels(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("wrapped: %w", &APIError{StatusCode: 500})
	for _, s := range []error{ErrNotFound, ErrUnauthorized, ErrForbidden, ErrConflict, ErrRateLimited, ErrAmbiguous} {
		assert.False(t, errors.Is(err, s), "%v", s)
	}
}

// noRetry is a retry policy whose Sleep fails the test: the error must be
// returned after the first attempt.
func noRetry(t *testing.T) Option {
	return WithRetry(RetryPolicy{Sleep: func(context.Context, time.Duration) error {
		t.Error("a deterministic failure must not be retried")
		return nil
	}})
}

// getStackFails makes one GetStack call through c and returns its error, which must not be nil.
func getStackFails(t *testing.T, c *Client) error {
	t.Helper()
	_, err := c.GetStack(t.Context(), "o", "p", "s")
	require.Error(t, err)
	return err
}

// wrongSchemeClient starts a server, over TLS when serverTLS, whose handler only counts the requests
// that reach it, and returns a client without retries pointed at it with the other scheme, the server's
// host:port and the count.
func wrongSchemeClient(t *testing.T, serverTLS bool) (c *Client, host string, hits *atomic.Int64) {
	t.Helper()
	hits = &atomic.Int64{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		hits.Add(1)
	}))
	serverScheme, clientScheme := "http://", "https://"
	if serverTLS {
		srv.StartTLS()
		serverScheme, clientScheme = clientScheme, serverScheme
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	host = strings.TrimPrefix(srv.URL, serverScheme)
	c, err := New(nil, clientScheme+host, "tok", noRetry(t))
	require.NoError(t, err)
	return c, host, hits
}

func TestUntrustedCertificateIsNotRetried(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	c, err := New(nil, srv.URL, "tok", noRetry(t))
	require.NoError(t, err)
	err = getStackFails(t, c)
	host := strings.TrimPrefix(srv.URL, "https://")
	assert.Contains(t, err.Error(), "GET /api/stacks/o/p/s: the TLS certificate of "+host+" is not trusted: "+
		"it is signed by an authority this machine does not know; add that CA to the system trust store")
	var certErr *tls.CertificateVerificationError
	assert.ErrorAs(t, err, &certErr)
	assert.Equal(t, ClientStats{Requests: 1, Retries: 0}, c.Stats())
}

func TestCertificateForAnotherHostIsNotRetried(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	t.Cleanup(srv.Close)
	// The test certificate names example.com and the loopback IPs; a host
	// name it does not list fails verification even though the CA is trusted.
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	require.NoError(t, err)
	hc := srv.Client()
	hc.Transport.(*http.Transport).DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, srv.Listener.Addr().String())
	}
	c, err := New(hc, "https://wrong.invalid:"+port, "tok", noRetry(t))
	require.NoError(t, err)
	err = getStackFails(t, c)
	assert.Contains(t, err.Error(), "GET /api/stacks/o/p/s: the TLS certificate of wrong.invalid:"+port+
		" is not valid for that host name: use a host name the certificate names")
	assert.Equal(t, ClientStats{Requests: 1, Retries: 0}, c.Stats())
}

// An https:// URL pointing at a plain-HTTP server, such as the emulator, is
// the same mistake every time: one attempt, and a message that says where
// and what to do. A create is not ErrAmbiguous either: nothing was sent.
func TestHTTPSToPlainHTTPServerIsNotRetried(t *testing.T) {
	t.Parallel()
	c, host, hits := wrongSchemeClient(t, false)

	err := getStackFails(t, c)
	assert.Equal(t, "GET /api/stacks/o/p/s: "+host+" answered in plain HTTP, not HTTPS: use http://"+host+
		" if it is a local Pulumi Cloud emulator, or check the port: http: server gave HTTP response to HTTPS client",
		err.Error())
	assert.ErrorIs(t, err, http.ErrSchemeMismatch)
	assert.Equal(t, ClientStats{Requests: 1, Retries: 0}, c.Stats())

	_, err = c.CreateStack(t.Context(), "o", "p", "s")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "POST /api/stacks/o/p: "+host+" answered in plain HTTP")
	assert.NotErrorIs(t, err, ErrAmbiguous)
	assert.Equal(t, ClientStats{Requests: 2, Retries: 0}, c.Stats())
	assert.Zero(t, hits.Load(), "no request reached the handler")
}

// A port without a default: https://localhost means localhost:443.
func TestHostPortSpellsOutDefaultPort(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		"https://api.pulumi.com":   "api.pulumi.com:443",
		"http://localhost":         "localhost:80",
		"https://[::1]:8443/x/api": "[::1]:8443",
	} {
		c, err := New(nil, raw, "tok")
		require.NoError(t, err)
		assert.Equal(t, want, c.hostPort, raw)
	}
}

// Something on the port that speaks neither TLS nor HTTP.
func TestHTTPSToNonTLSServiceIsNotRetried(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = io.WriteString(conn, "SSH-2.0-OpenSSH_9.6\r\n")
			_ = conn.Close()
		}
	}()
	host := ln.Addr().String()
	c, err := New(nil, "https://"+host, "tok", noRetry(t))
	require.NoError(t, err)
	err = getStackFails(t, c)
	assert.Equal(t, "GET /api/stacks/o/p/s: "+host+" does not speak TLS (its first answer is not a TLS "+
		"handshake): check the host and port, or use http:// if it is a local Pulumi Cloud emulator: "+
		"tls: first record does not look like a TLS handshake", err.Error())
	assert.Equal(t, ClientStats{Requests: 1, Retries: 0}, c.Stats())
}

// An http:// URL pointing at a TLS server: Go's server answers 400 "Client
// sent an HTTP request to an HTTPS server." without routing it.
func TestPlainHTTPToTLSServerIsNotRetried(t *testing.T) {
	t.Parallel()
	c, host, hits := wrongSchemeClient(t, true)
	err := getStackFails(t, c)
	assert.Equal(t, "GET /api/stacks/o/p/s: 400 Bad Request: "+host+" speaks HTTPS, not plain HTTP: use https://"+
		host+` (the server said "Client sent an HTTP request to an HTTPS server.")`, err.Error())
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusBadRequest, apiErr.StatusCode)
	assert.Equal(t, ClientStats{Requests: 1, Retries: 0}, c.Stats())
	assert.Zero(t, hits.Load())
}

// The same 400 text from a server reached over https:// is left alone: it
// can only be the application's own message.
func TestPlainHTTPMessageOnlyExplainedForHTTP(t *testing.T) {
	t.Parallel()
	srv := &recordingServer{status: http.StatusBadRequest,
		body: `{"code":400,"message":"Client sent an HTTP request to an HTTPS server."}`}
	hs := httptest.NewTLSServer(srv)
	t.Cleanup(hs.Close)
	c, err := New(hs.Client(), hs.URL, "tok", noRetry(t))
	require.NoError(t, err)
	_, err = c.GetStack(t.Context(), "o", "p", "s")
	assert.EqualError(t, err, "GET /api/stacks/o/p/s: 400 Bad Request: Client sent an HTTP request to an HTTPS server.")
}
