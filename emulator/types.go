package emulator

import (
	"fmt"
	"time"
)

// Scope types a webhook can live in.
const (
	ScopeOrganization = "organization"
	ScopeStack        = "stack"
	ScopeEnvironment  = "environment"
)

// Cause kinds of a deployment.
const (
	CauseAPI     = "api"
	CauseWebhook = "webhook"
)

// Scope names the organization, stack or environment a webhook belongs to. Project and Stack are set for
// stack webhooks, Project and Env for environment webhooks.
type Scope struct {
	Type    string `json:"scope"`
	Org     string `json:"organizationName"`
	Project string `json:"projectName,omitempty"`
	Stack   string `json:"stackName,omitempty"`
	Env     string `json:"envName,omitempty"`
}

// Path is the API path of the scope's webhook collection, e.g. /api/orgs/acme/hooks.
func (sc Scope) Path() string {
	switch sc.Type {
	case ScopeStack:
		return "/api/stacks/" + sc.Org + "/" + sc.Project + "/" + sc.Stack + "/hooks"
	case ScopeEnvironment:
		return "/api/esc/environments/" + sc.Org + "/" + sc.Project + "/" + sc.Env + "/hooks"
	default:
		return "/api/orgs/" + sc.Org + "/hooks"
	}
}

// Webhook is a stored webhook as the emulator sees it, secret included.
type Webhook struct {
	Scope
	Name        string   `json:"name"`
	DisplayName string   `json:"displayName"`
	PayloadURL  string   `json:"payloadUrl"`
	Active      bool     `json:"active"`
	Format      string   `json:"format"`
	Filters     []string `json:"filters"`
	Groups      []string `json:"groups"`
	HasSecret   bool     `json:"hasSecret"`
	// Secret is the HMAC key. The HTTP API never returns it and neither does the admin API; it is here so
	// in-process tests can check delivery signatures.
	Secret  string    `json:"-"`
	Created time.Time `json:"created"`
}

// WebhookRef identifies one webhook.
type WebhookRef struct {
	Scope
	Name string `json:"name"`
}

// DeliveryRecord holds what the delivery endpoints return about a delivery.
type DeliveryRecord struct {
	ID              string `json:"id"`
	Kind            string `json:"kind"`
	Payload         string `json:"payload"`
	Timestamp       int64  `json:"timestamp"`
	Duration        int64  `json:"duration"`
	RequestURL      string `json:"requestUrl"`
	RequestHeaders  string `json:"requestHeaders"`
	ResponseCode    int    `json:"responseCode"`
	ResponseHeaders string `json:"responseHeaders"`
	ResponseBody    string `json:"responseBody"`
}

// Delivery is one attempt to deliver an event to a webhook: the API's record of it, plus where it belongs
// and what it caused.
type Delivery struct {
	DeliveryRecord
	// Event is the event as filters name it, e.g. update_succeeded; Kind is the service's coarser event
	// kind the Pulumi-Webhook-Kind header carries, e.g. stack_update (see payloads.go).
	Event        string     `json:"event"`
	Webhook      WebhookRef `json:"webhook"`
	DeploymentID string     `json:"deploymentId,omitempty"`
	RedeliveryOf string     `json:"redeliveryOf,omitempty"`
	// Pending is set while a delivery sent over HTTP waits for its answer; the response fields are
	// empty until then (delivery_http.go).
	Pending bool `json:"pending,omitempty"`
	// Fault says what delivery faults did to it: "lost", or some of "reordered", "delayed 200ms" and
	// "sent twice" (delivery_faults.go). Empty for a delivery sent as it came.
	Fault string `json:"fault,omitempty"`
}

// Failed reports whether the delivery got an answer that is not 2xx, or none at all.
func (d Delivery) Failed() bool { return !d.Pending && (d.ResponseCode < 200 || d.ResponseCode > 299) }

// Deployment statuses, as the API spells them. The emulator never uses accepted: a deployment goes from
// not-started straight to running.
const (
	StatusNotStarted = "not-started"
	StatusAccepted   = "accepted"
	StatusRunning    = "running"
	StatusFailed     = "failed"
	StatusSucceeded  = "succeeded"
	StatusSkipped    = "skipped"
)

