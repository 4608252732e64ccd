package cloud

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Sentinels for the outcomes callers branch on. An *APIError matches the one
// for its status through errors.Is.
var (
	ErrNotFound     = errors.New("not found")
	ErrUnauthorized = errors.New("unauthorized: the access token is missing, invalid or expired")
	ErrForbidden    = errors.New("forbidden: the access token lacks permission")
	ErrConflict     = errors.New("conflict")
	ErrRateLimited  = errors.New("rate limited")

	// ErrAmbiguous marks a failed non-idempotent request (a create) that may
	// nevertheless have been applied: the connection broke after the request
	// was sent, or the service answered 502/503/504. The client does not retry
	// it; a caller that can check whether the write landed should do so.
	ErrAmbiguous = errors.New("outcome unknown: the request may have been applied")
)

// maxMessageBytes bounds a plain-text error body quoted in a message; an HTML
// error page from a proxy would otherwise swamp the diagnostic.
const maxMessageBytes = 500

// APIError is a non-2xx answer from the service.
type APIError struct {
	Method     string
	Path       string // escaped request path, without the query
	StatusCode int
	Message    string
	RequestID  string        // X-Pulumi-Request-ID, worth quoting to Pulumi support
	RetryAfter time.Duration // from Retry-After; zero when absent
}

// Error reads like `POST /api/orgs/o/hooks: 400 Bad Request: displayName must
// not be empty (request id abc)`.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d", e.Method, e.Path, e.StatusCode)
	if text := http.StatusText(e.StatusCode); text != "" {
		b.WriteString(" " + text)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.RequestID != "" {
		b.WriteString(" (request id " + e.RequestID + ")")
	}
	return b.String()
}

// Is lets errors.Is(err, ErrNotFound) and friends work through wrapping.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized
	case ErrForbidden:
		return e.StatusCode == http.StatusForbidden
	case ErrConflict:
		return e.StatusCode == http.StatusConflict
	case ErrRateLimited:
		return e.StatusCode == http.StatusTooManyRequests
	}
	return false
}

// errorBody is the service's error shape. Other keys (documentationUrl,
// errors) are ignored: the message already says what went wrong.
type errorBody struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// newAPIError builds the error for a non-2xx response. secrets are scrubbed
// from the message in case the service (or a proxy) echoes the request.
func newAPIError(method, path string, resp *http.Response, body []byte, secrets []string) *APIError {
	e := &APIError{
		Method:     method,
		Path:       path,
		StatusCode: resp.StatusCode,
		RequestID:  resp.Header.Get("X-Pulumi-Request-ID"),
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
	}
	var eb errorBody
	if err := json.Unmarshal(body, &eb); err == nil && eb.Message != "" {
		e.Message = eb.Message
		// The body's code wins only when it is a plausible error status: the
		// facts allow it to be 0 or missing, and a stray application code
		// must not turn a 404 into something errors.Is cannot match.
		if eb.Code >= 400 && eb.Code <= 599 {
			e.StatusCode = eb.Code
		}
	} else {
		e.Message = strings.TrimSpace(string(body))
	}
	// Scrub before truncating so a secret cut in half cannot survive.
	e.Message = Truncate(redact(e.Message, secrets), maxMessageBytes)
	return e
}

// parseRetryAfter accepts both forms RFC 9110 allows: delay seconds and an
// HTTP date. Garbage or a date in the past yields zero, meaning "use the
// client's own backoff".
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// Truncate returns s if it is at most n bytes long, and otherwise its first n bytes or
// fewer, ending on a character boundary, followed by "…". Cutting a multi-byte character
// in half would put invalid UTF-8 into a diagnostic. The provider quotes user input
// through it too, so this package holds the project's one implementation.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := max(n, 0)
	// s[cut] is the first byte dropped. While it continues a character, that character
	// started earlier and is dropped whole; it is at most utf8.UTFMax bytes long.
	for back := 1; back < utf8.UTFMax && cut > 0 && !utf8.RuneStart(s[cut]); back++ {
		cut--
	}
	return s[:cut] + "…"
}

func redact(s string, secrets []string) string {
	for _, secret := range secrets {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, "[redacted]")
		}
	}
	return s
}
