package relay

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
	"github.com/autodeploy-dev/pulumi-auto-deploy/edge"
)

// planHandler serves GET /v1/plan?organization=ORG&stack=project/stack: what a change of that stack
// would deploy through the relay (edge.Plan, as JSON), read from Pulumi Cloud with c. It reads the
// graph and the deployment history afresh rather than from the relay's database, so the answer is the
// same whether or not the relay has seen the organization, and the same as the command's and the
// provider function's.
//
// 400: organization or stack missing or not a valid name; 404: the stack does not exist; 409: the
// edges below it form a cycle; 502: Pulumi Cloud could not be read.
func planHandler(c edge.Reader) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		q := req.URL.Query()
		org, stack := q.Get("organization"), q.Get("stack")
		if msg := planParamsProblem(org, stack); msg != "" {
			writeError(w, http.StatusBadRequest, msg)
			return
		}
		plan, err := edge.ReadPlan(req.Context(), c, org, stack)
		var cycle *edge.CycleError
		switch {
		case errors.As(err, &cycle):
			writeError(w, http.StatusConflict, err.Error())
		case errors.Is(err, cloud.ErrNotFound):
			writeError(w, http.StatusNotFound, fmt.Sprintf("stack %s/%s does not exist: %v", org, stack, err))
		case err != nil:
			writeError(w, http.StatusBadGateway, "reading Pulumi Cloud: "+err.Error())
		default:
			writeJSON(w, http.StatusOK, plan)
		}
	}
}

// planParamsProblem says what is wrong with a plan's query parameters, "" when nothing is.
func planParamsProblem(org, stack string) string {
	const rule = "1-100 letters, digits, '-', '_' or '.'"
	switch {
	case org == "":
		return "the query parameter organization is missing: name the Pulumi Cloud organization of the stack"
	case !edge.ValidName(org):
		return fmt.Sprintf("the query parameter organization %q is not an organization name: %s", org, rule)
	case stack == "":
		return "the query parameter stack is missing: name the stack whose change to plan, as project/stack"
	}
	if _, _, ok := edge.SplitRef(stack); !ok {
		return fmt.Sprintf("the query parameter stack %q is not project/stack: each is %s", stack, rule)
	}
	return ""
}