// Deployment is a Pulumi Deployment the emulator ran or holds. By default every deployment ends the
// moment it is started; with manual deployments (Server.SetManualDeployments) it waits as not-started
// until a step starts it, and stays running until a step finishes it (see store_deployments.go); with
// timed deployments it runs for a while on its own (store_timed.go). How it ends, and the outputs it
// leaves, is its stack's DeploymentBehaviour.
type Deployment struct {
	ID        string `json:"id"`
	Org       string `json:"orgName"`
	Project   string `json:"projectName"`
	Stack     string `json:"stackName"`
	Operation string `json:"operation"`
	Status    string `json:"status"`
	// Version numbers the stack's deployments from 1.
	Version int       `json:"version"`
	Created time.Time `json:"created"`
	Cause   Cause     `json:"cause"`
	// Modified is when the status last changed; Started and Finished are zero until it runs and ends.
	Modified time.Time `json:"modified"`
	Started  time.Time `json:"started,omitzero"`
	Finished time.Time `json:"finished,omitzero"`
	// StackVersion is the stack's version when the deployment succeeded: the version its update wrote,
	// for an operation that changes the stack. Zero until then.
	StackVersion int `json:"stackVersion,omitempty"`
	// UpdateID is the id of the update the deployment ran, set when it starts (store_updates.go).
	UpdateID string `json:"updateId,omitempty"`
	// StartOrder and EndOrder number the moments deployments start and end, across the whole emulator,
	// from 1: a test can order two deployments by them when the clock is fixed or too coarse to.
	// Zero until the deployment starts or ends.
	StartOrder int64 `json:"startOrder,omitempty"`
	EndOrder   int64 `json:"endOrder,omitempty"`
	// Cancelled is set on a deployment that was cancelled (its status is failed: the service's statuses
	// have no cancelled).
	Cancelled bool `json:"cancelled,omitempty"`

	// configuration is the deployment's settings: the stack's at creation (inheritSettings) merged with
	// the request's own. It is never changed after creation, so copies may share it.
	configuration map[string]any
	// stackID is the id of the stack it belongs to: a stack deleted and created again under the same
	// name is another stack, which does not list the deployments of the first.
	stackID string
}

// Cause says what started a deployment: an API call, or a pulumi_deployments webhook reacting to an event.
type Cause struct {
	Kind       string     `json:"kind"`
	Webhook    WebhookRef `json:"webhook,omitzero"`
	Event      string     `json:"event,omitempty"`
	DeliveryID string     `json:"deliveryId,omitempty"`
}

// CascadeResult is what one event set in motion: the deployments started, in order, and the deliveries that
// failed. Truncated is set when the cascade hit its deployment cap, which only a webhook cycle can reach.
type CascadeResult struct {
	Deployments      []Deployment `json:"deployments"`
	FailedDeliveries []Delivery   `json:"failedDeliveries"`
	Truncated        bool         `json:"truncated"`
}

// Stats counts the /api requests that reached the server, including those answered 401 or with an
// injected fault. Routes are keyed by their template, e.g. "POST /api/orgs/{org}/hooks"; requests that
// match no route count under "<METHOD> (no route)".
type Stats struct {
	Total    int            `json:"total"`
	Writes   int            `json:"writes"`
	Faults   int            `json:"faults"`
	ByMethod map[string]int `json:"byMethod"`
	ByRoute  map[string]int `json:"byRoute"`
}

// RequestRecord is one /api request in the request log.
type RequestRecord struct {
	ID       string        `json:"id"`
	Method   string        `json:"method"`
	Path     string        `json:"path"`
	Route    string        `json:"route"`
	Status   int           `json:"status"`
	Time     time.Time     `json:"time"`
	Duration time.Duration `json:"duration"`
	Fault    bool          `json:"fault"`
}

// Error is the service's error body, also returned by the in-process accessors.
type Error struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return fmt.Sprintf("%d: %s", e.Code, e.Message) }

func errorf(code int, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}
