package provider

import (
	"strings"
	"testing"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
)

// `make fuzz` runs each of these for a bounded time; plain `go test` runs the seeds.

func FuzzParseStackRef(f *testing.F) {
	for _, seed := range []string{"database/prod", "a/b/c", "/", "", "p/", "x/y z", strings.Repeat("a", 101) + "/b"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		project, stack, err := parseStackRef("ref", ref)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "ref ") {
				t.Fatalf("error does not name the field: %v", err)
			}
			return
		}
		if project+"/"+stack != ref {
			t.Fatalf("%q parsed as %q/%q", ref, project, stack)
		}
		if validateCloudName("p", project) != nil || validateCloudName("s", stack) != nil {
			t.Fatalf("%q accepted with invalid names", ref)
		}
	})
}

func FuzzValidatePayloadURL(f *testing.F) {
	for _, seed := range []string{"https://x.example/h", "database/prod", "http://", "ftp://a", "a/b", "https://[::1]:80/x"} {
		f.Add(seed, true)
		f.Add(seed, false)
	}
	f.Fuzz(func(t *testing.T, payloadURL string, deployments bool) {
		format := WebhookFormatRaw
		if deployments {
			format = WebhookFormatPulumiDeployments
		}
		err := validatePayloadURL(format, payloadURL)
		if err == nil && deployments {
			if _, _, refErr := parseStackRef("payloadUrl", payloadURL); refErr != nil {
				t.Fatalf("deployment target %q accepted but is not a stack ref", payloadURL)
			}
		}
		if err == nil && !deployments && !strings.HasPrefix(payloadURL, "http") {
			t.Fatalf("%q accepted as an http(s) URL", payloadURL)
		}
	})
}

func FuzzWebhookID(f *testing.F) {
	f.Add("org", "network", "prod", "", "a1b2c3d4")
	f.Add("org", "shared", "", "dev", "x")
	f.Add("org", "", "", "", "name")
	f.Add("o", "environment", "prod", "", "n")
	f.Fuzz(func(t *testing.T, org, project, stack, env, name string) {
		// Round trip: every ID this provider writes for a valid scope parses back to it.
		scope := cloud.WebhookScope{Organization: org, Project: project, Stack: stack, Environment: env}
		valid := validateCloudName("o", org) == nil && validateCloudName("n", name) == nil &&
			(stack == "") != (env == "") == (project != "") && (stack == "" || env == "")
		for _, part := range []string{project, stack, env} {
			if part != "" && validateCloudName("p", part) != nil {
				valid = false
			}
		}
		if !valid {
			// Anything else must be refused or parse without panicking.
			_, _, _ = parseWebhookID(org + "/" + project + "/" + stack + "/" + env + "/" + name)
			return
		}
		id := formatWebhookID(scope, name)
		gotScope, gotName, err := parseWebhookID(id)
		if err != nil || gotScope != scope || gotName != name {
			t.Fatalf("%+v %q → %q → %+v %q %v", scope, name, id, gotScope, gotName, err)
		}
	})
}
