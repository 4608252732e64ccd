package emulator

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"slices"
	"strings"
)

// notSentBody is the recorded answer of deliveries the emulator does not send: every URL but an http
// one on this machine (delivery_http.go), so tests stay hermetic and a stray payloadUrl cannot reach a
// real service.
const notSentBody = "emulator: not sent; the emulator only sends raw webhooks to http URLs on this machine"

// delivery is a Delivery tied to the hook that made it.
type delivery struct {
	Delivery
	hookID int64
}

// event is something that happened to a stack or an environment, with the payload webhooks receive.
// name is the event as filters name it (update_succeeded); its kind follows from it (webhookKind).
type event struct {
	name    string
	subject Scope
	payload []byte
}

// cascade delivers events breadth first: every webhook of one event before the events of the deployments
// it started, so the order of deployments is the order of the dependency tree's levels. It runs under
// the store's lock, which makes a whole cascade atomic to every other request; the HTTP deliveries it
// records are only sent once it is over, outside the lock (sends, delivery_http.go).
type cascade struct {
	s     *store
	queue []event
	res   CascadeResult
	sends []sendJob
}

func (s *store) newCascade() *cascade {
	return &cascade{s: s, res: CascadeResult{Deployments: []Deployment{}, FailedDeliveries: []Delivery{}}}
}

// run delivers the queued events and what they set off, then hands the HTTP deliveries to the outbox
// and, with timed deployments, starts the deployments that can start. Callers hold s.mu.
func (c *cascade) run() CascadeResult {
	for len(c.queue) > 0 && !c.res.Truncated {
		ev := c.queue[0]
		c.queue = c.queue[1:]
		for _, h := range c.s.subscribersLocked(ev) {
			c.deliver(h, ev, "")
			if c.res.Truncated {
				break
			}
		}
	}
	c.s.outbox.enqueue(c.sends...)
	c.sends = nil
	c.s.scheduleTimedLocked()
	c.s.changes.broadcast()
	return c.res
}

// subscribersLocked lists the active webhooks that want ev: those of its stack or environment, then
// those of its organization, each in creation order.
func (s *store) subscribersLocked(ev event) []*hook {
	var out []*hook
	scopes := []string{ev.subject.Path(), Scope{Type: ScopeOrganization, Org: ev.subject.Org}.Path()}
	for _, p := range scopes {
		hs := s.hooks[p]
		if hs == nil {
			continue
		}
		for _, h := range hs.list {
			if h.active && h.wants(ev.name) {
				out = append(out, h)
			}
		}
	}
	return out
}

// wants reports whether the hook's filters or groups select the event; with neither, every event does.
func (h *hook) wants(name string) bool {
	if len(h.filters) == 0 && len(h.groups) == 0 {
		return true
	}
	return slices.Contains(h.filters, name) || slices.Contains(h.groups, eventGroups[name])
}

// deliver records one delivery of an event to h. A pulumi_deployments hook starts a deployment of its
// target, whose own events join the queue; a raw hook on this machine is sent once the cascade is over;
// other deliveries only record what would have been sent.
func (c *cascade) deliver(h *hook, ev event, redeliveryOf string) Delivery {
	s := c.s
	if h.format != FormatPulumiDeployments {
		d, job := s.recordOutgoingLocked(h, ev, redeliveryOf, true)
		if job != nil {
			c.sends = append(c.sends, *job)
		}
		return d
	}
	project, name, _ := strings.Cut(h.payloadURL, "/")
	st := s.stacks[resourceKey(h.scope.Org, project, name)]
	if st != nil && st.settings != nil && len(c.res.Deployments) >= s.maxCascade {
		c.res.Truncated = true
		return Delivery{}
	}
	d := s.recordDelivery(h, ev, redeliveryOf, func(d *Delivery) {
		d.ResponseHeaders = "Content-Type: application/json"
		switch {
		case st == nil:
			d.ResponseCode = http.StatusNotFound
			d.ResponseBody = string(mustJSON(errorf(http.StatusNotFound,
				"Stack '%s/%s/%s' not found", h.scope.Org, project, name)))
		case st.settings == nil:
			d.ResponseCode = http.StatusBadRequest
			d.ResponseBody = string(mustJSON(errorf(http.StatusBadRequest,
				"Stack '%s/%s/%s' has no deployment settings", st.org, st.project, st.name)))
		default:
			dep := c.startDeployment(st, "update", Cause{Kind: CauseWebhook, Webhook: h.ref(), Event: ev.name, DeliveryID: d.ID},
				copyJSON(st.settings))
			d.DeploymentID = dep.ID
			d.ResponseCode = http.StatusAccepted
			d.ResponseBody = string(mustJSON(map[string]any{"id": dep.ID, "consoleUrl": consoleURL(dep), "version": dep.Version}))
		}
	})
	if d.Failed() {
		c.res.FailedDeliveries = append(c.res.FailedDeliveries, d)
	}
	return d
}

