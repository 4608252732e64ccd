package relay

import (
	"context"
	"fmt"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
)

// Cloud is the part of Pulumi Cloud the relay uses. *cloud.Client provides it through
// NewCloud; tests use a fake.
type Cloud interface {
	// ListStacks lists an organization's stacks (every page), each with when its last update started.
	ListStacks(ctx context.Context, filter cloud.StackFilter) ([]cloud.StackSummary, error)
	// ListWebhooks lists a stack's webhooks, from which the relay learns the graph.
	ListWebhooks(ctx context.Context, scope cloud.WebhookScope) ([]cloud.Webhook, error)
	// GetStack reads a stack's version and whether an update of it is in progress.
	GetStack(ctx context.Context, org, project, stack string) (cloud.Stack, error)
	// CreateDeployment starts a deployment. It is never retried after an ambiguous failure:
	// the relay finds out itself whether it landed.
	CreateDeployment(ctx context.Context, org, project, stack, operation string) (cloud.DeploymentRef, error)
	GetDeployment(ctx context.Context, org, project, stack, id string) (cloud.Deployment, error)
	GetDeploymentByVersion(ctx context.Context, org, project, stack string, version int) (cloud.Deployment, error)
	ListDeployments(ctx context.Context, org, project, stack string, page, pageSize int) ([]cloud.Deployment, int, error)
	// ListOrgDeployments lists an organization's deployments, newest first, a page at a time: how the
	// relay follows its deployments in flight with one request.
	ListOrgDeployments(ctx context.Context, org string, page, pageSize int) ([]cloud.Deployment, int, error)
	CancelDeployment(ctx context.Context, org, project, stack, id string) error
	// StackOutputs returns a stack's outputs at a version, each secret replaced by a Secret
	// holding its ciphertext.
	StackOutputs(ctx context.Context, org, project, stack string, version int) (map[string]any, error)
	BatchDecrypt(ctx context.Context, org, project, stack string, ciphertexts []string) (map[string]string, error)
}

// Secret is a secret output value, still encrypted: BatchDecrypt turns the ciphertext into the
// JSON text of its value.
type Secret struct{ Ciphertext string }

// NewCloud adapts a Cloud client to Cloud.
func NewCloud(c *cloud.Client) Cloud { return clientCloud{c} }

type clientCloud struct{ *cloud.Client }

func (c clientCloud) StackOutputs(ctx context.Context, org, project, stack string, version int) (map[string]any, error) {
	export, err := c.ExportStack(ctx, org, project, stack, version)
	if err != nil {
		return nil, err
	}
	outputs, err := export.Outputs()
	if err != nil {
		return nil, fmt.Errorf("outputs of %s/%s/%s at version %d: %w", org, project, stack, version, err)
	}
	return markSecrets(outputs).(map[string]any), nil
}

// markSecrets replaces every secret the service's encoding marks inside v by a Secret.
func markSecrets(v any) any {
	if ct, ok := cloud.IsSecret(v); ok {
		return Secret{Ciphertext: ct}
	}
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = markSecrets(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = markSecrets(e)
		}
		return out
	}
	return v
}
