package cloud

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// CreateOutcome says what stands under a webhook's name after CreateWebhookOnce.
type CreateOutcome int

const (
	// Created means this call's create landed (perhaps an attempt whose answer was lost).
	Created CreateOutcome = iota
	// Occupied means the name was taken before this call (a 409 this call did not cause).
	Occupied
)

// CreateWebhookOnce creates w under the name the caller chose in w.Name, never twice.
// CreateWebhook leaves a create whose outcome is unknown to the caller (ErrAmbiguous),
// since sending it again could make two webhooks; a chosen name makes it checkable: the
// webhook is read back, and the create is only sent again if nothing stands under the
// name. Repeats follow the client's RetryPolicy (its attempts, backoff, sleep and time
// budget).
// The webhook returned is the one under the name, whoever made it.
//
// A 409 whose webhook is gone when read back (its maker deleted it in between) is sent
// again the same way.
//
// Calls POST {hooks}, and GET {hooks}/{name} to settle a 409 or an unknown outcome.
func (c *Client) CreateWebhookOnce(ctx context.Context, scope WebhookScope, w Webhook) (CreateOutcome, Webhook, error) {
	if w.Name == "" {
		return 0, Webhook{}, errors.New("cloud: CreateWebhookOnce needs a webhook name chosen by the caller")
	}
	p := c.retry
	start := time.Now()
	lostAnswer := false
	for attempt := 1; ; attempt++ {
		live, err := c.CreateWebhook(ctx, scope, w)
		switch {
		case err == nil:
			return Created, live, nil
		case errors.Is(err, ErrConflict):
			live, getErr := c.GetWebhook(ctx, scope, w.Name)
			switch {
			case getErr == nil && lostAnswer:
				return Created, live, nil // an earlier attempt of ours landed
			case getErr == nil:
				return Occupied, live, nil
			case !errors.Is(getErr, ErrNotFound) || attempt >= p.MaxAttempts:
				// The create's answer is what the caller asked about; the read back only
				// says why it cannot be settled.
				return 0, Webhook{}, fmt.Errorf("%w (reading back the webhook that holds the name failed: %v)", err,
					getErr)
			}
			// The webhook that held the name was deleted between the two requests (another
			// program undoing an edge it had written pending): nothing stands under the name
			// now, so sending the create again cannot duplicate it.
		case !errors.Is(err, ErrAmbiguous):
			return 0, Webhook{}, err
		default:
			lostAnswer = true
			live, getErr := c.GetWebhook(ctx, scope, w.Name)
			if getErr == nil {
				return Created, live, nil
			}
			if !errors.Is(getErr, ErrNotFound) {
				return 0, Webhook{}, getErr
			}
			// Nothing landed, so sending it again cannot duplicate it.
			if attempt >= p.MaxAttempts {
				return 0, Webhook{}, fmt.Errorf("%w (gave up after %d attempts)", err, attempt)
			}
		}
		// Retry as any request is, within the same attempts and time budget.
		wait := p.backoff(attempt)
		if time.Since(start)+wait > p.MaxElapsed {
			return 0, Webhook{}, err
		}
		if err := p.Sleep(ctx, wait); err != nil {
			return 0, Webhook{}, err
		}
	}
}
