package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
)

// Client is the part of the Pulumi Cloud API the resources use. Tests and the demo can
// hand the provider another implementation through a ClientFactory.
type Client interface {
	CreateWebhookOnce(ctx context.Context, scope cloud.WebhookScope, w cloud.Webhook) (
		cloud.CreateOutcome, cloud.Webhook, error)
	ListWebhooks(ctx context.Context, scope cloud.WebhookScope) ([]cloud.Webhook, error)
	GetWebhook(ctx context.Context, scope cloud.WebhookScope, name string) (cloud.Webhook, error)
	UpdateWebhook(ctx context.Context, scope cloud.WebhookScope, name string, w cloud.Webhook) (cloud.Webhook, error)
	DeleteWebhook(ctx context.Context, scope cloud.WebhookScope, name string) error
	GetStack(ctx context.Context, org, project, stack string) (cloud.Stack, error)
	GetDeploymentSettings(ctx context.Context, org, project, stack string) (map[string]any, error)
	ListStacks(ctx context.Context, filter cloud.StackFilter) ([]cloud.StackSummary, error)
	GetDefaultOrganization(ctx context.Context) (string, error)
	ListWebhookDeliveries(ctx context.Context, scope cloud.WebhookScope, name string) ([]cloud.WebhookDelivery, error)
	ReadUpstreamReferences(ctx context.Context, org, project, stack string) (cloud.UpstreamReferences, error)
}

// ClientFactory builds the Client for a resolved API URL and token.
type ClientFactory func(apiURL, token string) (Client, error)

// sharedTransport keeps connections alive across every request the plugin makes; one
// `pulumi up` talks to one host many times, up to maxParallelRequests per resource times
// the engine's --parallel at once. net/http keeps only 2 idle connections per host by
// default, so after each burst it closed all but 2 and the next burst opened (and, over
// TLS, handshook) them again.
var sharedTransport = &http.Client{Transport: newSharedTransport()}

// maxIdleConnections bounds the connections kept open between requests.
const maxIdleConnections = 128

func newSharedTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = maxIdleConnections
	t.MaxIdleConnsPerHost = maxIdleConnections
	return t
}

// NewCloudClient is the production ClientFactory. Its client bounds the requests in
// flight for the whole provider process (cloud.DefaultMaxReads reads, DefaultMaxWrites
// writes), and says once when Pulumi Cloud's rate limit made it halve them.
func NewCloudClient(apiURL, token string) (Client, error) {
	var told sync.Once
	return cloud.New(sharedTransport, apiURL, token, cloud.WithUserAgent("pulumi-resource-auto-deploy/"+Version),
		cloud.WithThrottleNotice(func(ctx context.Context, t cloud.Throttle) {
			told.Do(func() { p.GetLogger(ctx).Warning(throttleMessage(t)) })
		}))
}

func throttleMessage(t cloud.Throttle) string {
	wait := "backing off before each retry"
	if t.RetryAfter > 0 {
		wait = fmt.Sprintf("waiting %s before retrying, as it asked (Retry-After)", t.RetryAfter)
	}
	return fmt.Sprintf("Pulumi Cloud is rate limiting this provider (429 Too Many Requests): it now sends at most "+
		"%d %s at a time for the rest of this run, %s; nothing was lost, the run just takes longer", t.Limit,
		t.Kind, wait)
}

// clientSource builds the configuration's client once, on first use, from the provider's
// configuration; a failure is not kept, so the next use tries again.
type clientSource struct {
	newClient ClientFactory

	mu     sync.Mutex
	client Client
}

func (s *clientSource) get(ctx context.Context) (Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client != nil {
		return s.client, nil
	}
	cfg := infer.GetConfig[*Config](ctx)
	conn, err := cfg.connection()
	if err != nil {
		return nil, err
	}
	c, err := s.newClient(conn.apiURL, conn.token)
	if err != nil {
		return nil, fmt.Errorf("connecting to Pulumi Cloud at %s: %w", conn.apiURL, err)
	}
	s.client = c
	return c, nil
}

// describeCloudError turns a client error into one a user can act on; what says what
// the provider was doing and to which object.
func describeCloudError(what string, err error) error {
	switch {
	case errors.Is(err, cloud.ErrUnauthorized):
		return fmt.Errorf("%s: Pulumi Cloud refused the access token (401): check auto-deploy:accessToken "+
			"or PULUMI_ACCESS_TOKEN, or run `pulumi login` again: %w", what, err)
	case errors.Is(err, cloud.ErrForbidden):
		return fmt.Errorf("%s: the access token may not do this (403): use a token of a member with "+
			"admin rights on the stack or organization: %w", what, err)
	default:
		return fmt.Errorf("%s: %w", what, err)
	}
}
