package cloud

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testToken = "pul-test-0123456789abcdef"

// sleepRecorder stands in for RetryPolicy.Sleep so retry tests record the
// waits the client asked for instead of taking them.
type sleepRecorder struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (r *sleepRecorder) sleep(ctx context.Context, d time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.waits = append(r.waits, d)
	return ctx.Err()
}

func (r *sleepRecorder) Waits() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Duration(nil), r.waits...)
}

// newTestClient serves h and returns a client for it whose retries do not
// sleep. p.Sleep, when nil, becomes the recorder's.
func newTestClient(t *testing.T, h http.Handler, p RetryPolicy, opts ...Option) (*Client, *sleepRecorder) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	rec := &sleepRecorder{}
	if p.Sleep == nil {
		p.Sleep = rec.sleep
	}
	c, err := New(srv.Client(), srv.URL, testToken, append([]Option{WithRetry(p)}, opts...)...)
	require.NoError(t, err)
	return c, rec
}

// captured is one request as the server saw it.
type captured struct {
	Method     string
	RequestURI string // exactly as sent: escaped path plus query
	Header     http.Header
	Body       string
}

// recordingServer answers every request with status and body and keeps what
// it was sent.
type recordingServer struct {
	mu       sync.Mutex
	requests []captured
	status   int
	body     string
}

func (s *recordingServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.requests = append(s.requests, captured{r.Method, r.RequestURI, r.Header.Clone(), string(body)})
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(s.status)
	_, _ = io.WriteString(w, s.body)
}

func (s *recordingServer) only(t *testing.T) captured {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	require.Len(t, s.requests, 1)
	return s.requests[0]
}

// assertOnly checks that the server was sent exactly one request, with the method, the request URI,
// the JSON body (none when body is "") and the headers every request carries.
func (s *recordingServer) assertOnly(t *testing.T, method, uri, body string) {
	t.Helper()
	req := s.only(t)
	assert.Equal(t, method, req.Method)
	assert.Equal(t, uri, req.RequestURI)
	assertStandardHeaders(t, req.Header)
	assertBody(t, body, req.Body)
}

// assertStandardHeaders checks what every request must carry.
func assertStandardHeaders(t *testing.T, h http.Header) {
	t.Helper()
	assert.Equal(t, "token "+testToken, h.Get("Authorization"))
	assert.Equal(t, "application/vnd.pulumi+9", h.Get("Accept"))
	assert.Equal(t, "application/json", h.Get("Content-Type"))
	assert.Equal(t, "provider", h.Get("X-Pulumi-Source"))
	assert.NotEmpty(t, h.Get("User-Agent"))
}

// assertBody compares a JSON body, or checks that none was sent.
func assertBody(t *testing.T, want, got string) {
	t.Helper()
	if want == "" {
		assert.Empty(t, got)
		return
	}
	assert.JSONEq(t, want, got)
}
