package provider

// Relay mode: a DeploymentGraph whose edges go through the cascade relay. Each edge u → d
// is then a signed raw webhook on u that tells the relay of u's successful updates, with d
// named in the URL, under the very name a pulumi_deployments edge to d has: switching a
// graph into or out of relay mode is one PATCH per edge, and no moment leaves an edge
// missing or doubled. The relay reads the graph from these webhooks (see docs/relay.md),
// so it needs no configuration per graph.

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"
	"github.com/pulumi/pulumi/sdk/v3/go/property"

	"github.com/autodeploy-dev/pulumi-auto-deploy/edge"
)

// RelaySpec sends a graph's deployments through a cascade relay.
type RelaySpec struct {
	URL    string `pulumi:"url"`
	Secret string `pulumi:"secret" provider:"secret"`
}

// Annotate describes the relay input.
func (r *RelaySpec) Annotate(a infer.Annotator) {
	a.Describe(&r.URL, "The relay's base URL, as Pulumi Cloud reaches it: `https://relay.example.com` (a path "+
		"prefix is kept). Each edge's webhook delivers to `<url>/v1/hooks?target=<project>/<stack>`. Plain "+
		"`http://` only for a loopback address.")
	a.Describe(&r.Secret, "The HMAC key the relay checks every delivery against (its `AUTO_DEPLOY_RELAY_SECRET`). "+
		"Changing it updates every edge's webhook in place.")
}

// validateRelay checks the relay input at preview, naming the field.
func validateRelay(r RelaySpec, unknownURL, unknownSecret bool) []error {
	var errs []error
	if !unknownURL {
		u, err := url.Parse(r.URL)
		switch {
		case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
			errs = append(errs, fmt.Errorf("relay.url %q is not an http(s) URL: give the relay's base URL as Pulumi "+
				"Cloud reaches it, such as \"https://relay.example.com\"", truncate(r.URL)))
		case !strings.HasPrefix(r.URL, u.Scheme+":"):
			errs = append(errs, fmt.Errorf("relay.url %q has its scheme in capitals: write it in lower case",
				truncate(r.URL)))
		case u.Scheme == "http" && !isLoopbackHost(u.Hostname()):
			errs = append(errs, fmt.Errorf("relay.url %q uses plain http:// to a remote host, so every delivery "+
				"would cross the network unencrypted: use https:// (http:// only for a relay on this machine)",
				truncate(r.URL)))
		case u.RawQuery != "" || u.Fragment != "":
			errs = append(errs, fmt.Errorf("relay.url %q has a query or fragment: give the base URL only; the "+
				"provider appends %s?target=… to it", truncate(r.URL), edge.HooksPath))
		}
	}
	if !unknownSecret && strings.TrimSpace(r.Secret) == "" {
		errs = append(errs, fmt.Errorf("relay.secret must not be empty: it is the HMAC key the relay checks "+
			"every delivery against (its AUTO_DEPLOY_RELAY_SECRET)"))
	}
	return errs
}

// validateAlwaysDeploy checks alwaysDeploy at preview, naming the element: each a
// project/stack, listed once, of a graph that goes through a relay. Elements still
// unknown are checked once known.
func validateAlwaysDeploy(args DeploymentGraphArgs, inputs property.Map) []error {
	var errs []error
	raw := inputs.Get("alwaysDeploy")
	seen := map[string]int{}
	for i, ref := range args.AlwaysDeploy {
		if raw.IsArray() && i < raw.AsArray().Len() && raw.AsArray().Get(i).HasComputed() {
			continue
		}
		element := fmt.Sprintf("alwaysDeploy[%d]", i)
		if _, _, err := parseStackRef(element, ref); err != nil {
			errs = append(errs, err)
			continue
		}
		if first, dup := seen[ref]; dup {
			errs = append(errs, fmt.Errorf("%s %q repeats alwaysDeploy[%d]: list each stack once", element, ref, first))
		}
		seen[ref] = i
	}
	if len(args.AlwaysDeploy) > 0 && args.Relay == nil && !inputs.Get("relay").HasComputed() {
		errs = append(errs, fmt.Errorf("alwaysDeploy only means something through a relay: without relay each edge "+
			"is a pulumi_deployments webhook, which deploys its target after every update of its upstream already; "+
			"set relay, or remove alwaysDeploy"))
	}
	return errs
}

// warnIdleAlwaysDeploy warns about each stack alwaysDeploy names that no edge of the graph
// deploys, so that nothing carries it: a typo, or a stack whose references are not read yet.
func warnIdleAlwaysDeploy(ctx context.Context, args DeploymentGraphArgs, edges map[string][]string) {
	if args.Relay == nil {
		return // refused by Check
	}
	targets := map[string]bool{}
	for _, ds := range edges {
		for _, d := range ds {
			targets[d] = true
		}
	}
	for i, ref := range args.AlwaysDeploy {
		if ref != "" && !targets[ref] {
			p.GetLogger(ctx).Warningf("alwaysDeploy[%d] %q is no edge's target in this graph, so no relay edge "+
				"carries it and it changes nothing: check the name, or add an edge to it", i, ref)
		}
	}
}
