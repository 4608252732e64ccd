package cloud

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGetStack(t *testing.T) {
	t.Parallel()
	srv := &recordingServer{status: http.StatusOK, body: `{"id":"s-1","orgName":"acme","projectName":"web",
		"stackName":"prod","version":7,"activeUpdate":"u-9","tags":{"pulumi:project":"web"},"currentOperation":{}}`}
	c, _ := newTestClient(t, srv, RetryPolicy{})

	got, err := c.GetStack(t.Context(), "acme", "web", "prod")
	require.NoError(t, err)
	assert.Equal(t, Stack{ID: "s-1", OrgName: "acme", ProjectName: "web", StackName: "prod", Version: 7,
		ActiveUpdate: "u-9", Tags: map[string]string{"pulumi:project": "web"}}, got)

	req := srv.only(t)
	assert.Equal(t, http.MethodGet, req.Method)
	assert.Equal(t, "/api/stacks/acme/web/prod", req.RequestURI)
	assertStandardHeaders(t, req.Header)
	assert.Empty(t, req.Body)
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

	req := srv.only(t)
	assert.Equal(t, http.MethodPost, req.Method)
	assert.Equal(t, "/api/stacks/acme/web", req.RequestURI)
	assertStandardHeaders(t, req.Header)
	assert.JSONEq(t, `{"stackName":"dev"}`, req.Body)
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
			req := srv.only(t)
			assert.Equal(t, http.MethodDelete, req.Method)
			assert.Equal(t, tt.uri, req.RequestURI)
			assertStandardHeaders(t, req.Header)
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
