package cloud

import (
	"io"
	"net/http"
	"net/url"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGetStack(t *testing.T) {
	t.Parallel()
	srv := &recordingServer{status: http.StatusOK, body: `{"id":"s-1","orgName":"acme","projectName":"web",
		"stackName":"prod","version":7,"activeUpdate":"u-9","tags":{"pulumi:project":"web"},
		"currentOperation":{"kind":"update","author":"alice","started":1767225600},"config":{}}`}
	c, _ := newTestClient(t, srv, RetryPolicy{})

	got, err := c.GetStack(t.Context(), "acme", "web", "prod")
	require.NoError(t, err)
	assert.Equal(t, Stack{ID: "s-1", OrgName: "acme", ProjectName: "web", StackName: "prod", Version: 7,
		ActiveUpdate: "u-9", Tags: map[string]string{"pulumi:project": "web"},
		CurrentOperation: &StackOperation{Kind: "update", Author: "alice", Started: 1767225600}}, got)
	assert.True(t, got.Updating())

	srv.assertOnly(t, http.MethodGet, "/api/stacks/acme/web/prod", "")
}

// A null or absent currentOperation is a stack nothing runs on.
func TestGetStackNotUpdating(t *testing.T) {
	t.Parallel()
	for _, body := range []string{`{"id":"s-1","currentOperation":null}`, `{"id":"s-1"}`} {
		c, _ := newTestClient(t, &recordingServer{status: http.StatusOK, body: body}, RetryPolicy{})
		got, err := c.GetStack(t.Context(), "acme", "web", "prod")
		require.NoError(t, err)
		assert.Nil(t, got.CurrentOperation, body)
		assert.False(t, got.Updating(), body)
	}
}

func TestGetStackNotFound(t *testing.T) {
	t.Parallel()
	srv := &recordingServer{status: http.StatusNotFound, body: `{"code":404,"message":"Stack 'prod' not found"}`}
	c, _ := newTestClient(t, srv, RetryPolicy{})
	_, err := c.GetStack(t.Context(), "acme", "web", "prod")
	assert.ErrorIs(t, err, ErrNotFound)
}

func TestCreateStack(t *testing.T) {
	t.Parallel()
	// The create answer need not echo the names; the client fills them in.
	srv := &recordingServer{status: http.StatusOK, body: `{}`}
	c, _ := newTestClient(t, srv, RetryPolicy{})

	got, err := c.CreateStack(t.Context(), "acme", "web", "dev")
	require.NoError(t, err)
	assert.Equal(t, Stack{OrgName: "acme", ProjectName: "web", StackName: "dev"}, got)

	srv.assertOnly(t, http.MethodPost, "/api/stacks/acme/web", `{"stackName":"dev"}`)
}

func TestCreateStackConflict(t *testing.T) {
	t.Parallel()
	srv := &recordingServer{status: http.StatusConflict, body: `{"code":409,"message":"stack 'dev' already exists"}`}
	c, _ := newTestClient(t, srv, RetryPolicy{})
	_, err := c.CreateStack(t.Context(), "acme", "web", "dev")
	require.ErrorIs(t, err, ErrConflict)
	assert.ErrorContains(t, err, "already exists")
}

func TestDeleteStack(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		force bool
		uri   string
	}{
		{"plain", false, "/api/stacks/acme/web/prod"},
		{"forced", true, "/api/stacks/acme/web/prod?force=true"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := &recordingServer{status: http.StatusNoContent}
			c, _ := newTestClient(t, srv, RetryPolicy{})
			require.NoError(t, c.DeleteStack(t.Context(), "acme", "web", "prod", tt.force))
			srv.assertOnly(t, http.MethodDelete, tt.uri, "")
		})
	}
}

func TestDeleteStackWithResources(t *testing.T) {
	t.Parallel()
	srv := &recordingServer{status: http.StatusBadRequest,
		body: `{"code":400,"message":"Bad Request: Stack still contains resources."}`}
	c, _ := newTestClient(t, srv, RetryPolicy{})
	err := c.DeleteStack(t.Context(), "acme", "web", "prod", false)
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusBadRequest, apiErr.StatusCode)
	assert.Contains(t, apiErr.Message, "still contains resources")
}

func TestEmptyPathSegmentSendsNothing(t *testing.T) {
	t.Parallel()
	srv := &recordingServer{status: http.StatusOK, body: `{}`}
	c, _ := newTestClient(t, srv, RetryPolicy{})
	_, err := c.GetStack(t.Context(), "acme", "", "prod")
	require.EqualError(t, err, "GET /api/stacks/acme//prod: empty name in path")
	assert.Zero(t, c.Stats().Requests)
}

// pagedStacks serves GET /api/user/stacks from pages keyed by the
// continuationToken asked for ("" for the first), and records each query.
type pagedStacks struct {
	mu      sync.Mutex
	pages   map[string]string
	queries []url.Values
}

