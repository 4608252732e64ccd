package emulator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Deliveries over HTTP.
//
// A delivery to a raw webhook whose payloadUrl is an http URL on this machine (host 127.0.0.1 or any
// loopback address, [::1], or localhost) is really POSTed, with the headers Pulumi sends; every other
// delivery is only recorded, as before, so that no test can reach a real service by accident. The
// request goes out after the cascade that made it, outside the store's lock: a receiver that calls the
// emulator back while it handles the delivery (a relay starting a deployment) must not wait on a lock
// its own delivery holds. The delivery is recorded pending first and completed with the real answer.
//
// Cascades hand their deliveries to the outbox, which sends them on at most deliveryWorkers
// goroutines, in the order they came, each request bounded by Options.DeliveryTimeout. Ping and
// redeliver send theirs at once instead, so their answer is the delivery as sent.

const (
	deliveryWorkers        = 4
	defaultDeliveryTimeout = 10 * time.Second
	// maxRecordedResponse caps the response body a delivery records.
	maxRecordedResponse = 64 << 10
	deliveryUserAgent   = "pulumi-cloud-emulator"
)

// sendJob is one delivery to send: its id, so the answer can be recorded, the request, and what the
// delivery faults do to it (delivery_faults.go).
type sendJob struct {
	deliveryID string
	url        string
	body       []byte
	header     http.Header
	plan       deliveryPlan
}

// sendResult is what came back, as a delivery records it. code 0 means no answer at all.
type sendResult struct {
	code     int
	header   string
	body     string
	duration time.Duration
}

// sendableURL reports whether a payloadUrl is one the emulator sends to: http, and a host on this
// machine.
func sendableURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" {
		return false
	}
	return loopbackHostname(u.Hostname())
}

// loopbackHostname reports whether a host name (without port or brackets) is localhost or a loopback
// address.
func loopbackHostname(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.Unmap().IsLoopback()
}

// outbox sends deliveries on a few goroutines that exist only while there is something to send.
type outbox struct {
	client *http.Client
	// complete records a send's answer; it takes the store's lock, so it is never called with o.mu held.
	complete func(sendJob, sendResult)
	ctx      context.Context
	cancel   context.CancelFunc

	mu       sync.Mutex
	queue    []sendJob
	workers  int
	inflight int // held, delayed, queued or being sent: one per send
	closed   bool
	wg       sync.WaitGroup
	// faults are the delivery faults in force; held are the deliveries they hold for reordering
	// (delivery_faults.go).
	faults DeliveryFaults
	held   []sendJob
}

func newOutbox(timeout time.Duration, complete func(sendJob, sendResult)) *outbox {
	if timeout <= 0 {
		timeout = defaultDeliveryTimeout
	}
	ctx, cancel := context.WithCancel(context.Background())
	dialer := &net.Dialer{Timeout: timeout}
	transport := &http.Transport{
		// Never through a proxy: the request is for this machine.
		Proxy: nil,
		// Dial only loopback addresses, whatever a host name resolves to.
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
			if err != nil {
				return nil, err
			}
			for _, ip := range ips {
				if ip.Unmap().IsLoopback() {
					return dialer.DialContext(ctx, network, net.JoinHostPort(ip.Unmap().String(), port))
				}
			}
			return nil, fmt.Errorf("%s does not resolve to a loopback address; the emulator sends to this machine only", host)
		},
		MaxIdleConnsPerHost: deliveryWorkers,
	}
	return &outbox{
		client: &http.Client{
			Transport: transport,
			Timeout:   timeout,
			// A redirect could lead anywhere; its answer is recorded as it is.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		complete: complete,
		ctx:      ctx,
		cancel:   cancel,
	}
}

// open reports whether the outbox still sends.
func (o *outbox) open() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return !o.closed
}

// idle reports whether nothing waits to be sent or is being sent.
func (o *outbox) idle() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.inflight == 0
}

// notSentClosed is the recorded answer of a delivery the emulator was closed before sending.
const notSentClosed = "emulator: not sent: the emulator was closed"

// enqueue hands deliveries to the workers, starting more as needed up to deliveryWorkers, after holding
// or delaying those the delivery faults say. It only takes o.mu, so the store may call it with its own
// lock held. On a closed outbox the deliveries are completed as not sent, on a goroutine of their own
// since completing takes the store's lock.
func (o *outbox) enqueue(jobs ...sendJob) {
	if len(jobs) == 0 {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		go func() {
			for _, j := range jobs {
				o.complete(j, sendResult{body: notSentClosed})
			}
		}()
		return
	}
	for _, j := range jobs {
		o.inflight += j.plan.copies
		switch {
		case j.plan.hold:
			o.holdLocked(j)
		case j.plan.delay > 0:
			o.sendInTurnLocked([]sendJob{j})
		default:
			for range j.plan.copies {
				o.queue = append(o.queue, j)
			}
		}
	}
	for o.workers < deliveryWorkers && o.workers < len(o.queue) {
		o.workers++
		o.wg.Add(1)
		go o.work()
	}
}

func (o *outbox) work() {
	defer o.wg.Done()
	for {
		o.mu.Lock()
		if len(o.queue) == 0 {
			o.workers--
			o.mu.Unlock()
			return
		}
		job := o.queue[0]
		o.queue = o.queue[1:]
		o.mu.Unlock()

		o.complete(job, o.send(o.ctx, job))

		o.mu.Lock()
		o.inflight--
		o.mu.Unlock()
	}
}

// send POSTs one delivery and reads the answer. It holds no lock.
func (o *outbox) send(ctx context.Context, job sendJob) sendResult {
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, job.url, bytes.NewReader(job.body))
	if err != nil {
		return sendResult{body: "emulator: delivery failed: " + err.Error()}
	}
	req.Header = job.header.Clone()
	resp, err := o.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return sendResult{body: "emulator: delivery failed: " + err.Error(), duration: time.Since(start)}
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxRecordedResponse))
	body := string(data)
	if err != nil {
		body += "\n[emulator: reading the response failed: " + err.Error() + "]"
	}
	for !utf8.ValidString(body) && len(body) > 0 {
		// A limit that cut a character in two leaves invalid UTF-8, which JSON cannot carry faithfully.
		body = body[:len(body)-1]
	}
	return sendResult{code: resp.StatusCode, header: formatHeaders(resp.Header), body: body, duration: time.Since(start)}
}

// sendNow sends one delivery on the caller's goroutine (ping and redeliver answer with it) and records
// the answer.
func (o *outbox) sendNow(ctx context.Context, job sendJob) {
	o.complete(job, o.send(ctx, job))
}

// close stops sending: deliveries under way (delayed ones included) are cancelled and recorded as
// failed, queued ones as not sent, held ones too, and it returns once the workers are gone.
func (o *outbox) close() {
	o.mu.Lock()
	o.closed = true
	held := o.held
	o.held = nil
	for _, j := range held {
		o.inflight -= j.plan.copies
	}
	o.mu.Unlock()
	for _, j := range held {
		o.complete(j, sendResult{body: notSentClosed})
	}
	o.cancel()
	o.wg.Wait()
	o.client.CloseIdleConnections()
}
