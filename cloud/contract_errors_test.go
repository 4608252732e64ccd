package cloud_test

// Contract tests for what goes wrong: auth, 404/409/400 answers, injected faults and the retries (or
// refusals to retry) that follow from them.

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
)

// TestContractUnauthorized calls every method with a wrong token: 401, ErrUnauthorized, no retry, nothing
// written, and neither the wrong token nor a secret in the message.
func TestContractUnauthorized(t *testing.T) {
	t.Parallel()
	type call func(ctx context.Context, c *cloud.Client) error
	calls := map[string]call{
		"CreateWebhook": func(ctx context.Context, c *cloud.Client) error {
			w := sampleWebhook(stackScope)
			w.Secret = "a-webhook-secret"
			_, err := c.CreateWebhook(ctx, stackScope, w)
			return err
		},
		"ListWebhooks": func(ctx context.Context, c *cloud.Client) error {
			_, err := c.ListWebhooks(ctx, orgScope)
			return err
		},
		"GetWebhook": func(ctx context.Context, c *cloud.Client) error {
			_, err := c.GetWebhook(ctx, envScope, "h")
			return err
		},
		"UpdateWebhook": func(ctx context.Context, c *cloud.Client) error {
			_, err := c.UpdateWebhook(ctx, orgScope, "h", sampleWebhook(orgScope))
			return err
		},
		"DeleteWebhook": func(ctx context.Context, c *cloud.Client) error {
			return c.DeleteWebhook(ctx, orgScope, "h")
		},
		"PingWebhook": func(ctx context.Context, c *cloud.Client) error {
			_, err := c.PingWebhook(ctx, orgScope, "h")
			return err
		},
		"ListWebhookDeliveries": func(ctx context.Context, c *cloud.Client) error {
			_, err := c.ListWebhookDeliveries(ctx, orgScope, "h")
			return err
		},
		"GetStack": func(ctx context.Context, c *cloud.Client) error {
			_, err := c.GetStack(ctx, contractOrg, contractProj, "prod")
			return err
		},
		"CreateStack": func(ctx context.Context, c *cloud.Client) error {
			_, err := c.CreateStack(ctx, contractOrg, contractProj, "new")
			return err
		},
		"DeleteStack": func(ctx context.Context, c *cloud.Client) error {
			return c.DeleteStack(ctx, contractOrg, contractProj, "prod", true)
		},
		"GetDeploymentSettings": func(ctx context.Context, c *cloud.Client) error {
			_, err := c.GetDeploymentSettings(ctx, contractOrg, contractProj, "prod")
			return err
		},
		"PutDeploymentSettings": func(ctx context.Context, c *cloud.Client) error {
			_, err := c.PutDeploymentSettings(ctx, contractOrg, contractProj, "prod", map[string]any{"tag": "x"})
			return err
		},
		"CreateDeployment": func(ctx context.Context, c *cloud.Client) error {
			_, err := c.CreateDeployment(ctx, contractOrg, contractProj, "prod", "update")
			return err
		},
		"ListDeployments": func(ctx context.Context, c *cloud.Client) error {
			_, _, err := c.ListDeployments(ctx, contractOrg, contractProj, "prod", 1, 5)
			return err
		},
	}
	for name, fn := range calls {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			k := newContract(t)
			k.srv.SeedDeployable(t, contractOrg, contractProj, "prod")
			hook := sampleWebhook(orgScope)
			hook.Name = "h"
			k.createHook(t, orgScope, hook)
			before := k.srv.Webhooks()
			bad := newContractClient(t, k.ts, wrongToken)

			err := fn(t.Context(), bad)
			apiErr := requireAPIError(t, err, http.StatusUnauthorized)
			assertOnlySentinels(t, err, cloud.ErrUnauthorized)
			assert.NotContains(t, err.Error(), wrongToken, "the token must never appear in an error")
			assert.NotContains(t, apiErr.Message, wrongToken)
			assert.NotContains(t, err.Error(), "a-webhook-secret")
			assert.Equal(t, cloud.ClientStats{Requests: 1}, bad.Stats(), "a 401 is final")

			// Nothing was written.
			assert.Equal(t, before, k.srv.Webhooks())
			assert.Empty(t, k.srv.Deployments())
			_, err = k.client.GetStack(t.Context(), contractOrg, contractProj, "prod")
			assert.NoError(t, err)
			_, err = k.client.GetStack(t.Context(), contractOrg, contractProj, "new")
			assert.ErrorIs(t, err, cloud.ErrNotFound)
		})
	}
}

