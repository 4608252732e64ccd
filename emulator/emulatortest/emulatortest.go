// Package emulatortest starts the Pulumi Cloud emulator for a Go test.
//
// Before it, each test package built its own emulator.Server, wrapped it in an httptest.Server, arranged
// to close that server and seeded stacks with deployment settings by hand, each a little differently.
// Start and SeedDeployable do those steps once, the same way everywhere, so a test says only what is
// particular to it.
//
// The package is for tests only: it reports setup failures through testing.TB and stops the test.
package emulatortest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
)

// DefaultToken is the access token the emulator accepts unless WithToken chooses another.
const DefaultToken = "pul-emulatortest-token"

// Cloud is a running emulator: the emulator itself, for seeding and inspecting it in process, and the
// address and token a client needs to talk to it over HTTP.
type Cloud struct {
	*emulator.Server
	// URL is the base URL of the HTTP server, without a trailing slash.
	URL string
	// Token is the access token the emulator accepts.
	Token string
	// HTTP is the test server in front of the emulator; its Client trusts its certificate under WithTLS.
	HTTP *httptest.Server
}

// Option changes how Start sets up the emulator or its HTTP server.
type Option func(*config)

type config struct {
	opts    emulator.Options
	tls     bool
	handler func(http.Handler) http.Handler
	server  func(*http.Server)
}

// WithToken makes the emulator accept token instead of DefaultToken.
func WithToken(token string) Option { return func(c *config) { c.opts.Token = token } }

// WithMoreTokens makes the emulator accept these tokens as well (emulator.Options.MoreTokens).
func WithMoreTokens(tokens ...string) Option {
	return func(c *config) { c.opts.MoreTokens = append(c.opts.MoreTokens, tokens...) }
}

// WithNow sets the emulator's clock (emulator.Options.Now).
func WithNow(now func() time.Time) Option { return func(c *config) { c.opts.Now = now } }

// WithMaxCascadeDeployments caps the deployments one event may start (emulator.Options.MaxCascadeDeployments).
func WithMaxCascadeDeployments(n int) Option {
	return func(c *config) { c.opts.MaxCascadeDeployments = n }
}

// WithDeploymentDuration makes deployments timed, each running d unless its stack's behaviour says
// otherwise (emulator.Options.DeploymentDuration).
func WithDeploymentDuration(d time.Duration) Option {
	return func(c *config) { c.opts.DeploymentDuration = d }
}

// WithOptions lets a test set any other emulator.Options field, such as Sleep or OnRequest.
func WithOptions(edit func(*emulator.Options)) Option { return func(c *config) { edit(&c.opts) } }

// WithTLS serves HTTPS with a certificate that only Cloud.HTTP.Client trusts.
func WithTLS() Option { return func(c *config) { c.tls = true } }

// WithHandler puts wrap around the emulator, for example http.StripPrefix to serve it under a path.
func WithHandler(wrap func(http.Handler) http.Handler) Option {
	return func(c *config) { c.handler = wrap }
}

// WithHTTPServer edits the http.Server before it starts, for example to set ConnState.
func WithHTTPServer(edit func(*http.Server)) Option { return func(c *config) { c.server = edit } }

// Start runs an empty emulator behind an httptest server. When the test ends the emulator is closed
// (its timers stopped, its deliveries cancelled) and then the server.
func Start(t testing.TB, opts ...Option) *Cloud {
	t.Helper()
	cfg := config{opts: emulator.Options{Token: DefaultToken}}
	for _, o := range opts {
		o(&cfg)
	}
	srv := emulator.New(cfg.opts)
	var h http.Handler = srv
	if cfg.handler != nil {
		h = cfg.handler(srv)
	}
	hs := httptest.NewUnstartedServer(h)
	if cfg.server != nil {
		cfg.server(hs.Config)
	}
	if cfg.tls {
		hs.StartTLS()
	} else {
		hs.Start()
	}
	t.Cleanup(hs.Close)
	t.Cleanup(srv.Close)
	return &Cloud{Server: srv, URL: hs.URL, Token: cfg.opts.Token, HTTP: hs}
}

// waitTimeout bounds WaitIdle: far longer than any test's deployments should take, short enough that a
// test stuck on a webhook cycle or a manual deployment fails with a message instead of a timeout panic.
const waitTimeout = 30 * time.Second

// WaitIdle waits until no deployment runs or waits and no delivery is on its way (emulator.WaitIdle),
// and fails the test if that takes longer than 30 seconds.
func (c *Cloud) WaitIdle(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	if err := c.Server.WaitIdle(ctx); err != nil {
		t.Fatalf("emulatortest: %v", err)
	}
}

// WaitFor waits until cond holds (emulator.WaitFor), and fails the test with what if that takes longer
// than 30 seconds.
func (c *Cloud) WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	if err := c.Server.WaitFor(ctx, cond); err != nil {
		t.Fatalf("emulatortest: waiting for %s: %v", what, err)
	}
}

// SeedDeployable creates each stack of org/project with the emulator's default deployment settings, so
// that pulumi_deployments webhooks may target it and deployments may start there. A stack that exists
// already is kept, and gets the default settings only if it has none.
func (c *Cloud) SeedDeployable(t testing.TB, org, project string, stacks ...string) {
	t.Helper()
	var data emulator.SeedData
	for _, s := range stacks {
		data.Stacks = append(data.Stacks, emulator.SeedStack{Org: org, Project: project, Stack: s, DeploymentSettings: true})
	}
	if err := c.Seed(data); err != nil {
		t.Fatalf("emulatortest: seeding %s/%s %v: %v", org, project, stacks, err)
	}
}
