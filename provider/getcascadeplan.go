package provider

import (
	"context"
	_ "embed"
	"errors"
	"fmt"

	"github.com/pulumi/pulumi-go-provider/infer"
	"github.com/pulumi/pulumi/sdk/v3/go/property"

	// Aliased: this package has a type edge of its own.
	edgeplan "github.com/autodeploy-dev/pulumi-auto-deploy/edge"
)

var _ infer.Fn[GetCascadePlanArgs, GetCascadePlanResult] = (*GetCascadePlan)(nil)

//go:embed getcascadeplan.md
var getCascadePlanDescription string

// GetCascadePlan answers what a change of one stack would deploy through the cascade relay, from the
// live graph and the stacks' recent deployment times (package edge's ReadPlan): the relay route GET /v1/plan and
// the relay's plan command answer from the same code.
type GetCascadePlan struct{}

// GetCascadePlanArgs names the stack whose change to plan.
type GetCascadePlanArgs struct {
	Organization string `pulumi:"organization,optional"`
	Stack        string `pulumi:"stack"`
}

// GetCascadePlanResult is the plan.
type GetCascadePlanResult struct {
	Waves              [][]string `pulumi:"waves"`
	CriticalPath       []string   `pulumi:"criticalPath"`
	EstimatedSeconds   float64    `pulumi:"estimatedSeconds"`
	SkippedIfUnchanged []string   `pulumi:"skippedIfUnchanged"`
}

// Annotate describes the function.
func (f *GetCascadePlan) Annotate(a infer.Annotator) {
	a.Describe(&f, getCascadePlanDescription)
}

// Annotate describes the arguments.
func (a *GetCascadePlanArgs) Annotate(an infer.Annotator) {
	an.Describe(&a.Organization, "The Pulumi Cloud organization of the stack. When unset: "+
		"`auto-deploy:organization`, else the access token's default organization.")
	an.Describe(&a.Stack, "The stack whose change to plan, `project/stack`.")
}

// Annotate describes the result.
func (r *GetCascadePlanResult) Annotate(a infer.Annotator) {
	a.Describe(&r.Waves, "The stacks below `stack` that may deploy, `project/stack`, in the order the relay "+
		"starts them: wave k holds the stacks whose longest path of relay edges from `stack` has k edges, each "+
		"starting once everything above it has deployed; within a wave, the stack with the most estimated work "+
		"below it (its own included) first, then by name.")
	a.Describe(&r.CriticalPath, "The chain of stacks below `stack`, from one of its children down, with the most "+
		"estimated work.")
	a.Describe(&r.EstimatedSeconds, "The estimated work on the critical path, in seconds: how long the change "+
		"takes to settle when nothing limits how many stacks deploy at once. Each stack's estimate is the median "+
		"duration of the succeeded updates among its last 10 deployments; a stack with none counts the median of "+
		"the others', or 60 seconds.")
	a.Describe(&r.SkippedIfUnchanged, "The stacks of `waves` that would not deploy if the update of `stack` left "+
		"its outputs as they were: those that only edges deploying on changed outputs reach, not an "+
		"`alwaysDeploy` edge from `stack` or a stack that deploys.")
}

// Invoke reads the relay graph below the stack and its stacks' deployment histories, and plans.
func (f *GetCascadePlan) Invoke(
	ctx context.Context, req infer.FunctionRequest[GetCascadePlanArgs],
) (infer.FunctionResponse[GetCascadePlanResult], error) {
	var none infer.FunctionResponse[GetCascadePlanResult]
	ref := req.Input.Stack
	if _, _, ok := edgeplan.SplitRef(ref); !ok {
		return none, fmt.Errorf(`stack %q is not "project/stack" (for example "network/prod"): the project and `+
			`the stack are each 1-100 letters, digits, "-", "_" or "."`, truncate(ref))
	}
	org, err := engineFor(ctx).resolveOrganization(ctx, req.Input.Organization, property.Value{})
	if err != nil {
		return none, err
	}
	if err := validateCloudName("organization", org); err != nil {
		return none, err
	}
	client, err := engineFor(ctx).client(ctx)
	if err != nil {
		return none, err
	}
	// The provider's Client interface has no deployment list; the production client (cloud.Client)
	// has one, and the plan needs it for its estimates.
	reader, ok := client.(edgeplan.Reader)
	if !ok {
		return none, errors.New("getCascadePlan needs a Pulumi Cloud client that lists deployments")
	}
	plan, err := edgeplan.ReadPlan(ctx, reader, org, ref)
	if err != nil {
		return none, describeCloudError(fmt.Sprintf("planning a change of %s/%s", org, ref), err)
	}
	return infer.FunctionResponse[GetCascadePlanResult]{Output: GetCascadePlanResult{
		Waves: plan.Waves, CriticalPath: plan.CriticalPath, EstimatedSeconds: plan.EstimatedSeconds,
		SkippedIfUnchanged: plan.SkippedIfUnchanged,
	}}, nil
}
