package emulator

import (
	"net/http"
)

// recordOutgoingLocked records a delivery to a webhook that calls a URL (every format but
// pulumi_deployments). A raw webhook on this machine gets a pending delivery and a job for the outbox
// to send, unless the delivery faults lose it when withFaults is set (a cascade's delivery, not a ping
// or a redelivery a test asked for); any other is recorded as not sent. Callers hold s.mu.
func (s *store) recordOutgoingLocked(h *hook, ev event, redeliveryOf string, withFaults bool) (Delivery, *sendJob) {
	if h.format != FormatRaw || !sendableURL(h.payloadURL) || !s.outbox.open() {
		return s.recordDelivery(h, ev, redeliveryOf, func(d *Delivery) {
			d.ResponseCode = http.StatusOK
			d.ResponseBody = notSentBody
		}), nil
	}
	plan := deliveryPlan{copies: 1}
	if withFaults {
		plan = s.outbox.plan(h.payloadURL)
	}
	if plan.lost {
		return s.recordDelivery(h, ev, redeliveryOf, func(d *Delivery) {
			d.ResponseBody = "emulator: not sent: lost on purpose by a delivery fault"
			d.Fault = plan.describe()
		}), nil
	}
	d := s.recordDelivery(h, ev, redeliveryOf, func(d *Delivery) { d.Pending, d.Fault = true, plan.describe() })
	job := &sendJob{
		deliveryID: d.ID,
		url:        h.payloadURL,
		body:       append([]byte(nil), ev.payload...),
		header:     deliveryHeaders(h.secret, d.ID, d.Kind, ev.payload),
		plan:       plan,
	}
	return d, job
}

// completeDelivery records the answer to a delivery the outbox sent, and returns the delivery as it
// now is.
func (s *store) completeDelivery(job sendJob, res sendResult) Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.changes.broadcast()
	for i := len(s.deliveries) - 1; i >= 0; i-- {
		d := &s.deliveries[i]
		if d.ID != job.deliveryID {
			continue
		}
		d.Pending = false
		d.ResponseCode = res.code
		d.ResponseHeaders = res.header
		d.ResponseBody = res.body
		d.Duration = res.duration.Milliseconds()
		return d.Delivery
	}
	return Delivery{}
}

// Delivery returns one delivery by id.
func (s *store) Delivery(id string) (Delivery, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.deliveries) - 1; i >= 0; i-- {
		if s.deliveries[i].ID == id {
			return s.deliveries[i].Delivery, true
		}
	}
	return Delivery{}, false
}
