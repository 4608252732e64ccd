package emulator

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStackReferences(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	seedStacks(t, h.srv, "acme", "net", "prod")
	seedStacks(t, h.srv, "acme", "app", "api", "web")
	require.NoError(t, h.srv.CreateStack("other", "net", "prod"))
	_, err := h.srv.FireUpdate("acme", "net", "prod")
	require.NoError(t, err)

	refs := func(stack, dir string) []StackReference {
		t.Helper()
		return must[referencesWire](t, h.call(http.MethodGet, "/api/stacks/"+stack+"/"+dir+"streamreferences", nil), http.StatusOK).ReferencedStacks
	}
	raw := h.call(http.MethodGet, "/api/stacks/acme/net/prod/downstreamreferences", nil)
	assert.JSONEq(t, `{"referencedStacks":[]}`, string(raw.body), "an empty list, not null")

	// web reads net/prod (at version 1) through the Go API, api through the admin route.
	require.NoError(t, h.srv.AddStackReference("acme", "app", "web", "net", "prod"))
	r := h.send(http.MethodPost, "/_emulator/stacks/acme/app/api/references", map[string]string{"upstream": "net/prod"}, nil)
	require.Equal(t, http.StatusNoContent, r.status, "body: %s", r.body)
	require.NoError(t, h.srv.AddStackReference("acme", "app", "web", "app", "api"))

	assert.Equal(t, []StackReference{
		{Org: "acme", Project: "app", Stack: "api", Version: 0},
		{Org: "acme", Project: "app", Stack: "web", Version: 0},
	}, refs("acme/net/prod", "down"))
	assert.Equal(t, []StackReference{
		{Org: "acme", Project: "app", Stack: "api", Version: 0},
		{Org: "acme", Project: "net", Stack: "prod", Version: 1},
	}, refs("acme/app/web", "up"))
	assert.Empty(t, refs("acme/net/prod", "up"))
	assert.Empty(t, refs("other/net/prod", "down"), "references stay within their organization")

	// The wire spells the fields as the API does.
	var wire map[string][]map[string]any
	require.NoError(t, json.Unmarshal(h.call(http.MethodGet, "/api/stacks/acme/app/api/upstreamreferences", nil).body, &wire))
	assert.Equal(t, []map[string]any{{"organization": "acme", "routingProject": "net", "name": "prod", "version": float64(1)}},
		wire["referencedStacks"])

	// Recording again refreshes the versions.
	_, err = h.srv.FireUpdate("acme", "net", "prod")
	require.NoError(t, err)
	_, err = h.srv.FireUpdate("acme", "app", "web")
	require.NoError(t, err)
	require.NoError(t, h.srv.AddStackReference("acme", "app", "web", "net", "prod"))
	assert.Contains(t, refs("acme/app/web", "up"), StackReference{Org: "acme", Project: "net", Stack: "prod", Version: 2})
	assert.Contains(t, refs("acme/net/prod", "down"), StackReference{Org: "acme", Project: "app", Stack: "web", Version: 1})

	// Removing, through both ways in.
	require.NoError(t, h.srv.RemoveStackReference("acme", "app", "web", "app", "api"))
	assert.Equal(t, http.StatusNoContent, h.send(http.MethodDelete, "/_emulator/stacks/acme/app/api/references/net/prod", nil, nil).status)
	assert.Equal(t, []StackReference{{Org: "acme", Project: "app", Stack: "web", Version: 1}}, refs("acme/net/prod", "down"))
	assert.Equal(t, http.StatusNotFound, h.send(http.MethodDelete, "/_emulator/stacks/acme/app/api/references/net/prod", nil, nil).status)

	// Refusals.
	var e *Error
	require.ErrorAs(t, h.srv.AddStackReference("acme", "app", "web", "app", "web"), &e)
	assert.Equal(t, http.StatusBadRequest, e.Code)
	require.ErrorAs(t, h.srv.AddStackReference("acme", "app", "web", "net", "nope"), &e)
	assert.Equal(t, http.StatusNotFound, e.Code)
	for _, body := range []string{`{}`, `{"upstream":"prod"}`, `{"upstream":"a/b/c"}`} {
		assert.Equal(t, http.StatusBadRequest, h.send(http.MethodPost, "/_emulator/stacks/acme/app/api/references", body, nil).status, body)
	}
	for _, dir := range []string{"down", "up"} {
		mustError(t, h.call(http.MethodGet, "/api/stacks/acme/app/nope/"+dir+"streamreferences", nil), http.StatusNotFound)
	}

	// Deleting a stack drops the references to it and from it.
	require.NoError(t, h.srv.AddStackReference("acme", "net", "prod", "app", "api"))
	require.Equal(t, http.StatusNoContent, h.call(http.MethodDelete, "/api/stacks/acme/app/web", nil).status)
	assert.Empty(t, refs("acme/net/prod", "down"))
	require.Equal(t, http.StatusNoContent, h.call(http.MethodDelete, "/api/stacks/acme/app/api", nil).status)
	assert.Empty(t, refs("acme/net/prod", "up"))
}
