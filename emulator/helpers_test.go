package emulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testToken = "test-token"

// harness is an emulator behind a real HTTP listener, so tests see the wire exactly as a client does.
type harness struct {
	t   *testing.T
	srv *Server
	url string
}

func newHarness(t *testing.T, opts ...func(*Options)) *harness {
	t.Helper()
	o := Options{Token: testToken}
	for _, f := range opts {
		f(&o)
	}
	srv := New(o)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	t.Cleanup(srv.Close)
	return &harness{t: t, srv: srv, url: ts.URL}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// call sends an authenticated request with the headers the official provider sends.
func (h *harness) call(method, path string, body any) response {
	h.t.Helper()
	return h.send(method, path, body, map[string]string{
		"Authorization": "token " + testToken,
		"Accept":        "application/vnd.pulumi+9",
		"Content-Type":  "application/json",
	})
}

// send sends a request with exactly the given headers: a string body as it is, any other as JSON.
func (h *harness) send(method, path string, body any, headers map[string]string) response {
	h.t.Helper()
	return h.sendTo(method, path, "", body, headers)
}

// sendTo is send with the Host header set to host (when not empty) whatever the URL connects to.
func (h *harness) sendTo(method, path, host string, body any, headers map[string]string) response {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	default:
		data, err := json.Marshal(b)
		require.NoError(h.t, err)
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(h.t.Context(), method, h.url+path, rd)
	require.NoError(h.t, err)
	if host != "" {
		req.Host = host
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(h.t, err)
	defer func() { _ = res.Body.Close() }()
	data, err := io.ReadAll(res.Body)
	require.NoError(h.t, err)
	return response{status: res.StatusCode, header: res.Header, body: data}
}

// must asserts the status and decodes the body into a fresh T.
func must[T any](t *testing.T, r response, status int) T {
	t.Helper()
	require.Equal(t, status, r.status, "body: %s", r.body)
	var v T
	require.NoError(t, json.Unmarshal(r.body, &v), "body: %s", r.body)
	return v
}

// mustError asserts an error response of the documented {code, message} shape and returns the message.
func mustError(t *testing.T, r response, status int) string {
	t.Helper()
	require.Equal(t, status, r.status, "body: %s", r.body)
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))
	var body map[string]any
	require.NoError(t, json.Unmarshal(r.body, &body), "body: %s", r.body)
	assert.Equal(t, float64(status), body["code"])
	msg, _ := body["message"].(string)
	assert.NotEmpty(t, msg)
	return msg
}

// stackHook is a valid stack webhook body; overrides replace or, with nil, remove keys.
func stackHook(org, project, stackName string, overrides map[string]any) map[string]any {
	body := map[string]any{
		"organizationName": org,
		"projectName":      project,
		"stackName":        stackName,
		"displayName":      "hook",
		"payloadUrl":       "https://example.com/hook",
		"active":           true,
	}
	return override(body, overrides)
}

func override(body, overrides map[string]any) map[string]any {
	for k, v := range overrides {
		if v == nil {
			delete(body, k)
		} else {
			body[k] = v
		}
	}
	return body
}

// deployHook is a pulumi_deployments webhook body on stack org/project/from that deploys project/to.
func deployHook(org, project, from, to string) map[string]any {
	return stackHook(org, project, from, map[string]any{
		"displayName": "deploy " + to,
		"format":      "pulumi_deployments",
		"payloadUrl":  project + "/" + to,
		"filters":     []string{"update_succeeded"},
	})
}

// seedStacks creates stacks with default deployment settings.
func seedStacks(t *testing.T, s *Server, org, project string, names ...string) {
	t.Helper()
	data := SeedData{}
	for _, n := range names {
		data.Stacks = append(data.Stacks, SeedStack{Org: org, Project: project, Stack: n, DeploymentSettings: true})
	}
	require.NoError(t, s.Seed(data))
}

// requestRecorder keeps every record the emulator hands to Options.OnRequest.
type requestRecorder struct {
	mu      sync.Mutex
	records []RequestRecord
}

// option makes the recorder the emulator's OnRequest, as an option of newHarness.
func (r *requestRecorder) option(o *Options) {
	o.OnRequest = func(rec RequestRecord) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.records = append(r.records, rec)
	}
}

// all returns a copy of the records so far.
func (r *requestRecorder) all() []RequestRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.records)
}

func stackNames(ds []Deployment) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Stack
	}
	return out
}

// createStackHook creates the stack webhook body describes through the API, on the stack its
// organizationName, projectName and stackName name, and fails the test unless the answer is 201.
func (h *harness) createStackHook(t *testing.T, body map[string]any) webhookWire {
	t.Helper()
	path := fmt.Sprintf("/api/stacks/%s/%s/%s/hooks", body["organizationName"], body["projectName"], body["stackName"])
	return must[webhookWire](t, h.call(http.MethodPost, path, body), http.StatusCreated)
}