// TestContractTokenWhitespace checks that a token read from a file with a trailing newline still works:
// the client trims it and the emulator accepts it.
func TestContractTokenWhitespace(t *testing.T) {
	t.Parallel()
	k := newContract(t)
	require.NoError(t, k.srv.CreateStack(contractOrg, contractProj, "prod"))
	c := newContractClient(t, k.ts, "  "+contractToken+"\n")
	_, err := c.GetStack(t.Context(), contractOrg, contractProj, "prod")
	assert.NoError(t, err)
}

// TestContractNotFound covers the 404s: missing webhook, stack, environment and settings, in every
// method that can meet one. Each is ErrNotFound with the emulator's message.
func TestContractNotFound(t *testing.T) {
	t.Parallel()
	missingStack := cloud.WebhookScope{Organization: contractOrg, Project: contractProj, Stack: "ghost"}
	missingEnv := cloud.WebhookScope{Organization: contractOrg, Project: contractProj, Environment: "ghost"}
	tests := []struct {
		name    string
		call    func(ctx context.Context, c *cloud.Client) error
		message string // a substring of the emulator's message
	}{
		{"GetWebhook org", func(ctx context.Context, c *cloud.Client) error {
			_, err := c.GetWebhook(ctx, orgScope, "nope")
			return err
		}, "nope"},
		{"GetWebhook stack", func(ctx context.Context, c *cloud.Client) error {
			_, err := c.GetWebhook(ctx, stackScope, "nope")
			return err
		}, "nope"},
		{"GetWebhook environment", func(ctx context.Context, c *cloud.Client) error {
			_, err := c.GetWebhook(ctx, envScope, "nope")
			return err
		}, "nope"},
		{"UpdateWebhook", func(ctx context.Context, c *cloud.Client) error {
			_, err := c.UpdateWebhook(ctx, stackScope, "nope", sampleWebhook(stackScope))
			return err
		}, "nope"},
		{"DeleteWebhook", func(ctx context.Context, c *cloud.Client) error {
			return c.DeleteWebhook(ctx, envScope, "nope")
		}, "nope"},
		{"PingWebhook", func(ctx context.Context, c *cloud.Client) error {
			_, err := c.PingWebhook(ctx, orgScope, "nope")
			return err
		}, "nope"},
		{"ListWebhookDeliveries", func(ctx context.Context, c *cloud.Client) error {
			_, err := c.ListWebhookDeliveries(ctx, orgScope, "nope")
			return err
		}, "nope"},
		{"CreateWebhook on a missing stack", func(ctx context.Context, c *cloud.Client) error {
			_, err := c.CreateWebhook(ctx, missingStack, sampleWebhook(missingStack))
			return err
		}, "ghost"},
		{"CreateWebhook on a missing environment", func(ctx context.Context, c *cloud.Client) error {
			_, err := c.CreateWebhook(ctx, missingEnv, sampleWebhook(missingEnv))
			return err
		}, "ghost"},
		{"ListWebhooks on a missing stack", func(ctx context.Context, c *cloud.Client) error {
			_, err := c.ListWebhooks(ctx, missingStack)
			return err
		}, "ghost"},
		{"GetStack", func(ctx context.Context, c *cloud.Client) error {
			_, err := c.GetStack(ctx, contractOrg, contractProj, "ghost")
			return err
		}, "ghost"},
		{"DeleteStack", func(ctx context.Context, c *cloud.Client) error {
			return c.DeleteStack(ctx, contractOrg, contractProj, "ghost", false)
		}, "ghost"},
		{"GetDeploymentSettings of a stack without any", func(ctx context.Context, c *cloud.Client) error {
			_, err := c.GetDeploymentSettings(ctx, contractOrg, contractProj, "prod")
			return err
		}, "deployment settings"},
		{"GetDeploymentSettings of a missing stack", func(ctx context.Context, c *cloud.Client) error {
			_, err := c.GetDeploymentSettings(ctx, contractOrg, contractProj, "ghost")
			return err
		}, "ghost"},
		{"CreateDeployment on a missing stack", func(ctx context.Context, c *cloud.Client) error {
			_, err := c.CreateDeployment(ctx, contractOrg, contractProj, "ghost", "update")
			return err
		}, "ghost"},
		{"ListDeployments of a missing stack", func(ctx context.Context, c *cloud.Client) error {
			_, _, err := c.ListDeployments(ctx, contractOrg, contractProj, "ghost", 0, 0)
			return err
		}, "ghost"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k := newContract(t)
			k.ensureScope(t, stackScope) // "prod", without deployment settings
			k.ensureScope(t, envScope)

			err := tt.call(t.Context(), k.client)
			apiErr := requireAPIError(t, err, http.StatusNotFound)
			assertOnlySentinels(t, err, cloud.ErrNotFound)
			assert.Contains(t, apiErr.Message, tt.message)
			assert.Equal(t, int64(0), k.client.Stats().Retries, "a 404 is final")
			assert.Empty(t, k.srv.Webhooks(), "nothing was created")
		})
	}
}

