package emulator

import (
	"encoding/json"
	"fmt"
	"time"
)

// What a webhook receives for each event, in the shapes of Pulumi's webhook documentation
// (pulumi.com/docs/pulumi-cloud/webhooks, "Payload Examples", and docs/esc/environments/webhooks for
// environments): docs/cloud-api.md lists the fields and where the emulator fills in what the
// documentation leaves open. A payload names the user, the organization and the stack or environment;
// it has no timestamp and no event name of its own. The Pulumi-Webhook-Kind header says what kind of
// event it is (stack_update, deployment...), and the payload's own fields say which one: an update's
// kind and result, a deployment's status.

// webhookKinds maps each event, as filters name it, to the service's event kind: the kind a delivery
// records and the Pulumi-Webhook-Kind header carries (the "Event Kind" columns of the documentation).
// Events missing here are ones the emulator never raises; their kind is their own name.
var webhookKinds = map[string]string{
	"stack_created": "stack", "stack_deleted": "stack",
	"preview_succeeded": "stack_preview", "preview_failed": "stack_preview",
	"update_succeeded": "stack_update", "update_failed": "stack_update",
	"destroy_succeeded": "stack_update", "destroy_failed": "stack_update",
	"refresh_succeeded": "stack_update", "refresh_failed": "stack_update",
	"deployment_queued": "deployment", "deployment_started": "deployment",
	"deployment_succeeded": "deployment", "deployment_failed": "deployment",
	"drift_detected": "drift_detection", "drift_detection_succeeded": "drift_detection",
	"drift_detection_failed":      "drift_detection",
	"drift_remediation_succeeded": "drift_remediation", "drift_remediation_failed": "drift_remediation",
	"environment_created": "environment", "environment_deleted": "environment",
	"environment_revision_created": "environment_revision", "environment_revision_retracted": "environment_revision",
	"environment_revision_tag_created": "environment_revision_tag",
	"environment_revision_tag_deleted": "environment_revision_tag",
	"environment_revision_tag_updated": "environment_revision_tag",
	"environment_tag_created":          "environment_tag", "environment_tag_deleted": "environment_tag",
	"environment_tag_updated": "environment_tag",
	eventPing:                 eventPing,
}

// eventPing is what a ping delivers; it is no event a webhook can filter on.
const eventPing = "ping"

func webhookKind(event string) string {
	if k, ok := webhookKinds[event]; ok {
		return k
	}
	return event
}

// organizationWire is how a payload names the organization. The emulator has no display names, so name
// and githubLogin are both the organization's name; consumers should read githubLogin, which is the
// name URLs use.
type organizationWire struct {
	Name        string `json:"name"`
	GitHubLogin string `json:"githubLogin"`
	AvatarURL   string `json:"avatarUrl"`
}

func organizationOf(org string) organizationWire {
	return organizationWire{Name: org, GitHubLogin: org, AvatarURL: consoleBase + "/" + org + "/avatar.png"}
}

// stackPayload is the payload of the stack kind: a stack created or deleted.
type stackPayload struct {
	User         requestedByWire  `json:"user"`
	Organization organizationWire `json:"organization"`
	Action       string           `json:"action"`
	ProjectName  string           `json:"projectName"`
	StackName    string           `json:"stackName"`
}

// updatePayload is the payload of the stack_update and stack_preview kinds. Kind is the operation
// (update, refresh, destroy; a preview's is update, with isPreview), result succeeded or failed.
// updateUrl ends with the update's version, the stack version the update wrote; a preview's ends
// with the id of the deployment that ran it.
type updatePayload struct {
	User            requestedByWire  `json:"user"`
	Organization    organizationWire `json:"organization"`
	ProjectName     string           `json:"projectName"`
	StackName       string           `json:"stackName"`
	UpdateURL       string           `json:"updateUrl"`
	Kind            string           `json:"kind"`
	Result          string           `json:"result"`
	ResourceChanges map[string]int   `json:"resourceChanges"`
	IsPreview       bool             `json:"isPreview"`
}

// deploymentPayload is the payload of the deployment kind. Version is the deployment's number within
// its stack, which deploymentUrl ends with.
type deploymentPayload struct {
	User          requestedByWire  `json:"user"`
	Organization  organizationWire `json:"organization"`
	ProjectName   string           `json:"projectName"`
	StackName     string           `json:"stackName"`
	DeploymentURL string           `json:"deploymentUrl"`
	Version       int              `json:"version"`
	Operation     string           `json:"operation"`
	Status        string           `json:"status"`
}

// driftPayload is the payload of the drift_detection and drift_remediation kinds; only detection has
// driftDetected and driftRunId.
type driftPayload struct {
	User            requestedByWire  `json:"user"`
	Organization    organizationWire `json:"organization"`
	ProjectName     string           `json:"projectName"`
	StackName       string           `json:"stackName"`
	DriftDetected   *bool            `json:"driftDetected,omitempty"`
	DriftRunID      string           `json:"driftRunId,omitempty"`
	Status          string           `json:"status"`
	ResourceChanges map[string]int   `json:"resourceChanges"`
	ReferenceURL    string           `json:"referenceUrl"`
}

