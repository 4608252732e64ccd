package provider

import (
	"github.com/pulumi/pulumi-go-provider/infer"
)

// WebhookFormat is the shape of the payload a webhook delivers.
type WebhookFormat string

// The webhook formats Pulumi Cloud supports.
const (
	WebhookFormatRaw               WebhookFormat = "raw"
	WebhookFormatSlack             WebhookFormat = "slack"
	WebhookFormatPulumiDeployments WebhookFormat = "pulumi_deployments"
	WebhookFormatMicrosoftTeams    WebhookFormat = "ms_teams"
)

// Values lists the formats for the schema; the names match pulumiservice's enum so
// ported programs keep compiling.
func (WebhookFormat) Values() []infer.EnumValue[WebhookFormat] {
	return []infer.EnumValue[WebhookFormat]{
		{Name: "Raw", Value: WebhookFormatRaw, Description: "The default webhook format: a JSON POST to payloadUrl."},
		{Name: "Slack", Value: WebhookFormatSlack,
			Description: "Messages formatted for consumption by Slack incoming webhooks."},
		{Name: "PulumiDeployments", Value: WebhookFormatPulumiDeployments,
			Description: "Start a Pulumi Deployment of the stack named by payloadUrl (\"project/stack\") " +
				"instead of calling a URL."},
		{Name: "MicrosoftTeams", Value: WebhookFormatMicrosoftTeams,
			Description: "Messages formatted for consumption by Microsoft Teams incoming webhooks."},
	}
}

// WebhookFilters is one event a webhook can subscribe to.
type WebhookFilters string

// WebhookGroup is a named set of events a webhook can subscribe to.
type WebhookGroup string

// webhookEvent describes one event: its schema name, what it means, and whether only
// organization webhooks may subscribe to it (the service answers 400 otherwise).
type webhookEvent struct {
	name, value, description string
	organizationOnly         bool
}

