package emulator

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Webhook formats.
const (
	FormatRaw               = "raw"
	FormatSlack             = "slack"
	FormatMSTeams           = "ms_teams"
	FormatPulumiDeployments = "pulumi_deployments"
)

var (
	webhookNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,32}$`)
	identRE       = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,100}$`)
)

// groupEvents lists, by the group that also selects them, every event the service accepts as a filter.
var groupEvents = map[string][]string{
	"stacks": {
		"stack_created", "stack_deleted", "update_succeeded", "update_failed", "preview_succeeded",
		"preview_failed", "destroy_succeeded", "destroy_failed", "refresh_succeeded", "refresh_failed",
		"import_succeeded", "import_failed",
	},
	"deployments": {
		"deployment_queued", "deployment_started", "deployment_succeeded", "deployment_failed",
		"drift_detected", "drift_detection_succeeded", "drift_detection_failed",
		"drift_remediation_succeeded", "drift_remediation_failed", "deployment_file_ingestion_failed",
	},
	"environments": {
		"environment_created", "environment_deleted", "environment_revision_created",
		"environment_revision_retracted", "environment_revision_tag_created", "environment_revision_tag_deleted",
		"environment_revision_tag_updated", "environment_tag_created", "environment_tag_deleted",
		"environment_tag_updated", "imported_environment_changed", "environment_rotation_succeeded",
		"environment_rotation_failed",
	},
	"policies": {"policy_violation_mandatory", "policy_violation_advisory"},
	"change_requests": {
		"change_request_created", "change_request_updated", "change_request_approved",
		"change_request_unapproved", "change_request_closed", "change_request_applied",
		"change_request_submitted",
	},
}

// eventGroups maps each event to its group.
var eventGroups = func() map[string]string {
	m := map[string]string{}
	for g, events := range groupEvents {
		for _, e := range events {
			m[e] = g
		}
	}
	return m
}()

// orgOnlyEvents are about things no single stack or environment owns.
var orgOnlyEvents = map[string]bool{
	"stack_created": true, "stack_deleted": true,
	"environment_created": true, "environment_deleted": true,
}

// orgOnlyGroups are groups only organization webhooks may use.
var orgOnlyGroups = map[string]bool{"change_requests": true}

func eventOrgOnly(event string) bool {
	return orgOnlyEvents[event] || orgOnlyGroups[eventGroups[event]]
}

// webhookRequest is a create or update body. Pointers tell an absent key from a zero value, which PATCH
// needs and which the required "active" flag needs on create.
type webhookRequest struct {
	OrganizationName *string   `json:"organizationName"`
	ProjectName      *string   `json:"projectName"`
	StackName        *string   `json:"stackName"`
	EnvName          *string   `json:"envName"`
	Name             *string   `json:"name"`
	DisplayName      *string   `json:"displayName"`
	PayloadURL       *string   `json:"payloadUrl"`
	Active           *bool     `json:"active"`
	Format           *string   `json:"format"`
	Filters          *[]string `json:"filters"`
	Groups           *[]string `json:"groups"`
	Secret           *string   `json:"secret"`
}

// checkScopeFields compares the body's scope fields with the URL. On create they are required; on update
// an absent one is taken from the URL. A field of another scope is refused when non-empty, since it means
// the client is talking to the wrong collection.
func checkScopeFields(sc Scope, req *webhookRequest, create bool) error {
	fields := []struct {
		key  string
		got  *string
		want string
		used bool
	}{
		{"organizationName", req.OrganizationName, sc.Org, true},
		{"projectName", req.ProjectName, sc.Project, sc.Type != ScopeOrganization},
		{"stackName", req.StackName, sc.Stack, sc.Type == ScopeStack},
		{"envName", req.EnvName, sc.Env, sc.Type == ScopeEnvironment},
	}
	for _, f := range fields {
		switch {
		case !f.used:
			if f.got != nil && *f.got != "" {
				return errorf(http.StatusBadRequest, "%s must not be set on a%s webhook", f.key, article(sc.Type))
			}
		case f.got == nil && create:
			return errorf(http.StatusBadRequest, "%s is required", f.key)
		case f.got != nil && *f.got != f.want:
			return errorf(http.StatusBadRequest, "%s %q does not match %q in the URL", f.key, *f.got, f.want)
		}
	}
	return nil
}

func article(scopeType string) string {
	if scopeType == ScopeOrganization || scopeType == ScopeEnvironment {
		return "n " + scopeType
	}
	return " " + scopeType
}

func validateWebhookName(name string) error {
	if !webhookNameRE.MatchString(name) || dotsOnly(name) {
		return errorf(http.StatusBadRequest,
			"name %q is invalid: use 1 to 32 letters, digits, '-', '_' or '.', not only dots", name)
	}
	return nil
}

// dotsOnly catches "." and "..": they pass the character rule, but no URL can address an
// object so named, since routers resolve them against the path.
func dotsOnly(name string) bool { return strings.Trim(name, ".") == "" }

// validateHook checks a webhook as it would be stored, after defaults and (on update) the merge.
func validateHook(h *hook) error {
	if strings.TrimSpace(h.displayName) == "" {
		return errorf(http.StatusBadRequest, "displayName is required and must not be empty")
	}
	if h.payloadURL == "" {
		return errorf(http.StatusBadRequest, "payloadUrl is required and must not be empty")
	}
	switch h.format {
	case FormatRaw, FormatSlack, FormatMSTeams:
		if u, err := url.Parse(h.payloadURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return errorf(http.StatusBadRequest, "payloadUrl %q must be an http or https URL for the %s format",
				h.payloadURL, h.format)
		}
	case FormatPulumiDeployments:
		if h.scope.Type == ScopeOrganization {
			return errorf(http.StatusBadRequest,
				"'pulumi_deployments' format can only be used on stack or environment webhooks")
		}
		project, stackName, ok := strings.Cut(h.payloadURL, "/")
		if !ok || !identRE.MatchString(project) || !identRE.MatchString(stackName) {
			return errorf(http.StatusBadRequest,
				"payloadUrl %q must name a stack as '{project}/{stack}' for the pulumi_deployments format", h.payloadURL)
		}
	default:
		return errorf(http.StatusBadRequest,
			"format %q is invalid: use raw, slack, ms_teams or pulumi_deployments", h.format)
	}
	org := h.scope.Type == ScopeOrganization
	for _, f := range h.filters {
		if _, known := eventGroups[f]; !known {
			return errorf(http.StatusBadRequest, "filters: unknown event %q", f)
		}
		if eventOrgOnly(f) && !org {
			return errorf(http.StatusBadRequest, "filters: %q can only be used on organization webhooks", f)
		}
	}
	for _, g := range h.groups {
		if groupEvents[g] == nil {
			return errorf(http.StatusBadRequest,
				"groups: unknown group %q: use stacks, deployments, environments, policies or change_requests", g)
		}
		if orgOnlyGroups[g] && !org {
			return errorf(http.StatusBadRequest, "groups: %q can only be used on organization webhooks", g)
		}
	}
	return nil
}

// normalizeSet dedupes and sorts: the service treats filters and groups as sets and does not keep the
// order it was sent, so clients must not rely on it.
func normalizeSet(in []string) []string {
	out := slices.Clone(in)
	slices.Sort(out)
	return slices.Compact(out)
}

func validateIdent(what, v string) error {
	if !identRE.MatchString(v) || dotsOnly(v) {
		return errorf(http.StatusBadRequest,
			"%s %q is invalid: use 1 to 100 letters, digits, '-', '_' or '.', not only dots", what, v)
	}
	return nil
}
