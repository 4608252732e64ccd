package provider

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	mathrand "math/rand/v2"
	"time"

	"github.com/autodeploy-dev/pulumi-auto-deploy/provider/cloud"
)

// A create whose answer was lost is sent again, once nothing is found under its name,
// up to maxCreateAttempts times in all, waiting createBackoff doubled each time up to
// maxCreateBackoff (with jitter): about 24 s at most, for a service having a bad minute.
const (
	maxCreateAttempts = 10
	createBackoff     = 250 * time.Millisecond
	maxCreateBackoff  = 4 * time.Second
)

// createOutcome says what stands under the chosen name after createIdempotent.
type createOutcome int

const (
	created  createOutcome = iota // this call's create landed (perhaps an attempt whose answer was lost)
	occupied                      // the name was taken before this call: a 409 not caused by this call
)

// createIdempotent creates w under the name the caller chose. The client never repeats
// a create whose outcome is unknown, since that could make two webhooks; here the name
// makes it checkable: after a lost answer the webhook is read back, and the create is
// only sent again if nothing stands under the name.
func createIdempotent(
	ctx context.Context, client Client, scope cloud.WebhookScope, w cloud.Webhook,
) (createOutcome, cloud.Webhook, error) {
	lostAnswer := false
	for attempt := 1; ; attempt++ {
		live, err := client.CreateWebhook(ctx, scope, w)
		switch {
		case err == nil:
			return created, live, nil
		case errors.Is(err, cloud.ErrConflict):
			live, getErr := client.GetWebhook(ctx, scope, w.Name)
			if getErr != nil {
				return 0, cloud.Webhook{}, getErr
			}
			if lostAnswer {
				return created, live, nil // an earlier attempt of ours landed
			}
			return occupied, live, nil
		case !errors.Is(err, cloud.ErrAmbiguous) || attempt == maxCreateAttempts:
			return 0, cloud.Webhook{}, err
		}
		lostAnswer = true
		live, getErr := client.GetWebhook(ctx, scope, w.Name)
		if getErr == nil {
			return created, live, nil
		}
		if !errors.Is(getErr, cloud.ErrNotFound) {
			return 0, cloud.Webhook{}, getErr
		}
		// Nothing landed, so sending it again cannot duplicate it; give the service a moment.
		if err := sleep(ctx, createRetryDelay(attempt)); err != nil {
			return 0, cloud.Webhook{}, err
		}
	}
}

// createRetryDelay is the wait after the given failed attempt: exponential, capped, and
// jittered so that resources failing together do not retry together.
func createRetryDelay(attempt int) time.Duration {
	d := min(createBackoff<<(attempt-1), maxCreateBackoff)
	return d/2 + mathrand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// randomWebhookName makes a name like the ones the service generates (8 hex characters).
func randomWebhookName() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}
