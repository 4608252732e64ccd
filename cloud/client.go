package cloud

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// DefaultBaseURL is the public Pulumi Cloud API, which New uses for an empty base URL
// and the provider when no API URL is configured.
const DefaultBaseURL = "https://api.pulumi.com"

const (
	defaultUserAgent      = "pulumi-auto-deploy"
	defaultRequestTimeout = 60 * time.Second

	// acceptHeader is what the official provider sends; the service still
	// accepts the +8 the public docs show.
	acceptHeader = "application/vnd.pulumi+9"

	// retryAfterJitter: a server-requested wait is stretched by up to 1/retryAfterJitter,
	// within maxRetryAfter.
	retryAfterJitter = 5

	// maxRetryAfter caps a server-requested wait, as the Pulumi CLI does, so
	// a misconfigured edge cannot park a deployment for an hour.
	maxRetryAfter = 30 * time.Second

	// maxResponseBytes guards against a runaway body; real answers are tiny.
	maxResponseBytes = 32 << 20
)

// Client talks to one Pulumi Cloud API endpoint with one access token.
type Client struct {
	httpClient     *http.Client
	base           string // scheme://host[:port], no path
	prefix         string // escaped path the API lives under ("" or "/a/b"), before "/api/..."
	hostPort       string // host:port the client dials, for messages that must say where
	token          string
	userAgent      string
	retry          RetryPolicy
	requestTimeout time.Duration

	requests atomic.Int64
	retries  atomic.Int64

	reads, writes *gate // requests in flight, see limits.go
	onThrottle    func(ctx context.Context, t Throttle)
}

// Option configures a Client in New.
type Option func(*Client)

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option {
	return func(c *Client) {
		if ua != "" {
			c.userAgent = ua
		}
	}
}

// WithRetry sets the retry policy; zero fields keep their defaults. Use
// MaxAttempts 1 to turn retries off.
func WithRetry(p RetryPolicy) Option {
	return func(c *Client) { c.retry = p.withDefaults() }
}

// WithRequestTimeout bounds each attempt (connect, send, and reading the whole
// answer), separately from the caller's context. Zero or less disables it.
func WithRequestTimeout(d time.Duration) Option {
	return func(c *Client) { c.requestTimeout = d }
}

// RetryPolicy bounds how hard the client tries before returning an error.
type RetryPolicy struct {
	// MaxAttempts bounds the attempts that failed other than by a 429, first included;
	// default 6. A 429 is Pulumi Cloud asking to wait, not a failure of the request: those
	// retries are bounded by MaxElapsed alone, so a busy run slows down instead of failing.
	MaxAttempts int
	BaseDelay   time.Duration // backoff before the second attempt, doubled each time; default 250ms
	MaxDelay    time.Duration // cap on one backoff wait; default 10s (Retry-After is capped at 30s instead)
	MaxElapsed  time.Duration // no retry is started that would end past this budget; default 2m

	// Sleep waits between attempts and must return early with ctx's error
	// when ctx ends. Tests replace it to record waits instead of sleeping.
	Sleep func(ctx context.Context, d time.Duration) error
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 6
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = 250 * time.Millisecond
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = 10 * time.Second
	}
	if p.MaxElapsed <= 0 {
		p.MaxElapsed = 2 * time.Minute
	}
	if p.Sleep == nil {
		p.Sleep = sleep
	}
	return p
}

// backoff is capped exponential backoff with full jitter: spreading retries
// over the whole window keeps many provider processes that hit the same 503
// from coming back in lockstep.
func (p RetryPolicy) backoff(attempt int) time.Duration {
	ceiling := p.BaseDelay
	for i := 1; i < attempt && ceiling < p.MaxDelay; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, p.MaxDelay)
	return rand.N(ceiling + 1)
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// ClientStats counts HTTP attempts made and, of those, how many were retries.
type ClientStats struct {
	Requests int64
	Retries  int64
}

