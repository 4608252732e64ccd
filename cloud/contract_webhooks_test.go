package cloud_test

// Contract tests for webhooks in their three scopes: create, list, get, update, delete, ping and
// deliveries, and the dot-segment names that once deleted a stack.

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
)

// TestContractCreateWebhook creates a webhook in every scope, once with a name the service generates and
// once with a name the client chooses, and checks the answer and what the emulator stored.
func TestContractCreateWebhook(t *testing.T) {
	t.Parallel()
	for _, sc := range scopeCases {
		for _, chosen := range []string{"", "deploy.hook-1_A"} {
			name := sc.name + "/generated"
			if chosen != "" {
				name = sc.name + "/chosen"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				k := newContract(t)
				k.ensureScope(t, sc.scope)

				in := sampleWebhook(sc.scope)
				in.Name = chosen
				in.Secret = "hmac-secret-create"
				// Stale response-only and scope fields must be replaced by the client, not refused by the
				// emulator.
				in.OrganizationName = "someone-else"
				in.HasSecret = false
				in.SecretCiphertext = "stale"

				got, err := k.client.CreateWebhook(t.Context(), sc.scope, in)
				require.NoError(t, err)

				if chosen == "" {
					assert.Regexp(t, generatedName, got.Name, "a generated name is 8 hex characters")
				} else {
					assert.Equal(t, chosen, got.Name)
				}
				assert.Equal(t, sc.scope.Organization, got.OrganizationName)
				assert.Equal(t, sc.scope.Project, got.ProjectName)
				assert.Equal(t, sc.scope.Stack, got.StackName)
				assert.Equal(t, sc.scope.Environment, got.EnvName)
				assert.Equal(t, in.DisplayName, got.DisplayName)
				assert.Equal(t, in.PayloadURL, got.PayloadURL)
				assert.True(t, got.Active)
				assert.Equal(t, "raw", got.Format, "an absent format defaults to raw")
				assert.ElementsMatch(t, in.Filters, got.Filters, "filters compare as a set")
				assert.ElementsMatch(t, in.Groups, got.Groups, "groups compare as a set")
				assert.Empty(t, got.Secret, "the service never returns the secret")
				assert.True(t, got.HasSecret)
				assert.NotEmpty(t, got.SecretCiphertext)
				assert.NotContains(t, got.SecretCiphertext, in.Secret)

				// The write landed once, in the right scope, on the documented route.
				stored := k.storedHook(t, sc.scope, got.Name)
				assert.Len(t, k.srv.Webhooks(), 1)
				assert.Equal(t, sc.emuType, stored.Type)
				assert.Equal(t, in.DisplayName, stored.DisplayName)
				assert.Equal(t, in.PayloadURL, stored.PayloadURL)
				assert.True(t, stored.Active)
				assert.Equal(t, in.Secret, stored.Secret)
				assert.ElementsMatch(t, in.Filters, stored.Filters)
				assert.ElementsMatch(t, in.Groups, stored.Groups)
				assert.Equal(t, 1, k.srv.Stats().ByRoute["POST "+sc.route])
				assert.Equal(t, cloud.ClientStats{Requests: 1}, k.client.Stats())
			})
		}
	}
}

// TestContractCreateWebhookFormats checks the formats the facts list: slack and ms_teams everywhere,
// pulumi_deployments (payloadUrl = "{project}/{stack}") on stack and environment webhooks.
func TestContractCreateWebhookFormats(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		scope  cloud.WebhookScope
		format string
		url    string
	}{
		{"slack on organization", orgScope, "slack", "https://hooks.slack.com/services/T/B/X"},
		{"ms_teams on stack", stackScope, "ms_teams", "https://example.webhook.office.com/x"},
		{"raw explicit on environment", envScope, "raw", "https://hooks.example.com/raw"},
		{"pulumi_deployments on stack", stackScope, "pulumi_deployments", contractProj + "/downstream"},
		{"pulumi_deployments on environment", envScope, "pulumi_deployments", contractProj + "/downstream"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k := newContract(t)
			k.ensureScope(t, tt.scope)
			got := k.createHook(t, tt.scope, cloud.Webhook{
				DisplayName: tt.name, PayloadURL: tt.url, Active: true, Format: tt.format,
			})
			assert.Equal(t, tt.format, got.Format)
			assert.Equal(t, tt.url, got.PayloadURL)
			assert.False(t, got.HasSecret)
			assert.Empty(t, got.SecretCiphertext)
			assert.Empty(t, got.Filters)
			assert.Empty(t, got.Groups)
			stored := k.storedHook(t, tt.scope, got.Name)
			assert.Equal(t, tt.format, stored.Format)
			assert.Empty(t, stored.Secret)
		})
	}
}