// TestContractConflict covers the 409s: a duplicate client-chosen webhook name (in every scope) and a
// duplicate stack. Both are ErrConflict with "already exists", the original is untouched, and a name is
// only unique within its scope.
func TestContractConflict(t *testing.T) {
	t.Parallel()
	for _, sc := range scopeCases {
		t.Run("webhook/"+sc.name, func(t *testing.T) {
			t.Parallel()
			k := newContract(t)
			k.ensureScope(t, sc.scope)
			first := sampleWebhook(sc.scope)
			first.Name = "deploy-downstream"
			k.createHook(t, sc.scope, first)

			dup := first
			dup.DisplayName = "Another one"
			dup.Secret = "dup-secret"
			_, err := k.client.CreateWebhook(t.Context(), sc.scope, dup)
			apiErr := requireAPIError(t, err, http.StatusConflict)
			assertOnlySentinels(t, err, cloud.ErrConflict)
			assert.Equal(t, "Webhook with name deploy-downstream already exists", apiErr.Message,
				"the text the facts quote")
			assert.NotContains(t, err.Error(), "dup-secret")
			assert.Equal(t, int64(0), k.client.Stats().Retries, "a 409 is final")

			stored := k.storedHook(t, sc.scope, "deploy-downstream")
			assert.Equal(t, first.DisplayName, stored.DisplayName, "the original is kept")
			assert.Empty(t, stored.Secret)
		})
	}

	t.Run("webhook name is unique per scope", func(t *testing.T) {
		t.Parallel()
		k := newContract(t)
		for _, sc := range scopeCases {
			k.ensureScope(t, sc.scope)
			w := sampleWebhook(sc.scope)
			w.Name = "same-name"
			k.createHook(t, sc.scope, w)
		}
		assert.Len(t, k.srv.Webhooks(), 3)
	})

	t.Run("stack", func(t *testing.T) {
		t.Parallel()
		k := newContract(t)
		_, err := k.client.CreateStack(t.Context(), contractOrg, contractProj, "prod")
		require.NoError(t, err)
		_, err = k.client.CreateStack(t.Context(), contractOrg, contractProj, "prod")
		apiErr := requireAPIError(t, err, http.StatusConflict)
		assertOnlySentinels(t, err, cloud.ErrConflict)
		assert.Contains(t, apiErr.Message, "already exists", "the CLI matches on this text")
	})
}

