package emulator

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

const (
	requestIDHeader = "X-Pulumi-Request-ID"
	// defaultMaxCascade stops a webhook cycle; the real service has no such cap and would deploy forever.
	defaultMaxCascade = 1000
)

// Options configures a Server.
type Options struct {
	// Token is the access token every /api request must carry as "Authorization: token <Token>". Required.
	Token string
	// DefaultOrganization is what GET /api/user/organizations/default answers: the token's default
	// organization, "" for a user with none.
	DefaultOrganization string
	// MoreTokens are accepted as well, as Pulumi Cloud accepts every live token of a user: a test can
	// rotate a program's token from one to another.
	MoreTokens []string
	// Now is the clock for timestamps. Defaults to time.Now.
	Now func() time.Time
	// Sleep waits out injected latency. Defaults to a timer that gives up when the request is cancelled;
	// tests pass a recorder instead so they can check latency without measuring time.
	Sleep func(ctx context.Context, d time.Duration) error
	// MaxCascadeDeployments caps the deployments one event may start. Defaults to 1000.
	MaxCascadeDeployments int
	// OnRequest, when set, is called after each /api request has been answered.
	OnRequest func(RequestRecord)
	// DeploymentDuration, when positive, makes deployments timed: they run on their own, one at a time
	// per stack, for this long each unless their stack's DeploymentBehaviour says otherwise
	// (store_timed.go). Zero keeps the default, synchronous deployments.
	DeploymentDuration time.Duration
	// DeploymentConcurrency caps the deployments running at once per organization
	// (DeploymentMode.Concurrency); 0, the default, sets no cap.
	DeploymentConcurrency int
	// DeliveryTimeout bounds each delivery sent over HTTP (delivery_http.go). Defaults to 10s.
	DeliveryTimeout time.Duration
}

// Server is an in-memory Pulumi Cloud: an http.Handler serving the REST API under /api/ and a local admin
// API under /_emulator/.
type Server struct {
	tokens     []string
	defaultOrg string
	now        func() time.Time
	sleep      func(ctx context.Context, d time.Duration) error
	onRequest  func(RequestRecord)
	api        *http.ServeMux
	admin      *http.ServeMux
	// adminPatterns and apiPatterns are the admin API's and the API's routes, for the tests that walk
	// every one (every admin route is guarded; every route of a deleted stack is a 404).
	adminPatterns, apiPatterns []string
	// cipherKey turns secrets into a stable secretCiphertext without ever echoing the secret.
	cipherKey []byte
	reqSeq    atomic.Int64

	// store holds the state the API changes; traffic counts, logs and faults the requests themselves.
	store   *store
	traffic *traffic
}

// New returns an empty emulator. It panics without a token, because an emulator that accepts anything
// would hide the very auth bugs it exists to catch.
func New(opts Options) *Server {
	if opts.Token == "" {
		panic("emulator: Options.Token is required")
	}
	s := &Server{
		tokens:     append([]string{opts.Token}, opts.MoreTokens...),
		defaultOrg: opts.DefaultOrganization,
		now:        opts.Now,
		sleep:      opts.Sleep,
		onRequest:  opts.OnRequest,
		api:        http.NewServeMux(),
		admin:      http.NewServeMux(),
		cipherKey:  make([]byte, 32),
		traffic:    newTraffic(),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.sleep == nil {
		s.sleep = sleepContext
	}
	maxCascade := opts.MaxCascadeDeployments
	if maxCascade <= 0 {
		maxCascade = defaultMaxCascade
	}
	mode := DeploymentMode{Mode: DeploymentsSynchronous, Concurrency: max(0, opts.DeploymentConcurrency)}
	if opts.DeploymentDuration > 0 {
		mode.Mode, mode.Duration = DeploymentsTimed, opts.DeploymentDuration
	}
	s.store = newStore(s.now, maxCascade, opts.DeliveryTimeout, mode)
	if _, err := rand.Read(s.cipherKey); err != nil {
		panic(fmt.Sprintf("emulator: reading random key: %v", err))
	}
	s.registerWebhookRoutes()
	s.registerStackRoutes()
	s.registerEnvironmentRoutes()
	s.registerDeploymentSettingsRoutes()
	s.registerUserStackRoutes()
	s.registerUserRoutes()
	s.registerDeploymentRoutes()
	s.registerExportRoutes()
	s.registerAdminRoutes()
	s.registerConsoleRoutes()
	return s
}

// ServeHTTP routes /api/ requests through stats, faults and auth, /_emulator/ to the admin API, and / to
// the console page (console.go). The admin API and the console refuse to change state for a request
// from another site or addressed to another host (guard.go).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set(requestIDHeader, fmt.Sprintf("emu-%08d", s.reqSeq.Add(1)))
	switch p := r.URL.Path; {
	case p == "/api" || strings.HasPrefix(p, "/api/"):
		s.serveAPI(w, r)
	case strings.HasPrefix(p, "/_emulator/"):
		localOnly(s.admin).ServeHTTP(w, r)
	case p == "/":
		localOnly(http.HandlerFunc(s.serveConsole)).ServeHTTP(w, r)
	default:
		http.NotFound(w, r)
	}
}