// TestContractListWebhooks lists each scope: exactly its own webhooks, as a set, and an empty scope as an
// empty list rather than an error.
func TestContractListWebhooks(t *testing.T) {
	t.Parallel()
	k := newContract(t)
	ctx := t.Context()
	k.ensureScope(t, stackScope)
	k.ensureScope(t, envScope)

	var orgNames []string
	for _, name := range []string{"", "chosen-org", ""} {
		w := sampleWebhook(orgScope)
		w.Name = name
		orgNames = append(orgNames, k.createHook(t, orgScope, w).Name)
	}
	stackHook := k.createHook(t, stackScope, sampleWebhook(stackScope))

	got, err := k.client.ListWebhooks(ctx, orgScope)
	require.NoError(t, err)
	var gotNames []string
	for _, w := range got {
		gotNames = append(gotNames, w.Name)
		assert.Equal(t, contractOrg, w.OrganizationName)
		assert.Empty(t, w.StackName)
		assert.Empty(t, w.Secret)
		assert.ElementsMatch(t, sampleWebhook(orgScope).Filters, w.Filters)
	}
	assert.ElementsMatch(t, orgNames, gotNames, "the organization's webhooks, and only those")

	got, err = k.client.ListWebhooks(ctx, stackScope)
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, stackHook, got[0], "a listed webhook reads like the created one")

	got, err = k.client.ListWebhooks(ctx, envScope)
	require.NoError(t, err)
	assert.Empty(t, got)
}

// TestContractGetWebhook reads a webhook back in every scope: it equals what create answered.
func TestContractGetWebhook(t *testing.T) {
	t.Parallel()
	inEveryScope(t, func(t *testing.T, k *contract, sc scopeCase) {
		in := sampleWebhook(sc.scope)
		in.Secret = "get-secret"
		created := k.createHook(t, sc.scope, in)

		got, err := k.client.GetWebhook(t.Context(), sc.scope, created.Name)
		require.NoError(t, err)
		assert.Equal(t, created, got)
		assert.Equal(t, 1, k.srv.Stats().ByRoute["GET "+sc.route+"/{name}"])
	})
}

// TestContractUpdateWebhook updates a webhook in every scope: every field lands, filters and groups come
// back as a set, an empty filter list and an empty secret really clear them in the emulator's store, and
// a format the client leaves out is kept.
func TestContractUpdateWebhook(t *testing.T) {
	t.Parallel()
	inEveryScope(t, func(t *testing.T, k *contract, sc scopeCase) {
		ctx := t.Context()
		in := sampleWebhook(sc.scope)
		in.Format = "slack"
		in.Secret = "secret-one"
		created := k.createHook(t, sc.scope, in)
		before := k.storedHook(t, sc.scope, created.Name)

		// 1. A change lands.
		change := cloud.Webhook{
			DisplayName: "Renamed",
			PayloadURL:  "https://hooks.example.com/v2",
			Active:      false,
			Format:      "ms_teams",
			Filters:     []string{"update_failed", "preview_failed", "update_failed"},
			Groups:      []string{"policies"},
			Secret:      "secret-two",
		}
		if sc.scope.Kind() == "environment" {
			change.Filters = []string{"environment_rotation_failed", "environment_tag_deleted"}
			change.Groups = []string{"environments"}
		}
		got, err := k.client.UpdateWebhook(ctx, sc.scope, created.Name, change)
		require.NoError(t, err)
		assert.Equal(t, created.Name, got.Name)
		assert.Equal(t, sc.scope.Organization, got.OrganizationName)
		assert.Equal(t, sc.scope.Stack, got.StackName)
		assert.Equal(t, sc.scope.Environment, got.EnvName)
		assert.Equal(t, "Renamed", got.DisplayName)
		assert.Equal(t, "https://hooks.example.com/v2", got.PayloadURL)
		assert.False(t, got.Active)
		assert.Equal(t, "ms_teams", got.Format)
		assert.ElementsMatch(t, uniq(change.Filters), got.Filters, "filters are a set")
		assert.ElementsMatch(t, change.Groups, got.Groups)
		assert.True(t, got.HasSecret)
		assert.Empty(t, got.Secret)

		stored := k.storedHook(t, sc.scope, created.Name)
		assert.Equal(t, "Renamed", stored.DisplayName)
		assert.Equal(t, "https://hooks.example.com/v2", stored.PayloadURL)
		assert.False(t, stored.Active)
		assert.Equal(t, "ms_teams", stored.Format)
		assert.ElementsMatch(t, uniq(change.Filters), stored.Filters)
		assert.ElementsMatch(t, change.Groups, stored.Groups)
		assert.Equal(t, "secret-two", stored.Secret)
		assert.Equal(t, before.Created, stored.Created, "an update is not a re-create")

		read, err := k.client.GetWebhook(ctx, sc.scope, created.Name)
		require.NoError(t, err)
		assert.Equal(t, got, read)

		// 2. An empty filter list, no groups and an empty secret clear them.
		cleared, err := k.client.UpdateWebhook(ctx, sc.scope, created.Name, cloud.Webhook{
			DisplayName: "Renamed", PayloadURL: "https://hooks.example.com/v2", Active: true,
			Format: "ms_teams", Filters: []string{}, Groups: nil, Secret: "",
		})
		require.NoError(t, err)
		assert.Empty(t, cleared.Filters)
		assert.Empty(t, cleared.Groups)
		assert.False(t, cleared.HasSecret)
		assert.Empty(t, cleared.SecretCiphertext)
		assert.True(t, cleared.Active)

		stored = k.storedHook(t, sc.scope, created.Name)
		assert.Empty(t, stored.Filters, "filters: [] must clear the stored filters")
		assert.Empty(t, stored.Groups, "groups: [] must clear the stored groups")
		assert.Empty(t, stored.Secret, `secret: "" must remove the stored secret`)
		assert.False(t, stored.HasSecret)
		assert.True(t, stored.Active)

		// 3. An empty Format is left out of the PATCH body, and the emulator keeps the stored value
		// for an absent key (the reading the facts call safe).
		kept, err := k.client.UpdateWebhook(ctx, sc.scope, created.Name, cloud.Webhook{
			DisplayName: "Renamed again", PayloadURL: "https://hooks.example.com/v2", Active: true,
		})
		require.NoError(t, err)
		assert.Equal(t, "ms_teams", kept.Format)
		assert.Equal(t, "Renamed again", kept.DisplayName)
		assert.Equal(t, "ms_teams", k.storedHook(t, sc.scope, created.Name).Format)

		assert.Len(t, k.hooksIn(sc.scope), 1, "updates never create webhooks")
		assert.Equal(t, 3, k.srv.Stats().ByRoute["PATCH "+sc.route+"/{name}"])
	})
}

