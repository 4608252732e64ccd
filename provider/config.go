package provider

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"

	"github.com/pulumi/pulumi-go-provider/infer"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
)

// Config is the provider configuration: where Pulumi Cloud is and how to authenticate.
type Config struct {
	AccessToken *string `pulumi:"accessToken,optional" provider:"secret"`
	APIURL      *string `pulumi:"apiUrl,optional"`
	// Organization is where resources whose organization is unset live; not identity of the
	// provider either: a resource keeps the organization it has.
	Organization *string `pulumi:"organization,optional"`

	// newClient is set by New on the value infer configures; engine is built from it by
	// Configure, so each provider configuration has its own client, graph cache and plans.
	newClient ClientFactory
	mu        sync.Mutex
	engine    *edgeEngine
}

var (
	_ infer.Annotated       = (*Config)(nil)
	_ infer.CustomConfigure = (*Config)(nil)
)

// Annotate documents the configuration keys.
func (c *Config) Annotate(a infer.Annotator) {
	a.Describe(&c.Organization, "The Pulumi Cloud organization of every AutoDeployer and DeploymentGraph whose "+
		"`organization` is unset. A resource keeps the organization it was created in: changing this affects "+
		"new resources only.")
	a.Describe(&c.AccessToken, "The Pulumi Cloud access token the provider uses. When unset, the provider "+
		"uses the `PULUMI_ACCESS_TOKEN` environment variable, and then the token `pulumi login` stored for `apiUrl`.")
	a.Describe(&c.APIURL, "The Pulumi Cloud API URL, `https://api.pulumi.com` by default. When unset, the "+
		"provider uses `PULUMI_BACKEND_URL` if it is an http(s) URL (self-hosted installations), then `PULUMI_API`. "+
		"A path after the host is kept (a trailing `/api` is dropped). Plain `http://` is only allowed for "+
		"loopback addresses, such as a local Pulumi Cloud emulator. Neither this nor `accessToken` is part of any "+
		"resource's identity: changing them updates the provider and never replaces a resource.")
}

// Configure resolves the connection once, so a missing token or a bad URL fails the
// first operation with one clear message instead of one per resource, and builds the
// edge engine every resource of this configuration shares.
func (c *Config) Configure(ctx context.Context) error {
	_, err := c.edgeEngine().clients.get(ctx)
	return err
}

// edgeEngine is the configuration's engine. The engine may ask a resource's Check before
// the provider is configured (a preview with unknown configuration): it is then built on
// first use, from what the configuration holds by then.
func (c *Config) edgeEngine() *edgeEngine {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.engine == nil {
		c.engine = newEdgeEngine(c.newClient)
	}
	return c.engine
}

// engineFor is the engine of the provider configuration serving ctx.
func engineFor(ctx context.Context) *edgeEngine {
	return infer.GetConfig[*Config](ctx).edgeEngine()
}

// connection is what the client needs, resolved from config, environment and stored
// credentials in that order.
type connection struct {
	apiURL string
	token  string
}

func (c *Config) connection() (connection, error) {
	apiURL, err := resolveAPIURL(c.APIURL)
	if err != nil {
		return connection{}, err
	}
	token, err := resolveAccessToken(c.AccessToken, apiURL)
	if err != nil {
		return connection{}, err
	}
	return connection{apiURL: apiURL, token: token}, nil
}

func resolveAPIURL(configured *string) (string, error) {
	source, raw := "auto-deploy:apiUrl", ""
	switch {
	case configured != nil && *configured != "":
		raw = *configured
	case isHTTPURL(os.Getenv("PULUMI_BACKEND_URL")):
		source, raw = "PULUMI_BACKEND_URL", os.Getenv("PULUMI_BACKEND_URL")
	case os.Getenv("PULUMI_API") != "":
		source, raw = "PULUMI_API", os.Getenv("PULUMI_API")
	default:
		return cloud.DefaultBaseURL, nil
	}
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "", fmt.Errorf("%s %q is not a Pulumi Cloud API URL: use an absolute https:// URL such as %s",
			source, raw, cloud.DefaultBaseURL)
	}
	// A token sent over plain HTTP to another machine can be read on the way; only a
	// server on this machine (such as the emulator) is exempt.
	if u.Scheme == "http" && !isLoopbackHost(u.Hostname()) {
		return "", fmt.Errorf("%s %q uses plain http:// to a remote host, which would send the access token "+
			"unencrypted: use https://, or http:// only with localhost or a loopback address", source, raw)
	}
	return apiBase(u), nil
}

// apiBase is the API URL the client is given: scheme, host and path. The path is kept,
// because a self-hosted Pulumi Cloud may be served under one (https://example.com/pulumi),
// and dropping it would send every request to another application on the same host. A
// trailing "/" and a final "/api" segment are dropped (cloud.PathPrefix): request paths
// all start with /api/, and https://host/api is a common way to write https://host, so
// keeping it would produce /api/api/... Query, fragment and user info are dropped.
func apiBase(u *url.URL) string {
	return u.Scheme + "://" + u.Host + cloud.PathPrefix(u.EscapedPath())
}

func resolveAccessToken(configured *string, apiURL string) (string, error) {
	if configured != nil && *configured != "" {
		return *configured, nil
	}
	if token := os.Getenv("PULUMI_ACCESS_TOKEN"); token != "" {
		return token, nil
	}
	// The CLI keeps one token per backend URL; recent CLIs may encrypt the file, so it is
	// read through the SDK rather than parsed here.
	if creds, err := workspace.GetStoredCredentials(); err == nil {
		for backend, token := range creds.AccessTokens {
			if token != "" && sameBackend(backend, apiURL) {
				return token, nil
			}
		}
	}
	return "", fmt.Errorf("no Pulumi Cloud access token for %s: set it with "+
		"`pulumi config set --secret auto-deploy:accessToken <token>`, or export PULUMI_ACCESS_TOKEN, "+
		"or run `pulumi login %s`", apiURL, apiURL)
}

// sameBackend reports whether a backend URL `pulumi login` stored a token for names the
// API at apiURL, after the normalization apiBase applies: a login to https://host/ or
// https://host/api is a login to https://host.
func sameBackend(backend, apiURL string) bool {
	u, err := url.Parse(strings.TrimSpace(backend))
	if err != nil || u.Host == "" {
		return false
	}
	return apiBase(u) == apiURL
}

func isHTTPURL(s string) bool {
	return strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://")
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
