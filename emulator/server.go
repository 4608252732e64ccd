package emulator

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	requestIDHeader = "X-Pulumi-Request-ID"
	// defaultMaxCascade stops a webhook cycle; the real service has no such cap and would deploy forever.
	defaultMaxCascade = 1000
	requestLogSize    = 10000
	maxBodyBytes      = 1 << 20
)

// Options configures a Server.
type Options struct {
	// Token is the access token every /api request must carry as "Authorization: token <Token>". Required.
	Token string
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
}

// Server is an in-memory Pulumi Cloud: an http.Handler serving the REST API under /api/ and a local admin
// API under /_emulator/.
type Server struct {
	tokens     []string
	now        func() time.Time
	sleep      func(ctx context.Context, d time.Duration) error
	maxCascade int
	onRequest  func(RequestRecord)
	api        *http.ServeMux
	admin      *http.ServeMux
	// cipherKey turns secrets into a stable secretCiphertext without ever echoing the secret.
	cipherKey []byte
	reqSeq    atomic.Int64

	mu          sync.Mutex
	stacks      map[string]*stack
	envs        map[string]*environment
	hooks       map[string]*hookSet // by Scope.Path()
	deployments []Deployment
	deliveries  []delivery
	seq         int64

	metaMu    sync.Mutex
	stats     Stats
	faults    Faults
	ruleState []ruleState
	requests  []RequestRecord
	reqNext   int
}

// New returns an empty emulator. It panics without a token, because an emulator that accepts anything
// would hide the very auth bugs it exists to catch.
func New(opts Options) *Server {
	if opts.Token == "" {
		panic("emulator: Options.Token is required")
	}
	s := &Server{
		tokens:     append([]string{opts.Token}, opts.MoreTokens...),
		now:        opts.Now,
		sleep:      opts.Sleep,
		maxCascade: opts.MaxCascadeDeployments,
		onRequest:  opts.OnRequest,
		api:        http.NewServeMux(),
		admin:      http.NewServeMux(),
		cipherKey:  make([]byte, 32),
		stacks:     map[string]*stack{},
		envs:       map[string]*environment{},
		hooks:      map[string]*hookSet{},
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.sleep == nil {
		s.sleep = sleepContext
	}
	if s.maxCascade <= 0 {
		s.maxCascade = defaultMaxCascade
	}
	if _, err := rand.Read(s.cipherKey); err != nil {
		panic(fmt.Sprintf("emulator: reading random key: %v", err))
	}
	s.resetStatsLocked()
	s.registerWebhookRoutes()
	s.registerStackRoutes()
	s.registerUserStackRoutes()
	s.registerDeploymentRoutes()
	s.registerAdminRoutes()
	return s
}

// ServeHTTP routes /api/ requests through stats, faults and auth, and /_emulator/ to the admin API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set(requestIDHeader, fmt.Sprintf("emu-%08d", s.reqSeq.Add(1)))
	switch p := r.URL.Path; {
	case p == "/api" || strings.HasPrefix(p, "/api/"):
		s.serveAPI(w, r)
	case strings.HasPrefix(p, "/_emulator/"):
		s.admin.ServeHTTP(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	started := time.Now()
	_, route := s.api.Handler(r)
	if route == "" {
		route = r.Method + " (no route)"
	}
	latency, rule := s.admit(r, route)
	sw := &statusWriter{ResponseWriter: w}
	if latency > 0 {
		if err := s.sleep(r.Context(), latency); err != nil {
			// The client went away while we were being slow on purpose; nobody is left to answer.
			sw.status = 499
			s.logRequest(w, r, route, sw.status, started, false)
			return
		}
	}
	switch {
	case rule == nil:
		s.serveAuthed(sw, r)
	case rule.AfterApply:
		s.serveAuthed(&discardWriter{header: http.Header{}}, r)
		writeFault(sw, rule)
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

// handlerFunc answers with a status and a body to encode as JSON (nil for none), or an error.
type handlerFunc func(r *http.Request) (int, any, error)

func (s *Server) handle(mux *http.ServeMux, pattern string, h handlerFunc) {
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		status, body, err := h(r)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, status, body)
	})
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	if body == nil || status == http.StatusNoContent {
		w.WriteHeader(status)
		return
	}
	data, err := json.Marshal(body)
	if err != nil {
		writeError(w, errorf(http.StatusInternalServerError, "encoding response: %v", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
}

func writeError(w http.ResponseWriter, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = errorf(http.StatusInternalServerError, "%v", err)
	}
	writeJSON(w, e.Code, e)
}

// decodeJSON reads a JSON body into v. An empty body counts as {} so that required-field checks, not the
// decoder, say what is missing.
func decodeJSON(r *http.Request, v any) error {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return errorf(http.StatusBadRequest, "reading request body: %v", err)
	}
	if len(data) > maxBodyBytes {
		return errorf(http.StatusRequestEntityTooLarge, "request body is larger than %d bytes", maxBodyBytes)
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		data = []byte("{}")
	}
	if err := json.Unmarshal(data, v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return errorf(http.StatusBadRequest, "invalid value for %s: expected %s", typeErr.Field, typeErr.Type)
		}
		return errorf(http.StatusBadRequest, "invalid JSON body: %v", err)
	}
	return nil
}

// newID returns a UUID-shaped id. Ids come from a counter so that runs are reproducible. Callers hold s.mu.
func (s *Server) newID() string {
	s.seq++
	return fmt.Sprintf("00000000-0000-4000-8000-%012x", s.seq)
}

func isWrite(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

// admit counts the request and picks the fault, if any, to answer it with.
func (s *Server) admit(r *http.Request, route string) (time.Duration, *FaultRule) {
	s.metaMu.Lock()
	defer s.metaMu.Unlock()
	s.stats.Total++
	if isWrite(r.Method) {
		s.stats.Writes++
	}
	s.stats.ByMethod[r.Method]++
	s.stats.ByRoute[route]++
	rule := s.pickFaultLocked(r.Method, r.URL.Path)
	if rule != nil {
		s.stats.Faults++
	}
	return s.faults.Latency, rule
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
	s.metaMu.Lock()
	if len(s.requests) < requestLogSize {
		s.requests = append(s.requests, rec)
	} else {
		s.requests[s.reqNext] = rec
	}
	s.reqNext = (s.reqNext + 1) % requestLogSize
	s.metaMu.Unlock()
	if s.onRequest != nil {
		s.onRequest(rec)
	}
}

// Stats returns a copy of the request counters.
func (s *Server) Stats() Stats {
	s.metaMu.Lock()
	defer s.metaMu.Unlock()
	out := s.stats
	out.ByMethod = copyCounts(s.stats.ByMethod)
	out.ByRoute = copyCounts(s.stats.ByRoute)
	return out
}

// ResetStats zeroes the request counters. The request log is kept.
func (s *Server) ResetStats() {
	s.metaMu.Lock()
	defer s.metaMu.Unlock()
	s.resetStatsLocked()
}

func (s *Server) resetStatsLocked() {
	s.stats = Stats{ByMethod: map[string]int{}, ByRoute: map[string]int{}}
}

// Requests returns the last (up to 10,000) /api requests, oldest first.
func (s *Server) Requests() []RequestRecord {
	s.metaMu.Lock()
	defer s.metaMu.Unlock()
	out := make([]RequestRecord, 0, len(s.requests))
	if len(s.requests) == requestLogSize {
		out = append(out, s.requests[s.reqNext:]...)
		return append(out, s.requests[:s.reqNext]...)
	}
	return append(out, s.requests...)
}

func copyCounts(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
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
