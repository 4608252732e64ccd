package cloud

import (
	"context"
	"errors"
	"net/http"
)

// WebhookScope says what a webhook belongs to: an organization (only
// Organization set), a stack (Project and Stack) or an ESC environment
// (Project and Environment). Each scope has its own collection of webhooks,
// written {hooks} in the methods' docs: /api/orgs/{org}/hooks,
// /api/stacks/{org}/{project}/{stack}/hooks or
// /api/esc/environments/{org}/{project}/{env}/hooks.
type WebhookScope struct {
	Organization string
	Project      string
	Stack        string
	Environment  string
}

// Kind is "organization", "stack" or "environment".
func (s WebhookScope) Kind() string {
	switch {
	case s.Environment != "":
		return "environment"
	case s.Stack != "":
		return "stack"
	default:
		return "organization"
	}
}

// String names the scope for messages: "org", "org/project/stack", or
// "org/environment/project/env" (the literal segment, as in import IDs, keeps
// an environment from reading as a stack).
func (s WebhookScope) String() string {
	switch s.Kind() {
	case "environment":
		return s.Organization + "/environment/" + s.Project + "/" + s.Environment
	case "stack":
		return s.Organization + "/" + s.Project + "/" + s.Stack
	default:
		return s.Organization
	}
}

// validate refuses the combinations the service has no route for, so a
// mistake becomes a clear error instead of a request to the wrong collection.
func (s WebhookScope) validate() error {
	switch {
	case s.Organization == "":
		return errors.New("webhook scope: organization is required")
	case s.Stack != "" && s.Environment != "":
		return errors.New("webhook scope: a stack and an environment cannot both be set")
	case (s.Stack != "" || s.Environment != "") && s.Project == "":
		return errors.New("webhook scope: a stack or environment needs its project")
	case s.Project != "" && s.Stack == "" && s.Environment == "":
		return errors.New("webhook scope: a project alone is not a scope; set a stack or an environment")
	}
	return nil
}

// collection is the path of the scope's hooks collection, below /api/.
func (s WebhookScope) collection(more ...string) []string {
	var segs []string
	switch s.Kind() {
	case "environment":
		segs = []string{"esc", "environments", s.Organization, s.Project, s.Environment, "hooks"}
	case "stack":
		segs = []string{"stacks", s.Organization, s.Project, s.Stack, "hooks"}
	default:
		segs = []string{"orgs", s.Organization, "hooks"}
	}
	return append(segs, more...)
}

// stamp makes the body's scope fields agree with the URL (the service answers
// 400 otherwise) and drops the fields only the service sets.
func (s WebhookScope) stamp(w Webhook) Webhook {
	w.OrganizationName = s.Organization
	w.ProjectName = s.Project
	w.StackName = s.Stack
	w.EnvName = s.Environment
	w.HasSecret = false
	w.SecretCiphertext = ""
	return w
}

// Webhook is both the request and the response body. Secret only travels
// out: the service never returns it, only HasSecret.
type Webhook struct {
	OrganizationName string   `json:"organizationName"`
	ProjectName      string   `json:"projectName,omitempty"`
	StackName        string   `json:"stackName,omitempty"`
	EnvName          string   `json:"envName,omitempty"`
	Name             string   `json:"name"` // "" on create lets the service pick one
	DisplayName      string   `json:"displayName"`
	PayloadURL       string   `json:"payloadUrl"`
	Active           bool     `json:"active"`
	Format           string   `json:"format,omitempty"`
	Filters          []string `json:"filters,omitempty"`
	Groups           []string `json:"groups,omitempty"`
	Secret           string   `json:"secret,omitempty"`
	HasSecret        bool     `json:"hasSecret,omitempty"`
	SecretCiphertext string   `json:"secretCiphertext,omitempty"`
}

// WebhookDelivery is one attempt by the service to deliver an event.
type WebhookDelivery struct {
	ID              string `json:"id"`
	Kind            string `json:"kind"`
	Payload         string `json:"payload"`
	Timestamp       int64  `json:"timestamp"` // Unix seconds
	Duration        int64  `json:"duration"`  // milliseconds
	RequestURL      string `json:"requestUrl"`
	RequestHeaders  string `json:"requestHeaders"`
	ResponseCode    int    `json:"responseCode"`
	ResponseHeaders string `json:"responseHeaders"`
	ResponseBody    string `json:"responseBody"`
}