// TestContractValidation covers the emulator's 400s that the client can reach (it stamps the scope
// fields itself, so a mismatched organizationName cannot be sent): each surfaces the emulator's message,
// matches no sentinel, is not retried, and creates nothing.
func TestContractValidation(t *testing.T) {
	t.Parallel()
	valid := func() cloud.Webhook {
		return cloud.Webhook{DisplayName: "d", PayloadURL: "https://hooks.example.com/x", Active: true}
	}
	tests := []struct {
		name    string
		scope   cloud.WebhookScope
		edit    func(w *cloud.Webhook)
		message string
	}{
		{"empty displayName", orgScope, func(w *cloud.Webhook) { w.DisplayName = "" }, "displayName"},
		{"blank displayName", stackScope, func(w *cloud.Webhook) { w.DisplayName = "   " }, "displayName"},
		{"empty payloadUrl", envScope, func(w *cloud.Webhook) { w.PayloadURL = "" }, "payloadUrl"},
		{"payloadUrl not a URL for raw", orgScope, func(w *cloud.Webhook) { w.PayloadURL = "ftp://x" }, "payloadUrl"},
		{"bad format", stackScope, func(w *cloud.Webhook) { w.Format = "carrier_pigeon" }, "carrier_pigeon"},
		{"bad filter", orgScope, func(w *cloud.Webhook) { w.Filters = []string{"update_succeeded", "not_an_event"} },
			"not_an_event"},
		{"organization-only filter on a stack webhook", stackScope,
			func(w *cloud.Webhook) { w.Filters = []string{"stack_deleted"} }, "organization webhooks"},
		{"bad group", envScope, func(w *cloud.Webhook) { w.Groups = []string{"everything"} }, "everything"},
		{"organization-only group on an environment webhook", envScope,
			func(w *cloud.Webhook) { w.Groups = []string{"change_requests"} }, "organization webhooks"},
		{"pulumi_deployments on an organization webhook", orgScope, func(w *cloud.Webhook) {
			w.Format = "pulumi_deployments"
			w.PayloadURL = contractProj + "/prod"
		}, "'pulumi_deployments' format can only be used on stack or environment webhooks"},
		{"pulumi_deployments target not project/stack", stackScope, func(w *cloud.Webhook) {
			w.Format = "pulumi_deployments"
			w.PayloadURL = "https://hooks.example.com/x"
		}, "{project}/{stack}"},
		{"invalid client-chosen name", orgScope, func(w *cloud.Webhook) { w.Name = "has space" }, "has space"},
		{"client-chosen name too long", orgScope, func(w *cloud.Webhook) { w.Name = strings.Repeat("a", 33) }, "name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k := newContract(t)
			k.ensureScope(t, tt.scope)
			w := valid()
			w.Secret = "validation-secret"
			tt.edit(&w)

			_, err := k.client.CreateWebhook(t.Context(), tt.scope, w)
			apiErr := requireAPIError(t, err, http.StatusBadRequest)
			assertOnlySentinels(t, err)
			assert.Contains(t, apiErr.Message, tt.message)
			assert.Equal(t, http.MethodPost, apiErr.Method)
			assert.NotContains(t, err.Error(), "validation-secret")
			assert.Equal(t, cloud.ClientStats{Requests: 1}, k.client.Stats(), "a 400 is final")
			assert.Empty(t, k.srv.Webhooks())
		})
	}

	t.Run("invalid stack name", func(t *testing.T) {
		t.Parallel()
		k := newContract(t)
		_, err := k.client.CreateStack(t.Context(), contractOrg, contractProj, "bad name")
		apiErr := requireAPIError(t, err, http.StatusBadRequest)
		assertOnlySentinels(t, err)
		assert.Contains(t, apiErr.Message, "stack name")
	})

	t.Run("deployment without settings", func(t *testing.T) {
		t.Parallel()
		k := newContract(t)
		require.NoError(t, k.srv.CreateStack(contractOrg, contractProj, "prod"))
		_, err := k.client.CreateDeployment(t.Context(), contractOrg, contractProj, "prod", "update")
		apiErr := requireAPIError(t, err, http.StatusBadRequest)
		assertOnlySentinels(t, err)
		assert.Contains(t, apiErr.Message, "deployment settings")
		assert.Empty(t, k.srv.Deployments())
	})

	for _, op := range []string{"", "deploy-everything"} {
		t.Run("deployment operation "+op, func(t *testing.T) {
			t.Parallel()
			k := newContract(t)
			k.srv.SeedDeployable(t, contractOrg, contractProj, "prod")
			_, err := k.client.CreateDeployment(t.Context(), contractOrg, contractProj, "prod", op)
			apiErr := requireAPIError(t, err, http.StatusBadRequest)
			assertOnlySentinels(t, err)
			assert.Contains(t, apiErr.Message, "operation")
			assert.Empty(t, k.srv.Deployments())
		})
	}
}

// TestContractGetRetried injects one 429 (Retry-After "0") or one 503/502/504 into every GET method: the
// client retries once and succeeds, and both sides count exactly one fault and one retry.
func TestContractGetRetried(t *testing.T) {
	t.Parallel()
	gets := map[string]func(ctx context.Context, c *cloud.Client, hook string) error{
		"GetStack": func(ctx context.Context, c *cloud.Client, _ string) error {
			_, err := c.GetStack(ctx, contractOrg, contractProj, "prod")
			return err
		},
		"ListWebhooks": func(ctx context.Context, c *cloud.Client, _ string) error {
			hooks, err := c.ListWebhooks(ctx, stackScope)
			if err == nil && len(hooks) != 1 {
				return errors.New("expected one webhook")
			}
			return err
		},
		"GetWebhook": func(ctx context.Context, c *cloud.Client, hook string) error {
			_, err := c.GetWebhook(ctx, stackScope, hook)
			return err
		},
		"ListWebhookDeliveries": func(ctx context.Context, c *cloud.Client, hook string) error {
			_, err := c.ListWebhookDeliveries(ctx, stackScope, hook)
			return err
		},
		"GetDeploymentSettings": func(ctx context.Context, c *cloud.Client, _ string) error {
			_, err := c.GetDeploymentSettings(ctx, contractOrg, contractProj, "prod")
			return err
		},
		"ListDeployments": func(ctx context.Context, c *cloud.Client, _ string) error {
			_, _, err := c.ListDeployments(ctx, contractOrg, contractProj, "prod", 1, 10)
			return err
		},
	}
	faults := []struct {
		status     int
		retryAfter string
	}{
		{http.StatusTooManyRequests, "0"},
		{http.StatusServiceUnavailable, ""},
		{http.StatusServiceUnavailable, "0"},
		{http.StatusBadGateway, ""},
		{http.StatusGatewayTimeout, ""},
	}
	for name, get := range gets {
		for _, f := range faults {
			t.Run(name+"/"+http.StatusText(f.status)+"/RetryAfter="+f.retryAfter, func(t *testing.T) {
				t.Parallel()
				k := newContract(t)
				ctx := t.Context()
				k.srv.SeedDeployable(t, contractOrg, contractProj, "prod")
				hook := k.createHook(t, stackScope, sampleWebhook(stackScope))
				before := k.client.Stats()
				k.srv.SetFaults(emulator.Faults{Rules: []emulator.FaultRule{
					{Status: f.status, Method: http.MethodGet, Nth: 1, RetryAfter: f.retryAfter},
				}})

				require.NoError(t, get(ctx, k.client, hook.Name))
				assert.Equal(t, cloud.ClientStats{Requests: 2, Retries: 1}, statsDelta(k.client, before))
				assert.Equal(t, 1, k.srv.Stats().Faults)
				assert.Equal(t, 2, k.srv.Stats().ByMethod[http.MethodGet])
			})
		}
	}
}