// Close stops what runs on its own: the clocks of timed deployments (running ones stay running) and the
// deliveries on their way over HTTP (they are cancelled and recorded as failed). It returns once no
// goroutine of the emulator's is left. The emulator still answers requests afterwards.
func (s *Server) Close() {
	s.store.close()
	s.store.outbox.close()
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	started := time.Now()
	_, route := s.api.Handler(r)
	if route == "" {
		route = r.Method + " (no route)"
	}
	latency, rule := s.traffic.Admit(r.Method, r.URL.Path, route)
	sw := &statusWriter{ResponseWriter: w}
	if latency > 0 {
		if err := s.sleep(r.Context(), latency); err != nil {
			// The client went away while we were being slow on purpose; nobody is left to answer.
			sw.status = 499
			s.logRequest(w, r, route, sw.status, started, false)
			return
		}
	}
	if rule != nil && rule.AfterApply {
		s.serveAuthed(&discardWriter{header: http.Header{}}, r)
	}
	switch {
	case rule == nil:
		s.serveAuthed(sw, r)
	case rule.DropConnection:
		// Logged as status 0: no answer. The sentinel panic makes net/http close the connection (or
		// reset the HTTP/2 stream) without writing anything and without logging a stack.
		s.logRequest(w, r, route, 0, started, true)
		panic(http.ErrAbortHandler)
	default:
		writeFault(sw, rule)
	}
	s.logRequest(w, r, route, sw.code(), started, rule != nil)
}

func (s *Server) serveAuthed(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(r.Header.Get("Authorization")) {
		writeError(w, errorf(http.StatusUnauthorized, "Unauthorized: no credentials provided or they are invalid"))
		return
	}
	s.api.ServeHTTP(w, r)
}

func (s *Server) authorized(header string) bool {
	scheme, tok, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "token") {
		return false
	}
	tok = strings.TrimSpace(tok)
	accepted := 0
	for _, t := range s.tokens {
		if t != "" {
			accepted |= subtle.ConstantTimeCompare([]byte(tok), []byte(t))
		}
	}
	return accepted == 1
}

func (s *Server) logRequest(w http.ResponseWriter, r *http.Request, route string, status int, started time.Time, fault bool) {
	rec := RequestRecord{
		ID:       w.Header().Get(requestIDHeader),
		Method:   r.Method,
		Path:     r.URL.Path,
		Route:    route,
		Status:   status,
		Time:     s.now(),
		Duration: time.Since(started),
		Fault:    fault,
	}
	s.traffic.Log(rec)
	if s.onRequest != nil {
		s.onRequest(rec)
	}
}

// statusWriter remembers the status the handler answered with, for the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// discardWriter swallows the real answer of a request whose response a fault rule "loses".
type discardWriter struct{ header http.Header }

func (w *discardWriter) Header() http.Header         { return w.header }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}
