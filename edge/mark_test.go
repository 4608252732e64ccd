package edge

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
)

func TestMarkName(t *testing.T) {
	const owner = "urn:pulumi:dev::p::auto-deploy:index:DeploymentGraph::g"
	assert.Len(t, MarkName("net/prod", owner), 32, "Pulumi Cloud takes names of 32 characters at most")
	assert.Regexp(t, `^[A-Za-z0-9_.-]+$`, MarkName("net/prod", owner))
	assert.NotEqual(t, MarkName("net/prod", owner), MarkName("net/dev", owner))
	assert.NotEqual(t, MarkName("net/prod", owner), MarkName("net/prod", owner+"2"),
		"each writer's mark is its own: another's removal of the same edge never takes it")
	// As docs/_index.md and docs/cloud-api.md show it.
	m := Mark("net/prod", owner)
	assert.Equal(t, "auto-deploy in-edge mark: net/prod deploys this stack (owner: "+owner+")", m.DisplayName)
	assert.Equal(t, "https://in-edge.auto-deploy.invalid/?from=net%2Fprod", m.PayloadURL)
	assert.Equal(t, "raw", m.Format)
	assert.False(t, m.Active)
}

// TestParseMark is the table of what is and is not a mark.
func TestParseMark(t *testing.T) {
	const owner = "urn:pulumi:dev::p::auto-deploy:index:AutoDeployer::a"
	with := func(f func(*cloud.Webhook)) cloud.Webhook {
		h := Mark("net/prod", owner)
		f(&h)
		return h
	}
	cases := []struct {
		name   string
		hook   cloud.Webhook
		source string
		ok     bool
	}{
		{"mark", Mark("net/prod", owner), "net/prod", true},
		{"mark of a source with dots and dashes", Mark("my.net/prod-eu_1", owner), "my.net/prod-eu_1", true},
		{"switched on by hand is no mark", with(func(h *cloud.Webhook) { h.Active = true }), "", false},
		{"another name", with(func(h *cloud.Webhook) { h.Name = "a1b2c3d4" }), "", false},
		{"another host", with(func(h *cloud.Webhook) {
			h.PayloadURL = "https://example.com/?from=net%2Fprod"
		}), "", false},
		{"no source", with(func(h *cloud.Webhook) { h.PayloadURL = "https://in-edge.auto-deploy.invalid/" }), "", false},
		{"an edge", Desired("net/prod", Form{}, false), "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			source, ok := ParseMark(c.hook)
			assert.Equal(t, c.ok, ok)
			assert.Equal(t, c.source, source)
		})
	}
}