// TestContractRetryAfterHonoured checks that the emulator's Retry-After header reaches the client's wait
// (recorded by the Sleep hook, never slept), capped at 30 s, and that "0" falls back to the client's own
// short backoff. The HTTP-date form is client logic alone: TestRetryAfter covers it.
func TestContractRetryAfterHonoured(t *testing.T) {
	t.Parallel()
	tests := []struct {
		retryAfter string
		check      func(t *testing.T, wait time.Duration)
	}{
		{"0", func(t *testing.T, wait time.Duration) {
			assert.LessOrEqual(t, wait, time.Second, "Retry-After 0 means the client's own (short) backoff")
		}},
		{"7", func(t *testing.T, wait time.Duration) {
			assert.GreaterOrEqual(t, wait, 7*time.Second)
			assert.LessOrEqual(t, wait, 7*time.Second*6/5, "stretched by at most a fifth, so refused clients spread out")
		}},
		{"3600", func(t *testing.T, wait time.Duration) { assert.Equal(t, 30*time.Second, wait, "capped at 30 s") }},
	}
	for _, tt := range tests {
		t.Run("RetryAfter="+tt.retryAfter, func(t *testing.T) {
			t.Parallel()
			var (
				mu    sync.Mutex
				waits []time.Duration
			)
			record := func(_ context.Context, d time.Duration) error {
				mu.Lock()
				defer mu.Unlock()
				waits = append(waits, d)
				return nil
			}
			k := newContract(t, cloud.WithRetry(cloud.RetryPolicy{Sleep: record}))
			require.NoError(t, k.srv.CreateStack(contractOrg, contractProj, "prod"))
			k.srv.SetFaults(emulator.Faults{Rules: []emulator.FaultRule{
				{Status: http.StatusTooManyRequests, Method: http.MethodGet, Nth: 1, RetryAfter: tt.retryAfter},
			}})
			_, err := k.client.GetStack(t.Context(), contractOrg, contractProj, "prod")
			require.NoError(t, err)
			assert.Equal(t, int64(1), k.client.Stats().Retries)
			mu.Lock()
			defer mu.Unlock()
			require.Len(t, waits, 1)
			tt.check(t, waits[0])
		})
	}
}

// TestContractRetriesExhausted makes every GET fail: the last answer is returned, with its status
// and sentinel, and is not ErrAmbiguous (a GET changes nothing). A 503 is given up after
// MaxAttempts; a 429 (asked to wait 2s each time) only when another wait would pass the budget.
func TestContractRetriesExhausted(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		status     int
		retryAfter string
		want       []error
	}{
		{http.StatusTooManyRequests, "2", []error{cloud.ErrRateLimited}},
		{http.StatusServiceUnavailable, "0", nil},
	} {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			t.Parallel()
			k := newContract(t, cloud.WithRetry(cloud.RetryPolicy{MaxAttempts: 3, MaxElapsed: 5 * time.Second,
				Sleep: noSleep}))
			require.NoError(t, k.srv.CreateStack(contractOrg, contractProj, "prod"))
			k.srv.SetFaults(emulator.Faults{Rules: []emulator.FaultRule{
				{Status: tt.status, Method: http.MethodGet, RetryAfter: tt.retryAfter},
			}})
			_, err := k.client.GetStack(t.Context(), contractOrg, contractProj, "prod")
			requireAPIError(t, err, tt.status)
			assertOnlySentinels(t, err, tt.want...)
			assert.Equal(t, cloud.ClientStats{Requests: 3, Retries: 2}, k.client.Stats())
			assert.Equal(t, 3, k.srv.Stats().Faults)
		})
	}
}