// New returns a client for the API at baseURL, such as
// "https://api.pulumi.com", "https://pulumi.example.com/selfhosted" or
// "http://127.0.0.1:8383". Requests go to baseURL's scheme and host, under
// its path (see PathPrefix: a trailing "/" or "/api" is dropped, so
// "https://host/api" still means "https://host"). The official provider
// keeps only the host; a self-hosted installation behind a path prefix needs
// the path. An empty baseURL means the public service. A nil httpClient
// means http.DefaultClient.
func New(httpClient *http.Client, baseURL, token string, opts ...Option) (*Client, error) {
	raw := strings.TrimSpace(baseURL)
	if raw == "" {
		raw = DefaultBaseURL
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("cloud: invalid base URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("cloud: base URL %q must use http or https", u.Redacted())
	}
	if u.Host == "" {
		return nil, fmt.Errorf("cloud: base URL %q has no host", u.Redacted())
	}
	// A token read from a file often carries a newline, which net/http would
	// refuse as a header value with a less helpful message.
	token = strings.TrimSpace(token)
	if token == "" {
		return nil, errors.New("cloud: an access token is required")
	}
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	// The API never redirects; following one would send a write to an object the
	// caller did not name, so a redirect is returned as the error it is.
	noRedirects := *httpClient
	noRedirects.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	httpClient = &noRedirects
	c := &Client{
		httpClient:     httpClient,
		base:           u.Scheme + "://" + u.Host,
		prefix:         PathPrefix(u.EscapedPath()),
		hostPort:       hostPort(u),
		token:          token,
		userAgent:      defaultUserAgent,
		retry:          RetryPolicy{}.withDefaults(),
		requestTimeout: defaultRequestTimeout,
		reads:          newGate(DefaultMaxReads),
		writes:         newGate(DefaultMaxWrites),
	}
	for _, opt := range opts {
		opt(c)
	}
	return c, nil
}

// BaseURL is the scheme, host and path prefix requests go under, e.g.
// "https://api.pulumi.com" or "https://pulumi.example.com/selfhosted"; each
// request's path, "/api/...", is appended to it.
func (c *Client) BaseURL() string { return c.base + c.prefix }

// PathPrefix turns the (escaped) path of an API base URL into the prefix that
// request paths, which all start with "/api/", are appended to. Trailing
// slashes are trimmed, and so is a final "/api" segment: people often write
// the API URL as "https://host/api", and "/api/api/..." would reach nothing.
// The cost of that choice is that an installation really mounted at
// ".../api/api/..." cannot be addressed; none is known. So "", "/" and "/api"
// give "", and "/selfhosted/" and "/selfhosted/api" give "/selfhosted".
func PathPrefix(escapedPath string) string {
	p := strings.TrimRight(escapedPath, "/")
	p = strings.TrimSuffix(p, "/api")
	return strings.TrimRight(p, "/")
}

// hostPort is where a client for u connects, with the scheme's default port
// spelled out: "the emulator at 127.0.0.1:443" tells a user more than a bare
// host does when the port is the problem.
func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "443"
		if u.Scheme == "http" {
			port = "80"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// Stats reports the attempts made so far by this client.
func (c *Client) Stats() ClientStats {
	return ClientStats{Requests: c.requests.Load(), Retries: c.retries.Load()}
}

// request describes one API call. Path segments are kept apart so each can be
// escaped on its own: a name containing "/" must not become two segments.
type request struct {
	method  string
	segs    []string // path below /api/
	query   url.Values
	body    any
	out     any
	secrets []string // values to scrub from error messages besides the token
	// answeredAt, when set, receives the Date header of the successful answer.
	answeredAt *time.Time
	// read marks a POST that only reads, such as batch-decrypt (a POST because its arguments are too
	// many for a URL): it counts against the read bound, and it is retried after an ambiguous failure as
	// a GET is.
	read bool
	// repeatable marks a POST that writes but whose repeat does no harm, such as cancelling a
	// deployment: it is retried after an ambiguous failure as a PUT is.
	repeatable bool
}

func (r *request) path() (string, error) {
	var b strings.Builder
	b.WriteString("/api")
	var err error
	for _, s := range r.segs {
		switch s {
		case "":
			err = errors.New("empty name in path")
		case ".", "..":
			// A router resolves these against the path, so the request would reach
			// another object: a DELETE of webhook ".." would delete its stack.
			err = fmt.Errorf("name %q cannot be addressed in a URL path", s)
		}
		b.WriteString("/" + url.PathEscape(s))
	}
	return b.String(), err
}

// outcome says whether a failed attempt may be repeated.
type outcome int

const (
	final             outcome = iota // success, or an answer retrying will not change
	retrySafe                        // refused or never sent: repeatable for any method
	retryIfIdempotent                // may have been applied
)

// do runs r with retries and decodes a 2xx body into r.out.
func (c *Client) do(ctx context.Context, r request) error {
	path, err := r.path()
	if err != nil {
		return fmt.Errorf("%s %s: %w", r.method, path, err)
	}
	target := c.base + c.prefix + path
	if len(r.query) > 0 {
		target += "?" + r.query.Encode()
	}
	var payload []byte
	if r.body != nil {
		if payload, err = json.Marshal(r.body); err != nil {
			return fmt.Errorf("%s %s: encoding request body: %w", r.method, path, err)
		}
	}
	r.secrets = append(r.secrets, c.token)

	// Every other POST this client sends creates something or triggers a
	// delivery; repeating one that may have landed is the caller's call, not ours.
	// (Cancelling a deployment is a POST too, but a second cancel changes nothing.)
	idempotent := r.method != http.MethodPost || r.read || r.repeatable
	p := c.retry
	start := time.Now()
	var waited time.Duration
	throttled := 0 // attempts refused with 429, which MaxAttempts does not count
	slots, kind := c.gateFor(r.method, r.read)
	for attempt := 1; ; attempt++ {
		entered, gerr := slots.enter(ctx)
		if gerr != nil {
			return fmt.Errorf("%s %s: %w while waiting for a request slot", r.method, path, gerr)
		}
		out, err := c.attempt(ctx, &r, target, path, payload)
		slots.leave()
		var apiErr *APIError
		isAPIErr := errors.As(err, &apiErr)
		switch {
		case isAPIErr && apiErr.StatusCode == http.StatusTooManyRequests:
			throttled++
			if limit, changed := slots.halve(entered); changed && c.onThrottle != nil {
				c.onThrottle(ctx, Throttle{Kind: kind, Limit: limit, RetryAfter: apiErr.RetryAfter})
			}
		case err == nil || (isAPIErr && apiErr.StatusCode < http.StatusInternalServerError):
			// The service answered without throttling (a 404 is an answer too); a 5xx or no
			// answer at all says nothing about its rate limit, so neither grows the bound.
			slots.answered()
		}
		switch {
		case err == nil || out == final:
			return err
		case out == retryIfIdempotent && !idempotent:
			return fmt.Errorf("%w: %w", err, ErrAmbiguous)
		case attempt-throttled >= p.MaxAttempts:
			return fmt.Errorf("%w (gave up after %d attempts)", err, attempt)
		}
		wait := p.backoff(attempt)
		if apiErr != nil && apiErr.RetryAfter > 0 {
			// A little more than asked, at random: many requests told the same wait would
			// otherwise come back together, and with few slots in flight, in the same order,
			// so that one of them could meet the next refusal every time.
			asked := min(apiErr.RetryAfter, maxRetryAfter)
			wait = min(asked+rand.N(asked/retryAfterJitter+1), maxRetryAfter)
		}
		// waited stands in for the clock when Sleep is a test hook that
		// returns at once; in production the clock is always ahead of it.
		if max(time.Since(start), waited)+wait > p.MaxElapsed {
			return fmt.Errorf("%w (gave up after %d attempts: another would exceed the %s retry budget)",
				err, attempt, p.MaxElapsed)
		}
		if serr := p.Sleep(ctx, wait); serr != nil {
			return fmt.Errorf("%s %s: %w while waiting to retry; last attempt: %w", r.method, path, serr, err)
		}
		waited += wait
		c.retries.Add(1)
	}
}

// attempt sends r once.
func (c *Client) attempt(ctx context.Context, r *request, target, path string, payload []byte) (outcome, error) {
	actx, cancel := ctx, context.CancelFunc(func() {})
	if c.requestTimeout > 0 {
		actx, cancel = context.WithTimeout(ctx, c.requestTimeout)
	}
	defer cancel()

	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(actx, r.method, target, body)
	if err != nil {
		return final, fmt.Errorf("%s %s: building request: %w", r.method, path, err)
	}
	req.Header.Set("Authorization", "token "+c.token)
	req.Header.Set("Accept", acceptHeader)
	// The official provider sends it on every request, GET and DELETE
	// included, and the service accepts it; doing the same keeps us on the
	// path the service is known to handle.
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Pulumi-Source", "provider")
	req.Header.Set("User-Agent", c.userAgent)

	c.requests.Add(1)
	resp, err := c.httpClient.Do(req)
	if err != nil {
		return c.transportError(ctx, actx, r.method, path, err, notSent(err))
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		// The service answered, so the request was applied or refused;
		// which one is unknown.
		return c.transportError(ctx, actx, r.method, path, fmt.Errorf("reading response: %w", err), false)
	}

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		apiErr := newAPIError(r.method, path, resp, data, r.secrets)
		c.explainPlainHTTPToTLS(apiErr)
		switch resp.StatusCode {
		case http.StatusTooManyRequests:
			return retrySafe, apiErr
		case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return retryIfIdempotent, apiErr
		}
		return final, apiErr
	}
	if r.answeredAt != nil {
		if at, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
			*r.answeredAt = at
		}
	}
	if r.out != nil && len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, r.out); err != nil {
			return final, fmt.Errorf("%s %s: decoding %d response: %w", r.method, path, resp.StatusCode, err)
		}
	}
	return final, nil
}

