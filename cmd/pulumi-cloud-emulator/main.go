// Command pulumi-cloud-emulator serves the in-memory Pulumi Cloud API of package emulator on a local port.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "pulumi-cloud-emulator:", err)
		stop()
		os.Exit(1)
	}
}

// run serves until ctx is done. The base URL is the first line on stdout, so scripts can start the
// emulator on port 0 and read where it landed.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("pulumi-cloud-emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8383", "address to listen on; port 0 picks a free one")
	token := fs.String("token", "", "access token clients must send (default $EMULATOR_TOKEN)")
	stacks := fs.String("stacks", "", "comma-separated org/project/stack list to create, with deployment settings")
	latency := fs.Duration("latency", 0, "latency to add to every /api request, e.g. 20ms")
	deploymentDuration := fs.Duration("deployment-duration", 0,
		"run deployments on their own, one at a time per stack, each taking this long, e.g. 2s (default: at once)")
	concurrency := fs.Int("deployment-concurrency", 0,
		"at most this many deployments run at once per organization, the rest wait (default: no cap)")
	defaultOrg := fs.String("default-org", "", "the token's default organization (default: the first --stacks entry's)")
	quiet := fs.Bool("quiet", false, "do not log requests to stderr")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *showVersion {
		_, err := fmt.Fprintln(stdout, version)
		return err
	}
	if *token == "" {
		*token = getenv("EMULATOR_TOKEN")
	}
	if *token == "" {
		return errors.New("no token: pass --token or set EMULATOR_TOKEN")
	}
	seed, err := parseStacks(*stacks)
	if err != nil {
		return err
	}
	if *deploymentDuration < 0 {
		return fmt.Errorf("--deployment-duration %s is negative: give a duration such as 2s, or 0 for deployments "+
			"that end at once", *deploymentDuration)
	}
	if *concurrency < 0 {
		return fmt.Errorf("--deployment-concurrency %d is negative: give the number of deployments an organization "+
			"may run at once, or 0 for no cap", *concurrency)
	}

	if *defaultOrg == "" && len(seed.Stacks) > 0 {
		*defaultOrg = seed.Stacks[0].Org
	}
	opts := emulator.Options{Token: *token, DefaultOrganization: *defaultOrg, DeploymentDuration: *deploymentDuration,
		DeploymentConcurrency: *concurrency}
	if !*quiet {
		opts.OnRequest = func(rec emulator.RequestRecord) {
			_, _ = fmt.Fprintf(stderr, "%s %s %d %s\n", rec.Method, rec.Path, rec.Status, rec.Duration.Round(time.Microsecond))
		}
	}
	srv := emulator.New(opts)
	defer srv.Close()
	srv.SetFaults(emulator.Faults{Latency: *latency})
	if err := srv.Seed(seed); err != nil {
		return fmt.Errorf("creating stacks: %w", err)
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	// Before the base URL, so that whoever waits for that line finds this one written.
	_, _ = fmt.Fprintln(stderr, consoleLine(ln.Addr()))
	if _, err := fmt.Fprintf(stdout, "http://%s\n", ln.Addr()); err != nil {
		_ = ln.Close()
		return err
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return hs.Shutdown(shutdownCtx)
}

// consoleLine says where a browser on this machine finds the console. The console answers loopback
// clients only, so a wildcard listener is shown at 127.0.0.1; a listener on one other address has no
// usable console.
func consoleLine(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	switch {
	case !ok:
		return fmt.Sprintf("console: http://%s/", addr)
	case tcp.IP.IsLoopback():
		return fmt.Sprintf("console: http://%s/ (open it in a browser on this machine)", tcp)
	case tcp.IP.IsUnspecified():
		return fmt.Sprintf("console: http://%s/ (open it in a browser on this machine; it refuses other machines)",
			net.JoinHostPort("127.0.0.1", strconv.Itoa(tcp.Port)))
	default:
		return fmt.Sprintf("console: none on %s: the console answers loopback addresses only", tcp)
	}
}

func parseStacks(list string) (emulator.SeedData, error) {
	var seed emulator.SeedData
	for _, item := range strings.Split(list, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		parts := strings.Split(item, "/")
		if len(parts) != 3 {
			return seed, fmt.Errorf("--stacks: %q is not org/project/stack", item)
		}
		seed.Stacks = append(seed.Stacks, emulator.SeedStack{
			Org: parts[0], Project: parts[1], Stack: parts[2], DeploymentSettings: true,
		})
	}
	return seed, nil
}
