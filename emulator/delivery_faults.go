package emulator

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Delivery faults.
//
// Pulumi says webhook deliveries are not guaranteed to arrive in the order their events happened, and
// like any HTTP call one can be lost, arrive late or, retried by some hop, twice. A receiver that treats
// deliveries as hints (the cascade relay) must survive all four; DeliveryFaults makes the outbox do
// them on purpose to the deliveries it sends over HTTP. Each delivery records what was done to it
// (Delivery.Fault). Ping and redeliver, which a test calls by hand, are never touched.

// DeliveryFaults says what goes wrong with the deliveries the emulator sends over HTTP to payload URLs
// that start with URLPrefix ("" selects every one).
type DeliveryFaults struct {
	URLPrefix string
	// Drop loses the next Drop deliveries: each is recorded with response code 0 and fault "lost", and
	// never sent. It counts down.
	Drop int
	// Delay holds each delivery this long before it is sent, up to an hour.
	Delay time.Duration
	// Duplicate sends each delivery twice, with the same id, headers and body.
	Duplicate bool
	// Reorder holds deliveries until Reorder of them wait, then sends them newest first, one after the
	// other. 0 keeps the order; held deliveries are also sent when the faults change or are cleared.
	Reorder int
}

func validateDeliveryFaults(f DeliveryFaults) error {
	switch {
	case f.Drop < 0:
		return errorf(http.StatusBadRequest, "drop %d is invalid: use 0 or the number of deliveries to lose", f.Drop)
	case f.Delay < 0 || f.Delay > maxBehaviourDuration:
		return errorf(http.StatusBadRequest, "delayMs %d is invalid: use 0 to %d", f.Delay.Milliseconds(),
			maxBehaviourDuration.Milliseconds())
	case f.Reorder < 0 || f.Reorder == 1:
		return errorf(http.StatusBadRequest,
			"reorder %d is invalid: use 0 (keep the order) or the number of deliveries to hold and send newest first (2 or more)",
			f.Reorder)
	}
	return nil
}

// deliveryPlan is what the faults do to one delivery, decided when it is recorded.
type deliveryPlan struct {
	lost   bool
	delay  time.Duration
	copies int
	hold   bool
}

// describe is the plan as the delivery records it.
func (p deliveryPlan) describe() string {
	if p.lost {
		return "lost"
	}
	var parts []string
	if p.hold {
		parts = append(parts, "reordered")
	}
	if p.delay > 0 {
		parts = append(parts, fmt.Sprintf("delayed %s", p.delay))
	}
	if p.copies > 1 {
		parts = append(parts, "sent twice")
	}
	return strings.Join(parts, ", ")
}

// plan decides what the faults do to a delivery to url, counting a lost one down. It only takes o.mu,
// so the store may call it with its own lock held.
func (o *outbox) plan(url string) deliveryPlan {
	o.mu.Lock()
	defer o.mu.Unlock()
	p := deliveryPlan{copies: 1}
	f := &o.faults
	if !strings.HasPrefix(url, f.URLPrefix) {
		return p
	}
	if f.Drop > 0 {
		f.Drop--
		return deliveryPlan{lost: true}
	}
	p.delay, p.hold = f.Delay, f.Reorder > 1
	if f.Duplicate {
		p.copies = 2
	}
	return p
}

// setFaults replaces the faults; the deliveries held for reordering go on their way (on a closed
// outbox there are none: close took them).
func (o *outbox) setFaults(f DeliveryFaults) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.faults = f
	o.releaseHeldLocked()
}

func (o *outbox) currentFaults() DeliveryFaults {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.faults
}

// holdLocked keeps a delivery back for reordering, and sends what is held once as many wait as the
// faults say. Callers hold o.mu.
func (o *outbox) holdLocked(job sendJob) {
	o.held = append(o.held, job)
	if len(o.held) >= o.faults.Reorder {
		o.releaseHeldLocked()
	}
}

// releaseHeldLocked sends the held deliveries newest first, one after the other: sent side by side
// by the workers, they could arrive in any order, and a test could not count on their being reversed.
// Callers hold o.mu.
func (o *outbox) releaseHeldLocked() {
	if len(o.held) == 0 {
		return
	}
	slices.Reverse(o.held)
	o.sendInTurnLocked(o.held)
	o.held = nil
}

// sendInTurnLocked sends jobs one after the other, each after its delay and as many times as it is to
// be sent, on a goroutine of its own: the deliveries the faults delay or reorder. Closing the outbox
// cuts the waits short, and the sends then fail at once, recorded as cancelled. Callers hold o.mu and
// have checked that the outbox is open.
func (o *outbox) sendInTurnLocked(jobs []sendJob) {
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		for _, job := range jobs {
			if job.plan.delay > 0 {
				_ = sleepContext(o.ctx, job.plan.delay)
			}
			for range job.plan.copies {
				o.complete(job, o.send(o.ctx, job))
				o.mu.Lock()
				o.inflight--
				o.mu.Unlock()
			}
		}
	}()
}

// SetDeliveryFaults replaces the delivery faults (DeliveryFaults{} clears them); deliveries held for
// reordering are sent at once. An invalid field is a 400 *Error.
func (s *Server) SetDeliveryFaults(f DeliveryFaults) error {
	if err := validateDeliveryFaults(f); err != nil {
		return err
	}
	s.store.outbox.setFaults(f)
	return nil
}

// CurrentDeliveryFaults returns the delivery faults in force, Drop counted down by the deliveries lost.
func (s *Server) CurrentDeliveryFaults() DeliveryFaults { return s.store.outbox.currentFaults() }

// deliveryFaultsWire is the admin API's form of DeliveryFaults.
type deliveryFaultsWire struct {
	URLPrefix string `json:"urlPrefix"`
	Drop      int    `json:"drop"`
	DelayMs   int64  `json:"delayMs"`
	Duplicate bool   `json:"duplicate"`
	Reorder   int    `json:"reorder"`
}

func toDeliveryFaultsWire(f DeliveryFaults) deliveryFaultsWire {
	return deliveryFaultsWire{URLPrefix: f.URLPrefix, Drop: f.Drop, DelayMs: f.Delay.Milliseconds(),
		Duplicate: f.Duplicate, Reorder: f.Reorder}
}

// registerDeliveryFaultRoutes serves PUT (replace, answering what is in force), GET and DELETE (clear)
// of /_emulator/deliveries/faults.
func (s *Server) registerDeliveryFaultRoutes() {
	const path = "/_emulator/deliveries/faults"
	s.handle(s.admin, "GET "+path, func(*http.Request) (int, any, error) {
		return http.StatusOK, toDeliveryFaultsWire(s.CurrentDeliveryFaults()), nil
	})
	s.handle(s.admin, "PUT "+path, func(r *http.Request) (int, any, error) {
		var req deliveryFaultsWire
		if err := decodeJSON(r, &req); err != nil {
			return 0, nil, err
		}
		d, err := durationFromMs("delayMs", req.DelayMs)
		if err != nil {
			return 0, nil, err
		}
		f := DeliveryFaults{URLPrefix: req.URLPrefix, Drop: req.Drop, Delay: d, Duplicate: req.Duplicate, Reorder: req.Reorder}
		if err := s.SetDeliveryFaults(f); err != nil {
			return 0, nil, err
		}
		return http.StatusOK, toDeliveryFaultsWire(f), nil
	})
	s.handle(s.admin, "DELETE "+path, func(*http.Request) (int, any, error) {
		s.store.outbox.setFaults(DeliveryFaults{})
		return http.StatusNoContent, nil, nil
	})
}
