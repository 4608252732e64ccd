package cloud

import "context"

// defaultOrganization is the body of GET /api/user/organizations/default. The service
// spells the field GitHubLogin, as the Pulumi CLI decodes it.
type defaultOrganization struct {
	GitHubLogin string `json:"GitHubLogin"`
}

// GetDefaultOrganization returns the token's default organization, "" when it has none.
// Calls GET /api/user/organizations/default.
func (c *Client) GetDefaultOrganization(ctx context.Context) (string, error) {
	var out defaultOrganization
	err := c.do(ctx, request{method: "GET", segs: []string{"user", "organizations", "default"}, out: &out})
	return out.GitHubLogin, err
}