// environmentPayload is the payload of the environment and environment_revision kinds.
type environmentPayload struct {
	User            requestedByWire  `json:"user"`
	Organization    organizationWire `json:"organization"`
	ProjectName     string           `json:"projectName"`
	EnvironmentName string           `json:"environmentName"`
	Action          string           `json:"action"`
	Revision        int              `json:"revision,omitempty"`
}

// pingPayloadWire is what a ping sends, as the documentation's delivery example shows it.
type pingPayloadWire struct {
	Timestamp int64  `json:"timestamp"`
	Message   string `json:"message"`
}

func mustJSON(v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("emulator: encoding payload: %v", err))
	}
	return data
}

func updateURL(st *stack, version int) string {
	return fmt.Sprintf("%s/%s/%s/%s/updates/%d", consoleBase, st.org, st.project, st.name, version)
}

// stackCreatedEvent is stack_created or stack_deleted.
func stackLifecycleEvent(name, action string, st *stack) event {
	p := stackPayload{User: emulatorUser, Organization: organizationOf(st.org), Action: action,
		ProjectName: st.project, StackName: st.name}
	return event{name: name, subject: st.subject(), payload: mustJSON(p)}
}

// updateEvent is the event of a person's update (kind update or refresh), which ran outside Pulumi
// Deployments, with the version it wrote (or, failed, would have written).
func updateEvent(st *stack, kind, result string, version int) event {
	p := updatePayload{User: emulatorUser, Organization: organizationOf(st.org), ProjectName: st.project,
		StackName: st.name, UpdateURL: updateURL(st, version), Kind: kind, Result: result,
		ResourceChanges: map[string]int{}}
	return event{name: kind + "_" + result, subject: st.subject(), payload: mustJSON(p)}
}

// deploymentEvents are the two events a deployment that ended raises: deployment_succeeded or
// deployment_failed, then its operation's own (update_succeeded, drift_detection_failed...). The stack's
// version is the one a successful update wrote; a failed one names the version it would have written.
func deploymentEvents(st *stack, d Deployment) []event {
	result := d.Status // succeeded or failed
	org := organizationOf(st.org)
	dep := deploymentPayload{User: emulatorUser, Organization: org, ProjectName: st.project, StackName: st.name,
		DeploymentURL: consoleURL(d), Version: d.Version, Operation: d.Operation, Status: result}
	events := []event{{name: "deployment_" + result, subject: st.subject(), payload: mustJSON(dep)}}

	name := operationEventPrefix[d.Operation] + "_" + result
	var payload any
	switch d.Operation {
	case "detect-drift":
		detected := false
		payload = driftPayload{User: emulatorUser, Organization: org, ProjectName: st.project, StackName: st.name,
			DriftDetected: &detected, DriftRunID: d.ID, Status: result, ResourceChanges: map[string]int{},
			ReferenceURL: consoleURL(d)}
	case "remediate-drift":
		payload = driftPayload{User: emulatorUser, Organization: org, ProjectName: st.project, StackName: st.name,
			Status: result, ResourceChanges: map[string]int{}, ReferenceURL: consoleURL(d)}
	default:
		p := updatePayload{User: emulatorUser, Organization: org, ProjectName: st.project, StackName: st.name,
			Kind: d.Operation, Result: result, ResourceChanges: map[string]int{}}
		switch {
		case d.Operation == "preview":
			p.Kind, p.IsPreview = "update", true
			p.UpdateURL = fmt.Sprintf("%s/%s/%s/%s/previews/%s", consoleBase, st.org, st.project, st.name, d.ID)
		case result == StatusSucceeded:
			p.UpdateURL = updateURL(st, d.StackVersion)
		default:
			p.UpdateURL = updateURL(st, st.version+1)
		}
		payload = p
	}
	return append(events, event{name: name, subject: st.subject(), payload: mustJSON(payload)})
}

// operationEventPrefix is the first part of the event each deployment operation raises when it ends.
var operationEventPrefix = map[string]string{
	"update":          "update",
	"preview":         "preview",
	"refresh":         "refresh",
	"destroy":         "destroy",
	"detect-drift":    "drift_detection",
	"remediate-drift": "drift_remediation",
}

func environmentEvent(name, action string, env *environment, revision int) event {
	p := environmentPayload{User: emulatorUser, Organization: organizationOf(env.org), ProjectName: env.project,
		EnvironmentName: env.name, Action: action, Revision: revision}
	return event{name: name, subject: env.subject(), payload: mustJSON(p)}
}

func pingPayload(now time.Time) []byte {
	return mustJSON(pingPayloadWire{Timestamp: now.Unix(), Message: "Just a friendly ping from the Pulumi Cloud emulator"})
}
