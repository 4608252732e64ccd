// Command pulumi-auto-deploy-relay runs the cascade relay of package relay: it receives Pulumi
// Cloud webhook deliveries and deploys each stack below an update once, after all its parents,
// and only when what it reads changed. See docs/relay.md. `pulumi-auto-deploy-relay plan` prints
// what a change of a stack would deploy through it, from Pulumi Cloud alone (plan.go).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
	"github.com/autodeploy-dev/pulumi-auto-deploy/relay"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "pulumi-auto-deploy-relay:", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) > 0 && args[0] == "plan" {
		return runPlan(ctx, args[1:], stdout, stderr, getenv)
	}
	fs := flag.NewFlagSet("pulumi-auto-deploy-relay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", ":8080", "address to listen on; port 0 picks a free one (the \"listening\" log line says which)")
	db := fs.String("db", "relay.db", "where the relay keeps its state and job queue, migrated at start: a SQLite "+
		"file (created if missing) for one relay process, or a postgres:// URL that several replicas share")
	apiURL := fs.String("api-url", cloud.DefaultBaseURL, "Pulumi Cloud API URL")
	poll := fs.Duration("poll", 30*time.Second, "how often the relay reads each organization's stack list, to "+
		"find updates no delivery announced (deliveries are hints; Pulumi Cloud's versions are the truth)")
	maxDeployments := fs.Int("max-deployments", 0, "most deployments of the relay queued or running in Pulumi "+
		"Cloud at once, per organization (0: no bound); the relay holds the rest back, the most work below first")
	deploymentTimeout := fs.Duration("deployment-timeout", 2*time.Hour, "how long a deployment of the relay may run "+
		"before the relay cancels it and counts it failed")
	settle := fs.Duration("settle", time.Second, "how long a stack due because of someone else's change waits for "+
		"more changes above it (two roots updated together, whose deliveries arrive a moment apart), so that one "+
		"deployment covers them all; 0 starts it at once")
	rescueAfter := fs.Duration("rescue-after", 5*time.Second, "PostgreSQL only: how long a replica may go "+
		"without a heartbeat (two a second) before the others take it for dead and go on with its organizations")
	retain := retention(relay.DefaultRetain)
	fs.Var(&retain, "retain", "how long finished cascades and ended deployments are kept, such as 30d, 36h or "+
		"90m")
	adminAddr := fs.String("admin-addr", "", "address to serve the admin routes on (the status page at /, "+
		"GET /v1/status, /v1/cascades, /v1/plan and /metrics), such as "+
		"127.0.0.1:9090; --addr then serves only POST /v1/hooks and GET /healthz. Unset, they are served on "+
		"--addr when it is a loopback address, and nowhere otherwise")
	var organizations orgList
	fs.Var(&organizations, "organization", "an organization the relay schedules (repeatable): it adopts the "+
		"organization's current versions at start and polls it from then on, and a delivery naming another is "+
		"refused with 403. Unset, any organization is accepted, from its first delivery")
	maxConns := fs.Int("max-connections", relay.DefaultMaxConnections, "connections each address holds open "+
		"at once; more wait in the kernel's accept queue until slow or idle clients are cut off")
	version := fs.Bool("version", false, "print the relay's version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *version {
		_, err := fmt.Fprintln(stdout, "pulumi-auto-deploy-relay", relay.Version)
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q: the relay takes flags only (see -h)", fs.Args())
	}
	if *maxConns < 1 {
		return fmt.Errorf("--max-connections %d must be at least 1", *maxConns)
	}
	token := getenv("PULUMI_ACCESS_TOKEN")
	if token == "" {
		return errors.New("PULUMI_ACCESS_TOKEN is not set: the relay needs a Pulumi Cloud access token to read " +
			"stacks and webhooks and to start deployments")
	}
	secret := getenv("AUTO_DEPLOY_RELAY_SECRET")
	if secret == "" {
		return errors.New("AUTO_DEPLOY_RELAY_SECRET is not set: the relay needs the HMAC secret its webhooks " +
			"sign deliveries with (the DeploymentGraph's relay secret)")
	}
	r, err := relay.New(relay.Config{
		Addr: *addr, AdminAddr: *adminAddr, DB: *db, APIURL: *apiURL, Token: token,
		Secret: secret, PreviousSecret: getenv("AUTO_DEPLOY_RELAY_PREVIOUS_SECRET"),
		Logger:            slog.New(slog.NewJSONHandler(stderr, nil)),
		PollInterval:      *poll,
		MaxDeployments:    *maxDeployments,
		DeploymentTimeout: *deploymentTimeout,
		Settle:            *settle,
		Organizations:     organizations,
		RescueAfter:       *rescueAfter,
		Retain:            time.Duration(retain),
		HTTP:              relay.HTTPLimits{MaxConnections: *maxConns},
	})
	if err != nil {
		return err
	}
	return r.Run(ctx)
}

// retention is --retain: a Go duration, or a whole number of days such as 30d.
type retention time.Duration

func (r *retention) String() string {
	if d := time.Duration(*r); d%(24*time.Hour) == 0 && d > 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return time.Duration(*r).String()
}

func (r *retention) Set(v string) error {
	d, err := time.ParseDuration(v)
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, convErr := strconv.Atoi(days)
		d, err = time.Duration(n)*24*time.Hour, convErr
	}
	if err != nil || d < time.Second {
		return fmt.Errorf("%q is not a retention: a duration of at least 1s, such as 30d, 36h or 90m", v)
	}
	*r = retention(d)
	return nil
}

// orgList collects the repeated --organization flag.
type orgList []string

func (o *orgList) String() string { return strings.Join(*o, ",") }

func (o *orgList) Set(org string) error {
	*o = append(*o, org)
	return nil
}