// TestContractCreateRateLimitedRetried injects a 429 into creates: the emulator refuses before applying
// anything, so the client may and does retry a POST, and exactly one webhook/stack/deployment lands.
func TestContractCreateRateLimitedRetried(t *testing.T) {
	t.Parallel()
	t.Run("CreateWebhook", func(t *testing.T) {
		t.Parallel()
		k := newContract(t)
		k.srv.SetFaults(emulator.Faults{Rules: []emulator.FaultRule{
			{Status: http.StatusTooManyRequests, Method: http.MethodPost, PathContains: "/hooks", Nth: 1, RetryAfter: "0"},
		}})
		got, err := k.client.CreateWebhook(t.Context(), orgScope, sampleWebhook(orgScope))
		require.NoError(t, err)
		assert.Equal(t, cloud.ClientStats{Requests: 2, Retries: 1}, k.client.Stats())
		require.Len(t, k.srv.Webhooks(), 1, "exactly one webhook landed")
		assert.Equal(t, got.Name, k.srv.Webhooks()[0].Name)
	})
	t.Run("CreateStack", func(t *testing.T) {
		t.Parallel()
		k := newContract(t)
		k.srv.SetFaults(emulator.Faults{Rules: []emulator.FaultRule{
			{Status: http.StatusTooManyRequests, Method: http.MethodPost, Nth: 1, RetryAfter: "0"},
		}})
		_, err := k.client.CreateStack(t.Context(), contractOrg, contractProj, "prod")
		require.NoError(t, err, "the retry must not meet a 409 from a first attempt that landed")
		assert.Equal(t, int64(1), k.client.Stats().Retries)
	})
	t.Run("CreateDeployment", func(t *testing.T) {
		t.Parallel()
		k := newContract(t)
		k.srv.SeedDeployable(t, contractOrg, contractProj, "prod")
		k.srv.SetFaults(emulator.Faults{Rules: []emulator.FaultRule{
			{Status: http.StatusTooManyRequests, Method: http.MethodPost, Nth: 1, RetryAfter: "0"},
		}})
		ref, err := k.client.CreateDeployment(t.Context(), contractOrg, contractProj, "prod", "update")
		require.NoError(t, err)
		require.Len(t, k.srv.Deployments(), 1, "exactly one deployment was queued")
		assert.Equal(t, ref.ID, k.srv.Deployments()[0].ID)
	})
}

// TestContractCreateAmbiguous injects a 502/503/504 into non-idempotent POSTs, both as a refusal and as a
// lost answer (AfterApply). Either way the client returns ErrAmbiguous with the status, does not retry,
// and the emulator holds exactly what the fault let through: one write after apply, none before.
func TestContractCreateAmbiguous(t *testing.T) {
	t.Parallel()
	type op struct {
		call   func(ctx context.Context, k *contract) error
		landed func(k *contract) int
	}
	ops := map[string]op{
		"CreateWebhook generated name": {
			call: func(ctx context.Context, k *contract) error {
				_, err := k.client.CreateWebhook(ctx, stackScope, sampleWebhook(stackScope))
				return err
			},
			landed: func(k *contract) int { return len(k.hooksIn(stackScope)) },
		},
		"CreateWebhook chosen name": {
			call: func(ctx context.Context, k *contract) error {
				w := sampleWebhook(envScope)
				w.Name = "chosen"
				_, err := k.client.CreateWebhook(ctx, envScope, w)
				return err
			},
			landed: func(k *contract) int { return len(k.hooksIn(envScope)) },
		},
		"CreateStack": {
			call: func(ctx context.Context, k *contract) error {
				_, err := k.client.CreateStack(ctx, contractOrg, contractProj, "fresh")
				return err
			},
			landed: func(k *contract) int {
				_, err := k.client.GetStack(context.Background(), contractOrg, contractProj, "fresh")
				if err == nil {
					return 1
				}
				return 0
			},
		},
		"CreateDeployment": {
			call: func(ctx context.Context, k *contract) error {
				_, err := k.client.CreateDeployment(ctx, contractOrg, contractProj, "prod", "update")
				return err
			},
			landed: func(k *contract) int { return len(k.srv.Deployments()) },
		},
		"PingWebhook": {
			call: func(ctx context.Context, k *contract) error {
				_, err := k.client.PingWebhook(ctx, orgScope, "pinged")
				return err
			},
			landed: func(k *contract) int {
				ds, err := k.client.ListWebhookDeliveries(context.Background(), orgScope, "pinged")
				if err != nil {
					return -1
				}
				return len(ds)
			},
		},
	}
	for name, o := range ops {
		for _, status := range []int{http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout} {
			for _, afterApply := range []bool{true, false} {
				label := name + "/" + http.StatusText(status) + "/before apply"
				if afterApply {
					label = name + "/" + http.StatusText(status) + "/after apply"
				}
				t.Run(label, func(t *testing.T) {
					t.Parallel()
					k := newContract(t)
					k.ensureScope(t, stackScope)
					k.ensureScope(t, envScope)
					k.srv.SeedDeployable(t, contractOrg, contractProj, "prod")
					pinged := sampleWebhook(orgScope)
					pinged.Name = "pinged"
					k.createHook(t, orgScope, pinged)
					hooksBefore := len(k.srv.Webhooks())
					before := k.client.Stats()
					k.srv.SetFaults(emulator.Faults{Rules: []emulator.FaultRule{
						{Status: status, Method: http.MethodPost, AfterApply: afterApply, RetryAfter: "0"},
					}})

					err := o.call(t.Context(), k)
					requireAPIError(t, err, status)
					assertOnlySentinels(t, err, cloud.ErrAmbiguous)
					assert.Equal(t, cloud.ClientStats{Requests: 1}, statsDelta(k.client, before),
						"a create is never retried after an ambiguous failure")
					assert.Equal(t, 1, k.srv.Stats().Faults)

					k.srv.SetFaults(emulator.Faults{})
					want := 0
					if afterApply {
						want = 1
					}
					assert.Equal(t, want, o.landed(k), "writes that landed")
					if !strings.HasPrefix(name, "CreateWebhook") {
						assert.Len(t, k.srv.Webhooks(), hooksBefore)
					}
				})
			}
		}
	}
}