// recordDelivery stores a delivery whose response fill sets. The delivery has its id before fill runs, so
// a deployment it starts can name it as the cause. Callers hold s.mu.
func (s *store) recordDelivery(h *hook, ev event, redeliveryOf string, fill func(*Delivery)) Delivery {
	d := Delivery{
		DeliveryRecord: DeliveryRecord{
			ID:         s.newID(),
			Kind:       webhookKind(ev.name),
			Payload:    string(ev.payload),
			Timestamp:  s.now().Unix(),
			RequestURL: h.payloadURL,
		},
		Event:        ev.name,
		Webhook:      h.ref(),
		RedeliveryOf: redeliveryOf,
	}
	d.RequestHeaders = formatHeaders(deliveryHeaders(h.secret, d.ID, d.Kind, ev.payload))
	fill(&d)
	s.deliveries = append(s.deliveries, delivery{Delivery: d, hookID: h.id})
	return d
}

// deliveryHeaders are the headers of a delivery, as Pulumi's webhook documentation lists them: the
// delivery's id, the event kind and, for a webhook with a secret, the signature of the exact body.
func deliveryHeaders(secret, id, kind string, payload []byte) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", deliveryUserAgent)
	h.Set("Pulumi-Webhook-ID", id)
	h.Set("Pulumi-Webhook-Kind", kind)
	if secret != "" {
		h.Set("Pulumi-Webhook-Signature", Sign(secret, payload))
	}
	return h
}

// Sign returns the Pulumi-Webhook-Signature of a payload: the hex HMAC-SHA256 keyed with the secret.
func Sign(secret string, payload []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(payload)
	return hex.EncodeToString(mac.Sum(nil))
}

// formatHeaders writes headers as a delivery records them: one "Name: value" line each, sorted, every
// line ended by CRLF, as in the documentation's example of a delivery.
func formatHeaders(h http.Header) string {
	var b strings.Builder
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range h {
			if !yield(k) {
				return
			}
		}
	}) {
		b.WriteString(k + ": " + strings.Join(h[k], ", ") + "\r\n")
	}
	return b.String()
}

// FireUpdate records a successful update of the stack, as `pulumi up` would, that starts and ends at
// once, with the outputs it leaves (nil: the previous version's), and runs the cascade of deployments its
// update_succeeded event sets off before returning (StartUpdate).
func (s *store) FireUpdate(org, project, name string, outputs *StackOutputs) (CascadeResult, error) {
	res, err := s.StartUpdate(org, project, name, Update{Outputs: outputs})
	return res.CascadeResult, err
}

// FireEnvironmentRevision records a new revision of the environment and runs the cascade its
// environment_revision_created event sets off, which is how environment webhooks redeploy stacks.
func (s *store) FireEnvironmentRevision(org, project, name string) (CascadeResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	env, err := s.environmentLocked(org, project, name)
	if err != nil {
		return CascadeResult{}, err
	}
	env.revision++
	c := s.newCascade()
	c.queue = append(c.queue, environmentEvent("environment_revision_created", "created", env, env.revision))
	return c.run(), nil
}