// transportError classifies a failure that produced no usable answer.
func (c *Client) transportError(
	ctx, actx context.Context, method, path string, err error, unsent bool,
) (outcome, error) {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return final, fmt.Errorf("%s %s: %w", method, path, ctxErr)
	}
	// *url.Error repeats the method and the full URL; ours is shorter.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	// A scheme that does not match the server, or a certificate that cannot be
	// trusted, fails the same way on every attempt: say where and what to do,
	// at once, instead of retrying for the whole budget.
	if perr := c.permanentTransportError(err); perr != nil {
		return final, fmt.Errorf("%s %s: %w", method, path, perr)
	}
	out := retryIfIdempotent
	if unsent {
		out = retrySafe
	}
	if errors.Is(actx.Err(), context.DeadlineExceeded) {
		return out, fmt.Errorf("%s %s: no response within %s (per-attempt timeout): %w",
			method, path, c.requestTimeout, context.DeadlineExceeded)
	}
	return out, fmt.Errorf("%s %s: %w", method, path, err)
}

// permanentTransportError explains a failure that no retry can change, or
// returns nil. The explanation names host and port, because the usual cause
// is a URL with the wrong scheme or port, and wraps err so errors.Is and
// errors.As still see it.
func (c *Client) permanentTransportError(err error) error {
	var (
		certErr      *tls.CertificateVerificationError
		recordErr    tls.RecordHeaderError
		hostErr      x509.HostnameError
		authorityErr x509.UnknownAuthorityError
		invalidErr   x509.CertificateInvalidError
	)
	switch {
	case errors.Is(err, http.ErrSchemeMismatch):
		// The TLS handshake got "HTTP/1.x ..." back: a plain-HTTP server,
		// typically the emulator, behind an https:// URL.
		return fmt.Errorf("%s answered in plain HTTP, not HTTPS: use http://%s if it is a local Pulumi Cloud "+
			"emulator, or check the port: %w", c.hostPort, c.hostPort, err)
	case errors.As(err, &recordErr):
		// Something answered that speaks neither TLS nor HTTP (or the wrong port).
		return fmt.Errorf("%s does not speak TLS (its first answer is not a TLS handshake): check the host "+
			"and port, or use http:// if it is a local Pulumi Cloud emulator: %w", c.hostPort, err)
	case errors.As(err, &hostErr):
		return fmt.Errorf("the TLS certificate of %s is not valid for that host name: use a host name the "+
			"certificate names: %w", c.hostPort, err)
	case errors.As(err, &authorityErr):
		return fmt.Errorf("the TLS certificate of %s is not trusted: it is signed by an authority this machine "+
			"does not know; add that CA to the system trust store (or point SSL_CERT_FILE at it): %w",
			c.hostPort, err)
	case errors.As(err, &invalidErr):
		return fmt.Errorf("the TLS certificate of %s is not trusted (expired, not yet valid or not for "+
			"servers): the server needs a valid certificate: %w", c.hostPort, err)
	case errors.As(err, &certErr):
		return fmt.Errorf("the TLS certificate of %s is not trusted: %w", c.hostPort, err)
	}
	return nil
}