// TestContractAmbiguousCreateRecovery follows the recovery the facts describe after a lost create answer:
// with a client-chosen name, repeating the create meets 409 and the webhook can be read and adopted; with
// a generated name, listing finds the one that landed. A lost CreateStack answer is recovered the same
// way (repeat, take ErrConflict as success).
func TestContractAmbiguousCreateRecovery(t *testing.T) {
	t.Parallel()
	lostAnswer := emulator.Faults{Rules: []emulator.FaultRule{
		{Status: http.StatusServiceUnavailable, Method: http.MethodPost, AfterApply: true, Limit: 1},
	}}

	t.Run("chosen name", func(t *testing.T) {
		t.Parallel()
		k := newContract(t)
		ctx := t.Context()
		k.ensureScope(t, stackScope)
		k.srv.SetFaults(lostAnswer)
		w := sampleWebhook(stackScope)
		w.Name = "deploy-b"
		w.Secret = "recovery-secret"
		_, err := k.client.CreateWebhook(ctx, stackScope, w)
		require.ErrorIs(t, err, cloud.ErrAmbiguous)

		_, err = k.client.CreateWebhook(ctx, stackScope, w)
		require.ErrorIs(t, err, cloud.ErrConflict, "the repeat finds the webhook that landed")
		got, err := k.client.GetWebhook(ctx, stackScope, "deploy-b")
		require.NoError(t, err)
		assert.Equal(t, w.DisplayName, got.DisplayName)
		assert.Equal(t, w.PayloadURL, got.PayloadURL)
		assert.ElementsMatch(t, w.Filters, got.Filters)
		assert.True(t, got.HasSecret)
		assert.Equal(t, "recovery-secret", k.storedHook(t, stackScope, "deploy-b").Secret)
		assert.Len(t, k.hooksIn(stackScope), 1)
	})

	t.Run("generated name", func(t *testing.T) {
		t.Parallel()
		k := newContract(t)
		k.srv.SetFaults(lostAnswer)
		w := sampleWebhook(orgScope)
		_, err := k.client.CreateWebhook(t.Context(), orgScope, w)
		require.ErrorIs(t, err, cloud.ErrAmbiguous)

		list, err := k.client.ListWebhooks(t.Context(), orgScope)
		require.NoError(t, err)
		require.Len(t, list, 1, "exactly one webhook landed")
		assert.Regexp(t, generatedName, list[0].Name)
		assert.Equal(t, w.DisplayName, list[0].DisplayName)
	})

	t.Run("stack", func(t *testing.T) {
		t.Parallel()
		k := newContract(t)
		k.srv.SetFaults(lostAnswer)
		_, err := k.client.CreateStack(t.Context(), contractOrg, contractProj, "prod")
		require.ErrorIs(t, err, cloud.ErrAmbiguous)
		_, err = k.client.CreateStack(t.Context(), contractOrg, contractProj, "prod")
		require.ErrorIs(t, err, cloud.ErrConflict)
		_, err = k.client.GetStack(t.Context(), contractOrg, contractProj, "prod")
		assert.NoError(t, err)
	})
}

