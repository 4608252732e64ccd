package provider

import (
	"context"
	"errors"
	"fmt"

	"github.com/pulumi/pulumi-go-provider/infer"
	"github.com/pulumi/pulumi/sdk/v3/go/property"
)

// placeholderOrganization is what pulumi.getOrganization() answers on a backend without
// Pulumi Cloud (a file or S3 backend): no Pulumi Cloud organization has this name there.
const placeholderOrganization = "organization"

// organizationDefaultDoc says where an unset organization comes from.
const organizationDefaultDoc = "When unset: the provider's `auto-deploy:organization`, else the organization " +
	"this resource already has in state, else the access token's default organization in Pulumi Cloud. The " +
	"placeholder `organization` that `pulumi.getOrganization()` returns on a backend without Pulumi Cloud is " +
	"replaced by `auto-deploy:organization`, and refused when that is unset. Changing it replaces the resource."

// pausedDoc describes the pause input shared by the edge resources.
const pausedDoc = "Pause the deployments without deleting anything: `true` makes every webhook of this resource " +
	"inactive (one update per webhook, nothing deleted or created) and `false` makes them active again."

// resolveOrganization picks the organization of an edge resource, in the order the docs
// give: the input, the provider's configuration, the one already in state (so that a new
// token with another default organization never moves a resource), and last the token's
// default organization in Pulumi Cloud.
//
// The placeholder that pulumi.getOrganization() answers on a backend without Pulumi Cloud
// is no organization: a program that passes it (as Pulumi's own auto-deploy examples do)
// gets auto-deploy:organization when that is set, and a clear refusal when not.
func (e *edgeEngine) resolveOrganization(ctx context.Context, input string, old property.Value) (string, error) {
	cfg := infer.GetConfig[*Config](ctx)
	configured := ""
	if cfg.Organization != nil {
		configured = *cfg.Organization
	}
	if configured != "" {
		if err := checkNotPlaceholder("auto-deploy:organization", configured); err != nil {
			return "", err
		}
	}
	switch {
	case input == placeholderOrganization && configured != "":
		return configured, nil
	case input != "":
		return input, checkNotPlaceholder("organization", input)
	case configured != "":
		return configured, nil
	}
	if old.IsString() && old.AsString() != "" {
		return old.AsString(), nil
	}
	client, err := e.client(ctx)
	if err != nil {
		return "", err
	}
	org, err := client.GetDefaultOrganization(ctx)
	if err != nil {
		return "", describeCloudError("reading the access token's default organization", err)
	}
	if org == "" {
		return "", errors.New("organization is not set and the access token has no default organization in " +
			"Pulumi Cloud: set organization on the resource, or `pulumi config set auto-deploy:organization <org>`")
	}
	return org, nil
}

func checkNotPlaceholder(field, org string) error {
	if org != placeholderOrganization {
		return nil
	}
	return fmt.Errorf("%s %q is the placeholder that a backend without Pulumi Cloud (a file or S3 backend) "+
		"reports as pulumi.getOrganization(): name your Pulumi Cloud organization with "+
		"`pulumi config set auto-deploy:organization <org>` (it replaces the placeholder), or set organization "+
		"to it", field, org)
}