// CreateWebhook creates w in scope; the scope fields of w are taken from
// scope. It is never retried after an ambiguous failure (ErrAmbiguous): with
// a generated name a repeat would create a second webhook. A duplicate
// client-chosen name answers ErrConflict.
//
// Calls POST {hooks}, the scope's collection (see WebhookScope).
func (c *Client) CreateWebhook(ctx context.Context, scope WebhookScope, w Webhook) (Webhook, error) {
	if err := scope.validate(); err != nil {
		return Webhook{}, err
	}
	var out Webhook
	err := c.do(ctx, request{
		method:  http.MethodPost,
		segs:    scope.collection(),
		body:    scope.stamp(w),
		out:     &out,
		secrets: []string{w.Secret},
	})
	return out, err
}

// ListWebhooks returns every webhook of scope, in the service's order.
//
// Calls GET {hooks}.
func (c *Client) ListWebhooks(ctx context.Context, scope WebhookScope) ([]Webhook, error) {
	if err := scope.validate(); err != nil {
		return nil, err
	}
	var out []Webhook
	err := c.do(ctx, request{method: http.MethodGet, segs: scope.collection(), out: &out})
	return out, err
}

// GetWebhook reads one webhook; a missing one is ErrNotFound.
//
// Calls GET {hooks}/{name}.
func (c *Client) GetWebhook(ctx context.Context, scope WebhookScope, name string) (Webhook, error) {
	if err := scope.validate(); err != nil {
		return Webhook{}, err
	}
	var out Webhook
	err := c.do(ctx, request{method: http.MethodGet, segs: scope.collection(name), out: &out})
	return out, err
}

// UpdateWebhook sends w as the new state of webhook name. Filters, groups and
// secret are always sent, so empty ones clear what is stored: pass the secret
// from your inputs every time (the service never returns it). An empty Format
// is left out.
//
// Calls PATCH {hooks}/{name}.
func (c *Client) UpdateWebhook(ctx context.Context, scope WebhookScope, name string, w Webhook) (Webhook, error) {
	if err := scope.validate(); err != nil {
		return Webhook{}, err
	}
	stamped := scope.stamp(w)
	stamped.Name = name
	body := webhookUpdate{Webhook: stamped, Filters: orEmpty(w.Filters), Groups: orEmpty(w.Groups), Secret: w.Secret}
	var out Webhook
	err := c.do(ctx, request{
		method:  http.MethodPatch,
		segs:    scope.collection(name),
		body:    body,
		out:     &out,
		secrets: []string{w.Secret},
	})
	return out, err
}

// webhookUpdate is the PATCH body. The service may keep the stored value of a key the
// body leaves out, so filters, groups and secret are always sent: [] and "" clear them.
type webhookUpdate struct {
	Webhook
	Filters []string `json:"filters"`
	Groups  []string `json:"groups"`
	Secret  string   `json:"secret"`
}

func orEmpty(values []string) []string {
	if values == nil {
		return []string{}
	}
	return values
}

// DeleteWebhook deletes webhook name. A missing webhook is ErrNotFound, also
// when an earlier attempt of this same call deleted it before failing; callers
// deleting should treat ErrNotFound as done.
//
// Calls DELETE {hooks}/{name}.
func (c *Client) DeleteWebhook(ctx context.Context, scope WebhookScope, name string) error {
	if err := scope.validate(); err != nil {
		return err
	}
	return c.do(ctx, request{method: http.MethodDelete, segs: scope.collection(name)})
}

// PingWebhook asks the service to send a test event and returns the delivery.
//
// Calls POST {hooks}/{name}/ping.
func (c *Client) PingWebhook(ctx context.Context, scope WebhookScope, name string) (WebhookDelivery, error) {
	if err := scope.validate(); err != nil {
		return WebhookDelivery{}, err
	}
	var out WebhookDelivery
	err := c.do(ctx, request{method: http.MethodPost, segs: scope.collection(name, "ping"), out: &out})
	return out, err
}

// ListWebhookDeliveries returns the recent deliveries of webhook name.
//
// Calls GET {hooks}/{name}/deliveries.
func (c *Client) ListWebhookDeliveries(
	ctx context.Context, scope WebhookScope, name string,
) ([]WebhookDelivery, error) {
	if err := scope.validate(); err != nil {
		return nil, err
	}
	var out []WebhookDelivery
	err := c.do(ctx, request{method: http.MethodGet, segs: scope.collection(name, "deliveries"), out: &out})
	return out, err
}
