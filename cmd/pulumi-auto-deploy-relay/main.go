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
	poll := fs.Duration("poll", 5*time.Second, "how often a cascade checks its deployments in flight "+
		"(it checks at once when the update of one of them arrives)")
	rescueAfter := fs.Duration("rescue-after", 15*time.Second, "PostgreSQL only: how long a step can run before "+
		"another replica takes it over as abandoned by one that died; a step runs for at most 3/4 of it")
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
		Addr: *addr, DB: *db, APIURL: *apiURL, Token: token,
		Secret: secret, PreviousSecret: getenv("AUTO_DEPLOY_RELAY_PREVIOUS_SECRET"),
		Logger:       slog.New(slog.NewJSONHandler(stderr, nil)),
		PollInterval: *poll,
		RescueAfter:  *rescueAfter,
	})
	if err != nil {
		return err
	}
	return r.Run(ctx)
}
