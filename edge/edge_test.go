package edge

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
)

func TestName(t *testing.T) {
	// Pinned: the provider wrote webhooks under these names before this package existed.
	assert.Equal(t, "autodeploy-da8747bbaad1892b", Name("infra/prod"))
	assert.Len(t, Name("p/s"), len("autodeploy-")+16)
	assert.NotEqual(t, Name("p/a"), Name("p/b"))
}

func TestPayloadURL(t *testing.T) {
	assert.Equal(t, "infra/prod", Form{}.PayloadURL("infra/prod"))
	assert.Equal(t, "https://relay.example.com/v1/hooks?target=infra%2Fprod",
		Form{RelayURL: "https://relay.example.com/"}.PayloadURL("infra/prod"))
	assert.Equal(t, "https://example.com/relay/v1/hooks?target=infra%2Fprod&alwaysDeploy=true",
		Form{RelayURL: "https://example.com/relay", AlwaysDeploy: true}.PayloadURL("infra/prod"))
}

// TestParse is the one table of what is and is not an edge, for the provider and the relay alike.
func TestParse(t *testing.T) {
	const target = "infra/prod"
	relay := Form{RelayURL: "https://relay.example.com"}
	always := Form{RelayURL: "https://relay.example.com", AlwaysDeploy: true}
	with := func(f func(*cloud.Webhook)) cloud.Webhook {
		h := Desired(target, relay, true)
		f(&h)
		return h
	}
	cases := []struct {
		name string
		hook cloud.Webhook
		want Edge
		ok   bool
	}{
		{"direct edge", Desired(target, Form{}, true),
			Edge{Target: target, Active: true, Delivers: true}, true},
		{"paused direct edge", Desired(target, Form{}, false), Edge{Target: target}, true},
		{"relay edge", Desired(target, relay, true),
			Edge{Target: target, Relayed: true, Active: true, Delivers: true}, true},
		{"relay edge that always deploys", Desired(target, always, true),
			Edge{Target: target, Relayed: true, AlwaysDeploy: true, Active: true, Delivers: true}, true},
		{"paused relay edge", Desired(target, relay, false), Edge{Target: target, Relayed: true}, true},
		{"relay behind a proxy prefix, plain http", with(func(h *cloud.Webhook) {
			h.PayloadURL = "http://127.0.0.1:8080/relay/v1/hooks?target=infra%2Fprod"
		}), Edge{Target: target, Relayed: true, Active: true, Delivers: true}, true},
		{"format left empty reads as raw", with(func(h *cloud.Webhook) { h.Format = "" }),
			Edge{Target: target, Relayed: true, Active: true, Delivers: true}, true},
		{"no filters delivers every event", with(func(h *cloud.Webhook) { h.Filters = nil }),
			Edge{Target: target, Relayed: true, Active: true, Delivers: true}, true},
		{"filters without update_succeeded deliver nothing the relay acts on",
			with(func(h *cloud.Webhook) { h.Filters = []string{"update_failed"} }),
			Edge{Target: target, Relayed: true, Active: true}, true},
		{"alwaysDeploy other than true", with(func(h *cloud.Webhook) { h.PayloadURL += "&alwaysDeploy=1" }),
			Edge{Target: target, Relayed: true, Active: true, Delivers: true}, true},

		{"named after another stack", with(func(h *cloud.Webhook) { h.Name = Name("infra/dev") }), Edge{}, false},
		{"service-generated name", with(func(h *cloud.Webhook) { h.Name = "a1b2c3d4" }), Edge{}, false},
		{"direct named after another stack", func() cloud.Webhook {
			h := Desired(target, Form{}, true)
			h.Name = Name("infra/dev")
			return h
		}(), Edge{}, false},
		{"slack", with(func(h *cloud.Webhook) { h.Format = "slack" }), Edge{}, false},
		{"raw webhook elsewhere", with(func(h *cloud.Webhook) {
			h.PayloadURL = "https://relay.example.com/hooks?target=infra%2Fprod"
		}), Edge{}, false},
		{"not http", with(func(h *cloud.Webhook) {
			h.PayloadURL = "ftp://relay.example.com/v1/hooks?target=infra%2Fprod"
		}), Edge{}, false},
		{"no target", with(func(h *cloud.Webhook) { h.PayloadURL = "https://relay.example.com/v1/hooks" }),
			Edge{}, false},
		{"invalid target", with(func(h *cloud.Webhook) {
			h.PayloadURL = "https://relay.example.com/v1/hooks?target=infra%2Fprod%2Fx"
			h.Name = Name("infra/prod/x")
		}), Edge{}, false},
		{"direct to an invalid stack", cloud.Webhook{Name: Name("nope"), PayloadURL: "nope", Format: FormatDirect,
			Active: true}, Edge{}, false},
		{"in-edge mark", Mark(target, "urn:pulumi:dev::p::auto-deploy:index:AutoDeployer::a"), Edge{}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := Parse(c.hook)
			assert.Equal(t, c.ok, ok)
			assert.Equal(t, c.want, got)
		})
	}
}

func TestSplitRef(t *testing.T) {
	for ref, ok := range map[string]bool{"p/s": true, "a.b/c_d-e": true, "p": false, "p/": false, "/s": false,
		"p/s/x": false, "p p/s": false} {
		_, _, got := SplitRef(ref)
		assert.Equal(t, ok, got, ref)
	}
}
