package emulator

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Faults makes the emulator misbehave on purpose, so clients can prove their retries and error paths.
type Faults struct {
	// Latency is added to every /api request before it is handled.
	Latency time.Duration
	// Rules are tried in order; the first that fires answers the request.
	Rules []FaultRule
}

// FaultRule answers matching /api requests with an error status.
//
// Each rule counts the requests it matches, whether or not it or another rule fires on them. With Nth set
// it fires on exactly the Nth match; otherwise on every Every-th match (0 or 1: on every match). Limit caps
// how often it fires.
type FaultRule struct {
	// Status is the injected answer's status; 0 means 500.
	Status int
	Every  int
	Nth    int
	// Method, when set, must equal the request method (case-insensitive).
	Method string
	// PathContains, when set, must be a substring of the URL path.
	PathContains string
	// RetryAfter is sent as the Retry-After header: seconds or an HTTP date.
	RetryAfter string
	// AfterApply lets the request take effect and then answers with Status: the write landed, but the
	// client sees an error, as when a response is lost on the way back.
	AfterApply bool
	Limit      int
	// DropConnection closes the connection instead of answering (Status is then ignored): the client
	// sees a connection lost mid-request, as when the service or a proxy in front of it goes down. With
	// AfterApply, the request lands first.
	DropConnection bool
}

type ruleState struct {
	matched int
	fired   int
}

func validateFaults(f Faults) error {
	if f.Latency < 0 {
		return errorf(http.StatusBadRequest, "latency must not be negative")
	}
	for i, r := range f.Rules {
		switch {
		case r.Status != 0 && (r.Status < 100 || r.Status > 599):
			return errorf(http.StatusBadRequest, "rules[%d].status must be an HTTP status, got %d", i, r.Status)
		case r.Every < 0 || r.Nth < 0 || r.Limit < 0:
			return errorf(http.StatusBadRequest, "rules[%d]: every, nth and limit must not be negative", i)
		case r.RetryAfter != "" && !retryAfterValid(r.RetryAfter):
			return errorf(http.StatusBadRequest, "rules[%d].retryAfter must be seconds or an HTTP date, got %q", i, r.RetryAfter)
		}
	}
	return nil
}

// pickFaultLocked advances every matching rule's counter and returns a copy of the first rule that fires.
// Callers hold t.mu.
func (t *traffic) pickFaultLocked(method, path string) *FaultRule {
	var picked *FaultRule
	for i := range t.faults.Rules {
		rule := t.faults.Rules[i]
		if rule.Method != "" && !strings.EqualFold(rule.Method, method) {
			continue
		}
		if rule.PathContains != "" && !strings.Contains(path, rule.PathContains) {
			continue
		}
		st := &t.ruleState[i]
		st.matched++
		if picked != nil || (rule.Limit > 0 && st.fired >= rule.Limit) {
			continue
		}
		var fires bool
		switch {
		case rule.Nth > 0:
			fires = st.matched == rule.Nth
		case rule.Every > 1:
			fires = st.matched%rule.Every == 0
		default:
			fires = true
		}
		if fires {
			st.fired++
			picked = &rule
		}
	}
	return picked
}

func writeFault(w http.ResponseWriter, rule *FaultRule) {
	status := rule.Status
	if status < 100 || status > 599 {
		status = http.StatusInternalServerError
	}
	if rule.RetryAfter != "" {
		w.Header().Set("Retry-After", rule.RetryAfter)
	}
	w.Header().Set("X-Emulator-Fault", "injected")
	msg := fmt.Sprintf("emulator: injected fault (%d %s)", status, http.StatusText(status))
	if rule.AfterApply {
		msg += " after the request was applied"
	}
	writeError(w, &Error{Code: status, Message: msg})
}

func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// faultsWire is the admin API's JSON form of Faults, with latency in milliseconds.
type faultsWire struct {
	LatencyMs int64           `json:"latencyMs"`
	Rules     []faultRuleWire `json:"rules"`
}

type faultRuleWire struct {
	Status         int    `json:"status"`
	Every          int    `json:"every,omitempty"`
	Nth            int    `json:"nth,omitempty"`
	Method         string `json:"method,omitempty"`
	PathContains   string `json:"pathContains,omitempty"`
	RetryAfter     string `json:"retryAfter,omitempty"`
	AfterApply     bool   `json:"afterApply,omitempty"`
	Limit          int    `json:"limit,omitempty"`
	DropConnection bool   `json:"dropConnection,omitempty"`
}

func (fw faultsWire) faults() Faults {
	f := Faults{Latency: time.Duration(fw.LatencyMs) * time.Millisecond}
	for _, r := range fw.Rules {
		f.Rules = append(f.Rules, FaultRule(r))
	}
	return f
}

func toFaultsWire(f Faults) faultsWire {
	fw := faultsWire{LatencyMs: f.Latency.Milliseconds(), Rules: []faultRuleWire{}}
	for _, r := range f.Rules {
		fw.Rules = append(fw.Rules, faultRuleWire(r))
	}
	return fw
}

// retryAfterValid accepts the two forms RFC 9110 allows, so a typo fails at configuration time rather than
// as a confusing client retry.
func retryAfterValid(v string) bool {
	if _, err := strconv.Atoi(v); err == nil {
		return true
	}
	_, err := http.ParseTime(v)
	return err == nil
}