// plainHTTPToTLSAnswers are what servers answer a plain-HTTP request sent to
// their TLS port with: Go's net/http (a 400 written before any routing) and
// nginx. Both are 400s, which are not retried anyway; they only need saying
// what went wrong.
var plainHTTPToTLSAnswers = []string{
	"Client sent an HTTP request to an HTTPS server",
	"The plain HTTP request was sent to HTTPS port",
}

// explainPlainHTTPToTLS rewrites the message of a 400 that says an http://
// URL reached a TLS port, so it names the host and the fix.
func (c *Client) explainPlainHTTPToTLS(e *APIError) {
	if e.StatusCode != http.StatusBadRequest || !strings.HasPrefix(c.base, "http://") {
		return
	}
	for _, answer := range plainHTTPToTLSAnswers {
		if strings.Contains(e.Message, answer) {
			e.Message = fmt.Sprintf("%s speaks HTTPS, not plain HTTP: use https://%s (the server said %q)",
				c.hostPort, c.hostPort, e.Message)
			return
		}
	}
}

// notSent reports failures that happen before any byte of the request leaves:
// such a request cannot have been applied, so even a create may be repeated.
func notSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && (op.Op == "dial" || op.Op == "proxyconnect") {
		return true
	}
	var dnsErr *net.DNSError
	return errors.As(err, &dnsErr)
}
