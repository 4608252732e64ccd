package provider

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
)

// Pulumi Cloud names (organizations, projects, stacks, environments) share one rule;
// the service refuses anything else, so Check refuses it first, at preview time.
var cloudNamePattern = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

const maxCloudNameLength = 100

const nameRule = `use 1-100 characters: letters, digits, "-", "_" or "."`

// validateCloudName returns an error naming the field when value breaks the naming rule.
func validateCloudName(field, value string) error {
	switch {
	case value == "":
		return fmt.Errorf("%s must not be empty: %s", field, nameRule)
	case len(value) > maxCloudNameLength:
		return fmt.Errorf("%s %q is %d characters long: %s", field, truncate(value), len(value), nameRule)
	case !cloudNamePattern.MatchString(value):
		return fmt.Errorf("%s %q is not a valid name: %s", field, truncate(value), nameRule)
	case strings.Trim(value, ".") == "":
		// "." and ".." pass the character rule but name the parent in a URL path.
		return fmt.Errorf("%s %q is not a valid name: it needs a letter, digit, `-` or `_`", field, value)
	}
	return nil
}

// parseStackRef splits a "project/stack" reference, the form a pulumi_deployments
// webhook uses for its target and an AutoDeployer uses for its downstream refs.
func parseStackRef(field, ref string) (project, stack string, err error) {
	project, stack, ok := splitStackRef(ref)
	if !ok {
		return "", "", fmt.Errorf("%s %q is not a stack reference: use the form \"project/stack\" "+
			"(for example \"database/prod\"), a stack in the same organization", field, truncate(ref))
	}
	if err := validateCloudName(field+" project", project); err != nil {
		return "", "", err
	}
	if err := validateCloudName(field+" stack", stack); err != nil {
		return "", "", err
	}
	return project, stack, nil
}

// splitStackRef splits "project/stack" at its one slash; ok is false for any other shape.
func splitStackRef(ref string) (project, stack string, ok bool) {
	project, stack, ok = strings.Cut(ref, "/")
	return project, stack, ok && !strings.Contains(stack, "/")
}

// validatePayloadURL checks a webhook destination against its format: a stack reference
// for pulumi_deployments, an absolute http(s) URL for everything else.
func validatePayloadURL(format WebhookFormat, payloadURL string) error {
	if format == WebhookFormatPulumiDeployments {
		_, _, err := parseStackRef("payloadUrl", payloadURL)
		if err != nil {
			return fmt.Errorf("%w; a pulumi_deployments webhook deploys that stack instead of calling a URL", err)
		}
		return nil
	}
	u, err := url.Parse(payloadURL)
	// url.Parse lowercases the scheme; the payload URL is sent as written, so "HTTPS://…" is
	// refused rather than passed to a service that may not take it, and the message says so.
	web := err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
	if web && !strings.HasPrefix(payloadURL, u.Scheme+":") {
		return fmt.Errorf("payloadUrl %q has its scheme in capitals: write it in lower case, %q, as Pulumi Cloud "+
			"sends the URL as written", truncate(payloadURL), u.Scheme+payloadURL[len(u.Scheme):])
	}
	if !web {
		return fmt.Errorf("payloadUrl %q is not an http(s) URL: a %s webhook posts to an absolute URL "+
			"such as \"https://hooks.example.com/pulumi\" (use format pulumi_deployments with "+
			"\"project/stack\" to deploy a stack)", truncate(payloadURL), format)
	}
	return nil
}

// maxQuotedBytes bounds a user's value quoted in an error message.
const maxQuotedBytes = 120

// truncate keeps error messages readable when a user pastes something huge.
func truncate(s string) string {
	return cloud.Truncate(s, maxQuotedBytes)
}
