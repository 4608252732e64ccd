// Package edge is the contract between the provider, which writes deployment edges as Pulumi Cloud
// webhooks, and the cascade relay, which reads them back as its graph. It is the only code the two
// share besides the Cloud client, so what counts as an edge is decided here once.
//
// An edge u → d is a webhook on stack u, named after d, that delivers u's successful updates in one of
// two forms:
//
//   - direct: format pulumi_deployments, payload URL "dproject/dstack": Pulumi Cloud itself starts a
//     deployment of d after each successful update of u;
//   - relay: format raw, payload URL "<relay>/v1/hooks?target=dproject%2Fdstack" (and
//     "&alwaysDeploy=true" when d is to deploy after every update of u, whether or not u's outputs
//     changed), signed with the relay's secret: the relay decides when d deploys.
//
// Both forms share the name, so switching an edge between them is one PATCH, and at most one edge
// can exist per source and target.
//
// The package also answers what a change of a stack would deploy through the relay, with the relay's
// rules (plan.go), from the graph and deployment times read from Pulumi Cloud (read.go): the relay's
// GET /v1/plan, its plan command and the provider's getCascadePlan all call ReadPlan.
package edge

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
)

// HooksPath is the route a relay receives deliveries on, and the path every relay edge's payload URL
// ends with (after any prefix a proxy adds).
const HooksPath = "/v1/hooks"

// Webhook formats an edge is written in.
const (
	FormatDirect = "pulumi_deployments"
	FormatRelay  = "raw"
)

// Filter is the one event an edge is written to deliver.
const Filter = "update_succeeded"

// Query parameters of a relay edge's payload URL.
const (
	targetParam = "target"
	alwaysParam = "alwaysDeploy"
)

// Name is the name of the webhook on a source stack that makes the edge to target ("project/stack"):
// "autodeploy-" and the first 16 hex digits of target's SHA-256.
func Name(target string) string {
	sum := sha256.Sum256([]byte(target))
	return "autodeploy-" + hex.EncodeToString(sum[:8])
}

// nameRE is the Pulumi SDK's rule for project and stack names.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,100}$`)

// ValidName reports whether s is a valid project or stack name: 1-100 letters, digits, '-', '_' or '.'.
func ValidName(s string) bool { return nameRE.MatchString(s) }

// SplitRef splits "project/stack", reporting whether it is exactly two valid names.
func SplitRef(ref string) (project, stack string, ok bool) {
	project, stack, ok = strings.Cut(ref, "/")
	return project, stack, ok && ValidName(project) && ValidName(stack)
}

// Form is how an edge is written: straight to Pulumi Deployments, or through a relay at RelayURL (its
// base URL: scheme, host and any path prefix).
type Form struct {
	RelayURL string
	// AlwaysDeploy (relay edges only) makes the target deploy after every update of the source, even
	// one that changed none of the source's outputs.
	AlwaysDeploy bool
}

// Relayed reports whether the form goes through a relay.
func (f Form) Relayed() bool { return f.RelayURL != "" }

// Format is the webhook format of the form.
func (f Form) Format() string {
	if f.Relayed() {
		return FormatRelay
	}
	return FormatDirect
}

// PayloadURL is the payload URL of the edge to target in this form.
func (f Form) PayloadURL(target string) string {
	if !f.Relayed() {
		return target
	}
	q := targetParam + "=" + url.QueryEscape(target)
	if f.AlwaysDeploy {
		q += "&" + alwaysParam + "=true"
	}
	return strings.TrimRight(f.RelayURL, "/") + HooksPath + "?" + q
}

// Edge is a webhook read back as an edge.
type Edge struct {
	// Target is the stack the edge deploys, "project/stack" in the source's organization.
	Target string
	// Relayed is true for a relay edge, false for a pulumi_deployments one.
	Relayed bool
	// AlwaysDeploy is a relay edge's request to deploy its target after every update of its source.
	AlwaysDeploy bool
	// Active is the webhook's active flag: an inactive edge is paused and delivers nothing.
	Active bool
	// Delivers is true when the webhook delivers the source's successful updates: active, and its
	// filters either empty (every event) or naming update_succeeded.
	Delivers bool
}

// Parse reads h as an edge: a webhook named Name(target) whose format and payload URL name target
// (a pulumi_deployments payload URL, or a raw delivery to a relay's hooks route, any host or prefix).
// Any other webhook (Slack, a hand-made pulumi_deployments webhook under another name, a raw
// webhook elsewhere) is not an edge.
func Parse(h cloud.Webhook) (Edge, bool) {
	var e Edge
	switch h.Format {
	case FormatDirect:
		e.Target = h.PayloadURL
	case FormatRelay, "":
		u, err := url.Parse(h.PayloadURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || !strings.HasSuffix(u.Path, HooksPath) {
			return Edge{}, false
		}
		q := u.Query()
		e.Target, e.Relayed = q.Get(targetParam), true
		e.AlwaysDeploy = q.Get(alwaysParam) == "true"
	default:
		return Edge{}, false
	}
	if _, _, ok := SplitRef(e.Target); !ok || h.Name != Name(e.Target) {
		return Edge{}, false
	}
	e.Active = h.Active
	e.Delivers = h.Active && (len(h.Filters) == 0 || slices.Contains(h.Filters, Filter))
	return e, true
}

// Desired is the webhook, less its owner-specific display name and its secret, that makes the edge to
// target in form f, active or paused.
func Desired(target string, f Form, active bool) cloud.Webhook {
	return cloud.Webhook{
		Name:       Name(target),
		PayloadURL: f.PayloadURL(target),
		Active:     active,
		Format:     f.Format(),
		Filters:    []string{Filter},
	}
}
