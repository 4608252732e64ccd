package emulator

import (
	"net/http"
)

// recordOutgoingLocked records a delivery to a webhook that calls a URL (every format but
// pulumi_deployments). A raw webhook on this machine gets a pending delivery and a job for the outbox
// to send; any other is recorded as not sent. Callers hold s.mu.
func (s *store) recordOutgoingLocked(h *hook, ev event, redeliveryOf string) (Delivery, *sendJob) {
	if h.format != FormatRaw || !sendableURL(h.payloadURL) || !s.outbox.open() {
		return s.recordDelivery(h, ev, redeliveryOf, func(d *Delivery) {
			d.ResponseCode = http.StatusOK
			d.ResponseBody = notSentBody
		}), nil
	}
	d := s.recordDelivery(h, ev, redeliveryOf, func(d *Delivery) { d.Pending = true })
	job := &sendJob{
		deliveryID: d.ID,
		url:        h.payloadURL,
		body:       append([]byte(nil), ev.payload...),
		header:     deliveryHeaders(h.secret, d.ID, d.Kind, ev.payload),
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
