package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
	"github.com/autodeploy-dev/pulumi-auto-deploy/edge"
)

const planUsage = "pulumi-auto-deploy-relay plan --organization ORG [--api-url URL] project/stack"

// runPlan is the plan subcommand: what a change of one stack would deploy through the relay, read
// from Pulumi Cloud as it is now (edge.ReadPlan), printed as a table. It needs no relay running.
func runPlan(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("pulumi-auto-deploy-relay plan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		_, _ = fmt.Fprintf(stderr, "usage: %s\n\nPrints what a change of the stack would deploy through the "+
			"relay: the waves, the critical path and an estimated duration.\n\n", planUsage)
		fs.PrintDefaults()
	}
	org := fs.String("organization", "", "the Pulumi Cloud organization of the stack")
	apiURL := fs.String("api-url", cloud.DefaultBaseURL, "Pulumi Cloud API URL")
	// The stack may come before or after the flags: flag stops at the first argument that is not one.
	var refs []string
	for rest := args; ; rest = fs.Args()[1:] {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil
			}
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		refs = append(refs, fs.Arg(0))
	}
	switch {
	case *org == "":
		return fmt.Errorf("--organization is missing: name the Pulumi Cloud organization of the stack (%s)",
			planUsage)
	case !edge.ValidName(*org):
		return fmt.Errorf("--organization %q is not an organization name: 1-100 letters, digits, '-', '_' or '.'",
			*org)
	case len(refs) != 1:
		return fmt.Errorf("plan takes one stack, the one whose change to plan, as project/stack; got %d (%s)",
			len(refs), planUsage)
	}
	if _, _, ok := edge.SplitRef(refs[0]); !ok {
		return fmt.Errorf("stack %q is not project/stack: each is 1-100 letters, digits, '-', '_' or '.'", refs[0])
	}
	token := getenv("PULUMI_ACCESS_TOKEN")
	if token == "" {
		return errors.New("PULUMI_ACCESS_TOKEN is not set: the plan reads the stacks' webhooks and deployments " +
			"from Pulumi Cloud with it")
	}
	client, err := cloud.New(nil, *apiURL, token, cloud.WithUserAgent("pulumi-auto-deploy-relay-plan"))
	if err != nil {
		return err
	}
	plan, err := edge.ReadPlan(ctx, client, *org, refs[0])
	if err != nil {
		return err
	}
	return printPlan(stdout, *org, plan)
}

// printPlan writes the plan as one row per stack, in the order the relay would start them, then its
// critical path and estimated duration.
func printPlan(w io.Writer, org string, plan edge.Plan) error {
	var b strings.Builder
	stacks := 0
	for _, wave := range plan.Waves {
		stacks += len(wave)
	}
	if stacks == 0 {
		fmt.Fprintf(&b, "No relay edge below %s/%s delivers: a change of it deploys nothing through the relay.\n",
			org, plan.Stack)
		_, err := io.WriteString(w, b.String())
		return err
	}
	fmt.Fprintf(&b, "If %s/%s changes, %d stacks may deploy, in %d waves:\n\n", org, plan.Stack, stacks,
		len(plan.Waves))
	critical, skipped := map[string]bool{}, map[string]bool{}
	for _, s := range plan.CriticalPath {
		critical[s] = true
	}
	for _, s := range plan.SkippedIfUnchanged {
		skipped[s] = true
	}
	yes := map[bool]string{true: "yes", false: "no"}
	// The table writes into b, which never fails a write: Flush reports what could go wrong.
	table := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	_, _ = fmt.Fprintln(table, "WAVE\tSTACK\tESTIMATE\tCRITICAL PATH\tSKIPPED IF UNCHANGED")
	defaults := false
	for i, wave := range plan.Waves {
		for _, s := range wave {
			e := plan.Estimates[s]
			estimate := seconds(e.Seconds)
			if e.Default {
				estimate += " (default)"
				defaults = true
			}
			_, _ = fmt.Fprintf(table, "%d\t%s\t%s\t%s\t%s\n", i+1, s, estimate, yes[critical[s]], yes[skipped[s]])
		}
	}
	if err := table.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(&b, "\nCritical path: %s\n", strings.Join(append([]string{plan.Stack}, plan.CriticalPath...), " → "))
	fmt.Fprintf(&b, "Estimated duration: %s, with nothing limiting how many stacks deploy at once\n",
		seconds(plan.EstimatedSeconds))
	fmt.Fprintf(&b, "Estimates: the median of each stack's succeeded updates among its last %d deployments", edge.HistoryDepth)
	if defaults {
		fmt.Fprintf(&b, "; (default): no history, the median of the others' or %ds", edge.DefaultEstimateSeconds)
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// seconds writes a duration in seconds as Go does, to a tenth of a second: 45s, 2m30s, 12.5s.
func seconds(s float64) string {
	return time.Duration(s * float64(time.Second)).Round(time.Second / 10).String()
}