// webhookEvents is the single list behind the WebhookFilters enum and its validation. The
// first 32 are pulumiservice's enum; the rest are events the service also accepts.
var webhookEvents = []webhookEvent{
	{"StackCreated", "stack_created", "Trigger a webhook when a stack is created. Only valid for organization webhooks.", true},
	{"StackDeleted", "stack_deleted", "Trigger a webhook when a stack is deleted. Only valid for organization webhooks.", true},
	{"UpdateSucceeded", "update_succeeded", "Trigger a webhook when a stack update succeeds.", false},
	{"UpdateFailed", "update_failed", "Trigger a webhook when a stack update fails.", false},
	{"PreviewSucceeded", "preview_succeeded", "Trigger a webhook when a stack preview succeeds.", false},
	{"PreviewFailed", "preview_failed", "Trigger a webhook when a stack preview fails.", false},
	{"DestroySucceeded", "destroy_succeeded", "Trigger a webhook when a stack destroy succeeds.", false},
	{"DestroyFailed", "destroy_failed", "Trigger a webhook when a stack destroy fails.", false},
	{"RefreshSucceeded", "refresh_succeeded", "Trigger a webhook when a stack refresh succeeds.", false},
	{"RefreshFailed", "refresh_failed", "Trigger a webhook when a stack refresh fails.", false},
	{"DeploymentQueued", "deployment_queued", "Trigger a webhook when a deployment is queued.", false},
	{"DeploymentStarted", "deployment_started", "Trigger a webhook when a deployment starts running.", false},
	{"DeploymentSucceeded", "deployment_succeeded", "Trigger a webhook when a deployment succeeds.", false},
	{"DeploymentFailed", "deployment_failed", "Trigger a webhook when a deployment fails.", false},
	{"DriftDetected", "drift_detected", "Trigger a webhook when drift is detected.", false},
	{"DriftDetectionSucceeded", "drift_detection_succeeded",
		"Trigger a webhook when a drift detection run succeeds, whether or not drift is found.", false},
	{"DriftDetectionFailed", "drift_detection_failed", "Trigger a webhook when a drift detection run fails.", false},
	{"DriftRemediationSucceeded", "drift_remediation_succeeded",
		"Trigger a webhook when a drift remediation run succeeds.", false},
	{"DriftRemediationFailed", "drift_remediation_failed", "Trigger a webhook when a drift remediation run fails.", false},
	{"EnvironmentCreated", "environment_created",
		"Trigger a webhook when an environment is created. Only valid for organization webhooks.", true},
	{"EnvironmentDeleted", "environment_deleted",
		"Trigger a webhook when an environment is deleted. Only valid for organization webhooks.", true},
	{"EnvironmentRevisionCreated", "environment_revision_created",
		"Trigger a webhook when a new revision is created on an environment.", false},
	{"EnvironmentRevisionRetracted", "environment_revision_retracted",
		"Trigger a webhook when a revision is retracted on an environment.", false},
	{"EnvironmentRevisionTagCreated", "environment_revision_tag_created",
		"Trigger a webhook when a revision tag is created on an environment.", false},
	{"EnvironmentRevisionTagDeleted", "environment_revision_tag_deleted",
		"Trigger a webhook when a revision tag is deleted on an environment.", false},
	{"EnvironmentRevisionTagUpdated", "environment_revision_tag_updated",
		"Trigger a webhook when a revision tag is updated on an environment.", false},
	{"EnvironmentTagCreated", "environment_tag_created", "Trigger a webhook when an environment tag is created.", false},
	{"EnvironmentTagDeleted", "environment_tag_deleted", "Trigger a webhook when an environment tag is deleted.", false},
	{"EnvironmentTagUpdated", "environment_tag_updated", "Trigger a webhook when an environment tag is updated.", false},
	{"ImportedEnvironmentChanged", "imported_environment_changed",
		"Trigger a webhook when an environment this one imports has changed.", false},
	{"EnvironmentRotationSucceeded", "environment_rotation_succeeded",
		"Trigger a webhook when an environment secret rotation succeeds.", false},
	{"EnvironmentRotationFailed", "environment_rotation_failed",
		"Trigger a webhook when an environment secret rotation fails.", false},
	{"PolicyViolationMandatory", "policy_violation_mandatory",
		"Trigger a webhook when a mandatory policy is violated.", false},
	{"PolicyViolationAdvisory", "policy_violation_advisory",
		"Trigger a webhook when an advisory policy is violated.", false},
	{"ImportSucceeded", "import_succeeded", "Trigger a webhook when a stack import succeeds.", false},
	{"ImportFailed", "import_failed", "Trigger a webhook when a stack import fails.", false},
	{"DeploymentFileIngestionFailed", "deployment_file_ingestion_failed",
		"Trigger a webhook when a deployment fails to ingest its source files.", false},
	{"ChangeRequestCreated", "change_request_created",
		"Trigger a webhook when a change request is created. Only valid for organization webhooks.", true},
	{"ChangeRequestUpdated", "change_request_updated",
		"Trigger a webhook when a change request is updated. Only valid for organization webhooks.", true},
	{"ChangeRequestApproved", "change_request_approved",
		"Trigger a webhook when a change request is approved. Only valid for organization webhooks.", true},
	{"ChangeRequestUnapproved", "change_request_unapproved",
		"Trigger a webhook when a change request approval is withdrawn. Only valid for organization webhooks.", true},
	{"ChangeRequestClosed", "change_request_closed",
		"Trigger a webhook when a change request is closed. Only valid for organization webhooks.", true},
	{"ChangeRequestApplied", "change_request_applied",
		"Trigger a webhook when a change request is applied. Only valid for organization webhooks.", true},
	{"ChangeRequestSubmitted", "change_request_submitted",
		"Trigger a webhook when a change request is submitted. Only valid for organization webhooks.", true},
}

// webhookGroups is the single list behind the WebhookGroup enum and its validation.
var webhookGroups = []webhookEvent{
	{"Stacks", "stacks", "All stack events: create and delete, and update, preview, destroy, refresh and import results.", false},
	{"Deployments", "deployments", "All deployment and drift events.", false},
	{"Environments", "environments", "All environment events.", false},
	{"Policies", "policies", "All policy violation events.", false},
	{"ChangeRequests", "change_requests", "All change request events. Only valid for organization webhooks.", true},
}

// Values lists the events for the schema.
func (WebhookFilters) Values() []infer.EnumValue[WebhookFilters] {
	return enumValues[WebhookFilters](webhookEvents)
}

// Values lists the groups for the schema.
func (WebhookGroup) Values() []infer.EnumValue[WebhookGroup] {
	return enumValues[WebhookGroup](webhookGroups)
}

func enumValues[T ~string](list []webhookEvent) []infer.EnumValue[T] {
	values := make([]infer.EnumValue[T], len(list))
	for i, e := range list {
		values[i] = infer.EnumValue[T]{Name: e.name, Value: T(e.value), Description: e.description}
	}
	return values
}

// lookupEvent finds value in list; ok is false for a value the service does not know.
func lookupEvent(list []webhookEvent, value string) (webhookEvent, bool) {
	for _, e := range list {
		if e.value == value {
			return e, true
		}
	}
	return webhookEvent{}, false
}

// allowedValues renders the values of list a scope may use, for error messages.
func allowedValues(list []webhookEvent, organizationScope bool) string {
	var b []byte
	for _, e := range list {
		if e.organizationOnly && !organizationScope {
			continue
		}
		if len(b) > 0 {
			b = append(b, ", "...)
		}
		b = append(b, e.value...)
	}
	return string(b)
}