// TestContractUpdateWebhookRefusedChangesNothing checks that a PATCH the emulator refuses (400) surfaces
// its message and leaves the stored webhook as it was.
func TestContractUpdateWebhookRefusedChangesNothing(t *testing.T) {
	t.Parallel()
	k := newContract(t)
	in := sampleWebhook(orgScope)
	in.Secret = "keep-me"
	created := k.createHook(t, orgScope, in)
	before := k.storedHook(t, orgScope, created.Name)

	_, err := k.client.UpdateWebhook(t.Context(), orgScope, created.Name, cloud.Webhook{
		DisplayName: "", PayloadURL: "https://hooks.example.com/other", Active: false, Secret: "refused-secret",
	})
	apiErr := requireAPIError(t, err, http.StatusBadRequest)
	assert.Contains(t, apiErr.Message, "displayName")
	assert.NotContains(t, err.Error(), "refused-secret", "the secret sent must not be echoed")
	assertOnlySentinels(t, err)
	assert.Equal(t, before, k.storedHook(t, orgScope, created.Name))
	assert.Equal(t, int64(0), k.client.Stats().Retries, "a 400 is final")
}

// TestContractDeleteWebhook deletes a webhook in every scope; the second delete is ErrNotFound.
func TestContractDeleteWebhook(t *testing.T) {
	t.Parallel()
	inEveryScope(t, func(t *testing.T, k *contract, sc scopeCase) {
		ctx := t.Context()
		keep := k.createHook(t, sc.scope, sampleWebhook(sc.scope))
		gone := k.createHook(t, sc.scope, sampleWebhook(sc.scope))

		require.NoError(t, k.client.DeleteWebhook(ctx, sc.scope, gone.Name))
		remaining := k.hooksIn(sc.scope)
		require.Len(t, remaining, 1)
		assert.Equal(t, keep.Name, remaining[0].Name, "only the named webhook is deleted")

		_, err := k.client.GetWebhook(ctx, sc.scope, gone.Name)
		requireAPIError(t, err, http.StatusNotFound)
		assertOnlySentinels(t, err, cloud.ErrNotFound)

		err = k.client.DeleteWebhook(ctx, sc.scope, gone.Name)
		apiErr := requireAPIError(t, err, http.StatusNotFound)
		assertOnlySentinels(t, err, cloud.ErrNotFound)
		assert.Equal(t, http.MethodDelete, apiErr.Method)
		assert.Contains(t, apiErr.Path, gone.Name)
		assert.Equal(t, 2, k.srv.Stats().ByRoute["DELETE "+sc.route+"/{name}"])
	})
}