// TestContractIdempotentWritesRetried loses the answer (503 after apply) to PATCH, PUT and DELETE: those
// are retried. An update or settings PUT then succeeds with the change in place; a delete's retry meets
// the deletion its first attempt made and reports ErrNotFound, which callers treat as done.
func TestContractIdempotentWritesRetried(t *testing.T) {
	t.Parallel()
	lost := func(method string) emulator.Faults {
		return emulator.Faults{Rules: []emulator.FaultRule{
			{Status: http.StatusServiceUnavailable, Method: method, AfterApply: true, Nth: 1},
		}}
	}

	t.Run("UpdateWebhook", func(t *testing.T) {
		t.Parallel()
		k := newContract(t)
		created := k.createHook(t, orgScope, sampleWebhook(orgScope))
		k.srv.SetFaults(lost(http.MethodPatch))
		change := sampleWebhook(orgScope)
		change.DisplayName = "After retry"
		got, err := k.client.UpdateWebhook(t.Context(), orgScope, created.Name, change)
		require.NoError(t, err)
		assert.Equal(t, "After retry", got.DisplayName)
		assert.Equal(t, int64(1), k.client.Stats().Retries)
		assert.Equal(t, "After retry", k.storedHook(t, orgScope, created.Name).DisplayName)
	})

	t.Run("PutDeploymentSettings", func(t *testing.T) {
		t.Parallel()
		k := newContract(t)
		require.NoError(t, k.srv.CreateStack(contractOrg, contractProj, "prod"))
		k.srv.SetFaults(lost(http.MethodPut))
		s := map[string]any{"tag": "retried"}
		got, err := k.client.PutDeploymentSettings(t.Context(), contractOrg, contractProj, "prod", s)
		require.NoError(t, err)
		assert.Equal(t, s, got)
		assert.Equal(t, int64(1), k.client.Stats().Retries)
	})

	t.Run("DeleteWebhook", func(t *testing.T) {
		t.Parallel()
		k := newContract(t)
		created := k.createHook(t, orgScope, sampleWebhook(orgScope))
		k.srv.SetFaults(lost(http.MethodDelete))
		err := k.client.DeleteWebhook(t.Context(), orgScope, created.Name)
		requireAPIError(t, err, http.StatusNotFound)
		assertOnlySentinels(t, err, cloud.ErrNotFound)
		assert.Equal(t, int64(1), k.client.Stats().Retries)
		assert.Empty(t, k.srv.Webhooks())
	})

	t.Run("DeleteStack", func(t *testing.T) {
		t.Parallel()
		k := newContract(t)
		require.NoError(t, k.srv.CreateStack(contractOrg, contractProj, "prod"))
		k.srv.SetFaults(lost(http.MethodDelete))
		err := k.client.DeleteStack(t.Context(), contractOrg, contractProj, "prod", true)
		assert.ErrorIs(t, err, cloud.ErrNotFound)
		assert.Equal(t, int64(1), k.client.Stats().Retries)
		k.srv.SetFaults(emulator.Faults{})
		_, err = k.client.GetStack(t.Context(), contractOrg, contractProj, "prod")
		assert.ErrorIs(t, err, cloud.ErrNotFound)
	})
}

// CreateWebhookOnce against the emulator's faults: an answer lost after the create landed,
// a refusal before it did, and a name someone else took first.
func TestContractCreateWebhookOnce(t *testing.T) {
	t.Parallel()
	hook := func(name string) cloud.Webhook {
		w := sampleWebhook(stackScope)
		w.Name = name
		return w
	}
	cases := []struct {
		name        string
		faults      []emulator.FaultRule
		before      bool // the name is taken before the call
		wantOutcome cloud.CreateOutcome
		wantPosts   int
	}{
		{"answer lost after the create landed",
			[]emulator.FaultRule{{Method: http.MethodPost, Nth: 1, Status: 503, AfterApply: true}},
			false, cloud.Created, 1},
		{"refused twice before anything landed",
			[]emulator.FaultRule{{Method: http.MethodPost, Status: 503, Limit: 2}},
			false, cloud.Created, 3},
		{"answer lost, then a retry meets the landed create",
			[]emulator.FaultRule{{Method: http.MethodPost, Nth: 1, Status: 503, AfterApply: true},
				{Method: http.MethodGet, PathContains: "/hooks/", Nth: 1, Status: 404}},
			false, cloud.Created, 2},
		{"taken before the call", nil, true, cloud.Occupied, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			k := newContract(t)
			k.ensureScope(t, stackScope)
			if tc.before {
				_, err := k.client.CreateWebhook(t.Context(), stackScope, hook("taken"))
				require.NoError(t, err)
			}
			k.srv.SetFaults(emulator.Faults{Rules: tc.faults})
			k.srv.ResetStats()
			outcome, live, err := k.client.CreateWebhookOnce(t.Context(), stackScope, hook("taken"))
			require.NoError(t, err)
			assert.Equal(t, tc.wantOutcome, outcome)
			assert.Equal(t, "taken", live.Name)
			assert.Len(t, k.srv.Webhooks(), 1, "never two webhooks")
			assert.Equal(t, tc.wantPosts, k.srv.Stats().ByMethod[http.MethodPost])
		})
	}
}