func (p *pagedStacks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.queries = append(p.queries, r.URL.Query())
	p.mu.Unlock()
	if r.URL.Path != "/api/user/stacks" || r.Method != http.MethodGet {
		http.NotFound(w, r)
		return
	}
	body, ok := p.pages[r.URL.Query().Get("continuationToken")]
	if !ok {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"code":400,"message":"invalid continuationToken"}`)
		return
	}
	_, _ = io.WriteString(w, body)
}

func (p *pagedStacks) Queries() []url.Values {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]url.Values(nil), p.queries...)
}

func TestListStacksFollowsContinuationTokens(t *testing.T) {
	t.Parallel()
	srv := &pagedStacks{pages: map[string]string{
		"": `{"stacks":[{"id":"1","orgName":"acme","projectName":"api","stackName":"dev","lastUpdate":1767225600,
			"resourceCount":3,"links":{"self":"https://app.pulumi.com/acme/api/dev"}},
			{"id":"2","orgName":"acme","projectName":"api","stackName":"prod"}],"continuationToken":"t1"}`,
		"t1":    `{"stacks":[{"id":"3","orgName":"acme","projectName":"web","stackName":"dev"}],"continuationToken":"t 2/+"}`,
		"t 2/+": `{"stacks":[{"id":"4","orgName":"acme","projectName":"web","stackName":"prod"}]}`,
	}}
	c, _ := newTestClient(t, srv, RetryPolicy{})
	got, err := c.ListStacks(t.Context(), StackFilter{Organization: "acme", TagName: "env", TagValue: "a b&c"})
	require.NoError(t, err)
	assert.Equal(t, []StackSummary{
		{ID: "1", OrgName: "acme", ProjectName: "api", StackName: "dev", LastUpdate: 1767225600, ResourceCount: 3},
		{ID: "2", OrgName: "acme", ProjectName: "api", StackName: "prod"},
		{ID: "3", OrgName: "acme", ProjectName: "web", StackName: "dev"},
		{ID: "4", OrgName: "acme", ProjectName: "web", StackName: "prod"},
	}, got)
	filters := url.Values{"organization": {"acme"}, "tagName": {"env"}, "tagValue": {"a b&c"}}
	withToken := func(tok string) url.Values {
		q := url.Values{"continuationToken": {tok}}
		for k, v := range filters {
			q[k] = v
		}
		return q
	}
	assert.Equal(t, []url.Values{filters, withToken("t1"), withToken("t 2/+")}, srv.Queries(),
		"every page repeats the filters; the token is escaped")
}

func TestListStacksEmptyAndUnfiltered(t *testing.T) {
	t.Parallel()
	srv := &recordingServer{status: http.StatusOK, body: `{"stacks":[]}`}
	c, _ := newTestClient(t, srv, RetryPolicy{})
	got, err := c.ListStacks(t.Context(), StackFilter{})
	require.NoError(t, err)
	assert.NotNil(t, got)
	assert.Empty(t, got)
	req := srv.only(t)
	assert.Equal(t, "/api/user/stacks", req.RequestURI, "no empty query parameters")
	assertStandardHeaders(t, req.Header)
}

func TestListStacksStopsOnARepeatedToken(t *testing.T) {
	t.Parallel()
	srv := &pagedStacks{pages: map[string]string{
		"":  `{"stacks":[{"id":"1","orgName":"o","projectName":"p","stackName":"a"}],"continuationToken":"x"}`,
		"x": `{"stacks":[{"id":"2","orgName":"o","projectName":"p","stackName":"b"}],"continuationToken":"y"}`,
		"y": `{"stacks":[{"id":"3","orgName":"o","projectName":"p","stackName":"c"}],"continuationToken":"x"}`,
	}}
	c, _ := newTestClient(t, srv, RetryPolicy{})
	got, err := c.ListStacks(t.Context(), StackFilter{})
	assert.EqualError(t, err, "GET /api/user/stacks: page 3 repeats an earlier continuationToken; "+
		"the server would list the same stacks forever")
	assert.Nil(t, got)
	assert.Len(t, srv.Queries(), 3)
}

func TestListStacksErrorOnALaterPage(t *testing.T) {
	t.Parallel()
	srv := &pagedStacks{pages: map[string]string{
		"": `{"stacks":[{"id":"1","orgName":"o","projectName":"p","stackName":"a"}],"continuationToken":"gone"}`,
	}}
	c, _ := newTestClient(t, srv, RetryPolicy{})
	got, err := c.ListStacks(t.Context(), StackFilter{})
	assert.EqualError(t, err, "GET /api/user/stacks: 400 Bad Request: invalid continuationToken")
	assert.Nil(t, got, "no partial list")
}

func TestListStacksRetriesAPage(t *testing.T) {
	t.Parallel()
	f := &flaky{statuses: []int{503}, body: `{"stacks":[{"id":"1","orgName":"o","projectName":"p","stackName":"a"}]}`}
	c, _ := newTestClient(t, f, RetryPolicy{})
	got, err := c.ListStacks(t.Context(), StackFilter{})
	require.NoError(t, err)
	assert.Len(t, got, 1)
	assert.Equal(t, ClientStats{Requests: 2, Retries: 1}, c.Stats())
}

func TestListStacksTagValueNeedsTagName(t *testing.T) {
	t.Parallel()
	srv := &recordingServer{status: http.StatusOK, body: `{"stacks":[]}`}
	c, _ := newTestClient(t, srv, RetryPolicy{})
	_, err := c.ListStacks(t.Context(), StackFilter{TagValue: "prod"})
	assert.EqualError(t, err, "cloud: listing stacks: a tag value filter needs a tag name")
	assert.Zero(t, c.Stats().Requests, "refused before sending")
}