// TestContractPingAndDeliveries pings a webhook in every scope and reads its delivery log: the delivery
// has every documented field, Unix-second timestamps, and a signature the emulator computes from the
// payload the client received byte for byte.
func TestContractPingAndDeliveries(t *testing.T) {
	t.Parallel()
	inEveryScope(t, func(t *testing.T, k *contract, sc scopeCase) {
		ctx := t.Context()
		in := sampleWebhook(sc.scope)
		in.Secret = "ping-secret"
		hook := k.createHook(t, sc.scope, in)

		none, err := k.client.ListWebhookDeliveries(ctx, sc.scope, hook.Name)
		require.NoError(t, err)
		assert.Empty(t, none)

		d, err := k.client.PingWebhook(ctx, sc.scope, hook.Name)
		require.NoError(t, err)
		assert.NotEmpty(t, d.ID)
		assert.Equal(t, "ping", d.Kind)
		assert.Equal(t, contractNow.Unix(), d.Timestamp, "timestamp is Unix seconds")
		assert.Equal(t, in.PayloadURL, d.RequestURL)
		assert.Equal(t, http.StatusOK, d.ResponseCode)
		assert.NotEmpty(t, d.ResponseBody)
		assert.True(t, json.Valid([]byte(d.Payload)), "payload %q should be JSON", d.Payload)
		assert.Contains(t, d.RequestHeaders, "Pulumi-Webhook-Signature: "+emulator.Sign(in.Secret, []byte(d.Payload)))
		assert.NotContains(t, d.RequestHeaders, in.Secret)

		d2, err := k.client.PingWebhook(ctx, sc.scope, hook.Name)
		require.NoError(t, err)
		assert.NotEqual(t, d.ID, d2.ID)

		all, err := k.client.ListWebhookDeliveries(ctx, sc.scope, hook.Name)
		require.NoError(t, err)
		assert.ElementsMatch(t, []cloud.WebhookDelivery{d, d2}, all, "the log holds exactly the two pings")
		assert.Equal(t, 2, k.srv.Stats().ByRoute["POST "+sc.route+"/{name}/ping"])
		assert.Equal(t, 2, k.srv.Stats().ByRoute["GET "+sc.route+"/{name}/deliveries"])
	})
}

// TestContractDotSegmentNames guards a bug this suite found: "." and ".." pass the facts' character
// rules, but a router resolves them against the URL path, and a client that followed the redirect sent
// DELETE .../hooks/.. to the stack itself, deleting it. Now the client refuses such path segments and
// never follows redirects, and the emulator refuses dot-only names on create, as the service should.
func TestContractDotSegmentNames(t *testing.T) {
	t.Parallel()
	for _, sc := range scopeCases {
		for _, name := range []string{".", ".."} {
			t.Run(sc.name+"/"+name, func(t *testing.T) {
				t.Parallel()
				k := newContract(t)
				ctx := t.Context()
				k.srv.SeedDeployable(t, contractOrg, contractProj, "prod")
				k.ensureScope(t, envScope)
				keep := sampleWebhook(sc.scope)
				keep.Name = "keep"
				k.createHook(t, sc.scope, keep)
				w := sampleWebhook(sc.scope)
				w.Name = name
				_, createErr := k.client.CreateWebhook(ctx, sc.scope, w) // refusing is fine too

				got, err := k.client.GetWebhook(ctx, sc.scope, name)
				if err == nil {
					assert.Equal(t, name, got.Name, "GetWebhook must return the webhook asked for or an error")
				} else if createErr == nil {
					assert.NotErrorIs(t, err, cloud.ErrNotFound, "the webhook exists")
				}

				upd, err := k.client.UpdateWebhook(ctx, sc.scope, name, w)
				if err == nil {
					assert.Equal(t, name, upd.Name)
				}

				_ = k.client.DeleteWebhook(ctx, sc.scope, name)
				_, err = k.client.GetStack(ctx, contractOrg, contractProj, "prod")
				assert.NoError(t, err, "deleting webhook %q must not delete the stack", name)
				_, err = k.client.GetDeploymentSettings(ctx, contractOrg, contractProj, "prod")
				assert.NoError(t, err, "deleting webhook %q must not delete the stack's settings", name)
				assert.Equal(t, "keep", k.storedHook(t, sc.scope, "keep").Name)
				if createErr == nil {
					assert.Len(t, k.hooksIn(sc.scope), 1, "the webhook %q the client created must be deletable", name)
				}
			})
		}
	}

	t.Run("stack named ..", func(t *testing.T) {
		t.Parallel()
		k := newContract(t)
		if _, err := k.client.CreateStack(t.Context(), contractOrg, contractProj, ".."); err != nil {
			return // refusing the name is fine
		}
		got, err := k.client.GetStack(t.Context(), contractOrg, contractProj, "..")
		require.NoError(t, err, "a stack the client created must be readable by the same names")
		assert.Equal(t, "..", got.StackName)
		assert.NoError(t, k.client.DeleteStack(t.Context(), contractOrg, contractProj, "..", true))
	})
}
