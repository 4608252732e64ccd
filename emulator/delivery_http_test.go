package emulator

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// received is one request a receiver got.
type received struct {
	method, path string
	header       http.Header
	body         []byte
	// signed is whether Pulumi-Webhook-Signature is the hex HMAC-SHA256 of the body under the secret,
	// checked as a receiver must: with hmac.Equal.
	signed bool
}

// receiver is a webhook endpoint on this machine that records what it gets and answers with answer.
type receiver struct {
	url    string
	secret string
	answer func(w http.ResponseWriter, r *http.Request)

	mu  sync.Mutex
	got []received
}

func newReceiver(t *testing.T, secret string, answer func(w http.ResponseWriter, r *http.Request)) *receiver {
	t.Helper()
	rc := &receiver{secret: secret, answer: answer}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mac := hmac.New(sha256.New, []byte(rc.secret))
		mac.Write(body)
		sig, _ := hex.DecodeString(r.Header.Get("Pulumi-Webhook-Signature"))
		rc.mu.Lock()
		rc.got = append(rc.got, received{method: r.Method, path: r.URL.Path, header: r.Header.Clone(), body: body,
			signed: hmac.Equal(sig, mac.Sum(nil))})
		rc.mu.Unlock()
		if rc.answer != nil {
			rc.answer(w, r)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(ts.Close)
	rc.url = ts.URL + "/pulumi-hook"
	return rc
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

// rawHook is a raw stack webhook on acme/app/{stack} that sends to url.
func rawHook(stack, name, url, secret string, filters ...string) map[string]any {
	body := stackHook("acme", "app", stack, map[string]any{"name": name, "payloadUrl": url, "filters": filters})
	if secret != "" {
		body["secret"] = secret
	}
	return body
}

func waitIdle(t *testing.T, s *Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	require.NoError(t, s.WaitIdle(ctx))
}

func deliveriesOf(s *Server, hook string) []Delivery {
	var out []Delivery
	for _, d := range s.Deliveries() {
		if d.Webhook.Name == hook {
			out = append(out, d)
		}
	}
	return out
}

func TestRawWebhookIsSentWithPulumisHeadersAndPayload(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, "s3cr3t", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Receiver", "relay")
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, "queued")
	})
	h := newHarness(t)
	seedStacks(t, h.srv, "acme", "app", "net")
	h.createStackHook(t, rawHook("net", "relay", rc.url, rc.secret, "update_succeeded"))

	_, err := h.srv.FireUpdateWithOutputs("acme", "app", "net", &StackOutputs{Plain: map[string]any{"vpcId": "vpc-1"}})
	require.NoError(t, err)
	waitIdle(t, h.srv)

	got := rc.requests()
	require.Len(t, got, 1)
	req := got[0]
	ds := deliveriesOf(h.srv, "relay")
	require.Len(t, ds, 1)
	d := ds[0]
	assert.Equal(t, http.MethodPost, req.method)
	assert.Equal(t, "/pulumi-hook", req.path)
	assert.True(t, req.signed, "Pulumi-Webhook-Signature is the HMAC of the exact body")
	assert.Equal(t, "application/json", req.header.Get("Content-Type"))
	assert.Equal(t, "pulumi-cloud-emulator", req.header.Get("User-Agent"))
	assert.Equal(t, d.ID, req.header.Get("Pulumi-Webhook-ID"))
	assert.Equal(t, "stack_update", req.header.Get("Pulumi-Webhook-Kind"))
	assert.Equal(t, d.Payload, string(req.body), "the body sent is the payload recorded")
	assert.JSONEq(t, `{
		"user": {"name": "Pulumi Cloud Emulator", "githubLogin": "emulator", "avatarUrl": "https://app.pulumi.com/emulator/avatar.png"},
		"organization": {"name": "acme", "githubLogin": "acme", "avatarUrl": "https://app.pulumi.com/acme/avatar.png"},
		"projectName": "app", "stackName": "net",
		"updateUrl": "https://app.pulumi.com/acme/app/net/updates/1",
		"kind": "update", "result": "succeeded", "resourceChanges": {}, "isPreview": false
	}`, string(req.body))

	assert.False(t, d.Pending)
	assert.False(t, d.Failed())
	assert.Equal(t, "update_succeeded", d.Event)
	assert.Equal(t, "stack_update", d.Kind)
	assert.Equal(t, http.StatusAccepted, d.ResponseCode)
	assert.Equal(t, "queued", d.ResponseBody)
	assert.Contains(t, d.ResponseHeaders, "X-Receiver: relay\r\n")
	assert.GreaterOrEqual(t, d.Duration, int64(0))
	assert.Contains(t, d.RequestHeaders, "Pulumi-Webhook-Signature: "+Sign(rc.secret, req.body)+"\r\n")

	// The API's delivery log shows the same answer.
	list := must[[]map[string]any](t, h.call(http.MethodGet, "/api/stacks/acme/app/net/hooks/relay/deliveries", nil), http.StatusOK)
	require.Len(t, list, 1)
	assert.Equal(t, float64(http.StatusAccepted), list[0]["responseCode"])
	assert.Equal(t, "queued", list[0]["responseBody"])
	assert.Equal(t, "stack_update", list[0]["kind"])
}

func TestDeliveryWithoutSecretIsNotSigned(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, "", nil)
	h := newHarness(t)
	seedStacks(t, h.srv, "acme", "app", "net")
	h.createStackHook(t, rawHook("net", "plain", rc.url, "", "update_succeeded"))
	_, err := h.srv.FireUpdate("acme", "app", "net")
	require.NoError(t, err)
	waitIdle(t, h.srv)
	got := rc.requests()
	require.Len(t, got, 1)
	assert.Empty(t, got[0].header.Values("Pulumi-Webhook-Signature"))
	assert.Equal(t, http.StatusNoContent, deliveriesOf(h.srv, "plain")[0].ResponseCode)
}

func TestOnlyRawWebhooksOnThisMachineAreSent(t *testing.T) {
	t.Parallel()
	for url, want := range map[string]bool{
		"http://127.0.0.1:8080/hook":  true,
		"http://127.9.9.9/hook":       true,
		"http://localhost:9/hook":     true,
		"http://LOCALHOST/hook":       true,
		"http://[::1]:8080/hook":      true,
		"https://127.0.0.1/hook":      false,
		"http://example.com/hook":     false,
		"http://10.0.0.1/hook":        false,
		"http://0.0.0.0:8080/hook":    false,
		"http://localhost.evil.test/": false,
		"http://127.0.0.1.nip.io/":    false,
		"ftp://127.0.0.1/":            false,
	} {
		assert.Equal(t, want, sendableURL(url), url)
	}

	rc := newReceiver(t, "", nil)
	h := newHarness(t)
	seedStacks(t, h.srv, "acme", "app", "net")
	h.createStackHook(t, rawHook("net", "remote", "http://example.com/hook", "", "update_succeeded"))
	slack := rawHook("net", "slack", rc.url, "", "update_succeeded")
	slack["format"] = "slack"
	h.createStackHook(t, slack)
	_, err := h.srv.FireUpdate("acme", "app", "net")
	require.NoError(t, err)
	waitIdle(t, h.srv)
	for _, name := range []string{"remote", "slack"} {
		ds := deliveriesOf(h.srv, name)
		require.Len(t, ds, 1)
		assert.Equal(t, notSentBody, ds[0].ResponseBody, name)
		assert.Equal(t, http.StatusOK, ds[0].ResponseCode, name)
	}
	assert.Empty(t, rc.requests(), "a slack webhook is never sent, even to this machine")
}

func TestRedeliverAndPingSendAgain(t *testing.T) {
	t.Parallel()
	var n int
	var mu sync.Mutex
	rc := newReceiver(t, "k", func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		n++
		count := n
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
		_, _ = fmt.Fprintf(w, "delivery %d", count)
	})
	h := newHarness(t)
	seedStacks(t, h.srv, "acme", "app", "net")
	h.createStackHook(t, rawHook("net", "relay", rc.url, rc.secret, "update_succeeded"))
	_, err := h.srv.FireUpdate("acme", "app", "net")
	require.NoError(t, err)
	waitIdle(t, h.srv)
	first := deliveriesOf(h.srv, "relay")[0]

	again := must[map[string]any](t, h.call(http.MethodPost,
		"/api/stacks/acme/app/net/hooks/relay/deliveries/"+first.ID+"/redeliver", nil), http.StatusOK)
	assert.Equal(t, float64(http.StatusOK), again["responseCode"], "the answer is the delivery as sent")
	assert.Equal(t, "delivery 2", again["responseBody"])
	assert.NotEqual(t, first.ID, again["id"])
	assert.Equal(t, first.Payload, again["payload"])

	ping := must[map[string]any](t, h.call(http.MethodPost, "/api/stacks/acme/app/net/hooks/relay/ping", nil), http.StatusOK)
	assert.Equal(t, "ping", ping["kind"])
	assert.Equal(t, "delivery 3", ping["responseBody"])

	got := rc.requests()
	require.Len(t, got, 3)
	assert.Equal(t, got[0].body, got[1].body, "a redelivery sends the same body")
	assert.Equal(t, again["id"], got[1].header.Get("Pulumi-Webhook-ID"), "under its own delivery id")
	assert.Equal(t, "stack_update", got[1].header.Get("Pulumi-Webhook-Kind"))
	assert.Equal(t, "ping", got[2].header.Get("Pulumi-Webhook-Kind"))
	var pingBody map[string]any
	require.NoError(t, json.Unmarshal(got[2].body, &pingBody))
	assert.Contains(t, pingBody, "timestamp")
	assert.Contains(t, pingBody, "message")
	for i, r := range got {
		assert.True(t, r.signed, "request %d", i)
	}
	redelivered := deliveriesOf(h.srv, "relay")[1]
	assert.Equal(t, first.ID, redelivered.RedeliveryOf)
	assert.Equal(t, "update_succeeded", redelivered.Event)
}

// A receiver that calls the emulator back while it handles a delivery, as a relay starting a
// deployment does, must not wait on a lock its own delivery holds: sends happen outside the store's
// lock, both for cascades and for redeliveries.
func TestReceiverMayCallBackDuringItsDelivery(t *testing.T) {
	t.Parallel()
	var h *harness
	rc := newReceiver(t, "", func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodPost, h.url+"/api/stacks/acme/app/web/deployments",
			strings.NewReader(`{"operation":"update","inheritSettings":true}`))
		req.Header.Set("Authorization", "token "+testToken)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer func() { _ = res.Body.Close() }()
		w.WriteHeader(res.StatusCode)
		_, _ = io.Copy(w, res.Body)
	})
	h = newHarness(t)
	seedStacks(t, h.srv, "acme", "app", "net", "web")
	h.createStackHook(t, rawHook("net", "relay", rc.url, "", "update_succeeded"))

	done := make(chan error, 1)
	go func() {
		_, err := h.srv.FireUpdate("acme", "app", "net")
		done <- err
	}()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("FireUpdate did not return: the delivery holds the store's lock")
	}
	waitIdle(t, h.srv)
	d := deliveriesOf(h.srv, "relay")[0]
	assert.Equal(t, http.StatusAccepted, d.ResponseCode, "the receiver's own call was answered: %s", d.ResponseBody)
	deps, err := h.srv.StackDeployments("acme", "app", "web")
	require.NoError(t, err)
	require.Len(t, deps, 1)
	assert.Contains(t, d.ResponseBody, deps[0].ID)

	again := must[map[string]any](t, h.call(http.MethodPost,
		"/api/stacks/acme/app/net/hooks/relay/deliveries/"+d.ID+"/redeliver", nil), http.StatusOK)
	assert.Equal(t, float64(http.StatusAccepted), again["responseCode"])
	deps, err = h.srv.StackDeployments("acme", "app", "web")
	require.NoError(t, err)
	assert.Len(t, deps, 2)
}

func TestFailedSendsAreRecorded(t *testing.T) {
	t.Parallel()
	broken := newReceiver(t, "", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	})
	slow := newReceiver(t, "", func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closedURL := "http://" + ln.Addr().String() + "/hook"
	require.NoError(t, ln.Close())

	h := newHarness(t, func(o *Options) { o.DeliveryTimeout = 200 * time.Millisecond })
	seedStacks(t, h.srv, "acme", "app", "net")
	for name, url := range map[string]string{"broken": broken.url, "slow": slow.url, "closed": closedURL} {
		h.createStackHook(t, rawHook("net", name, url, "", "update_succeeded"))
	}
	_, err = h.srv.FireUpdate("acme", "app", "net")
	require.NoError(t, err)
	waitIdle(t, h.srv)

	require.Len(t, deliveriesOf(h.srv, "broken"), 1)
	assert.Len(t, broken.requests(), 1, "a failed delivery is not retried")
	d := deliveriesOf(h.srv, "broken")[0]
	assert.True(t, d.Failed())
	assert.Equal(t, http.StatusInternalServerError, d.ResponseCode)
	assert.Equal(t, "boom\n", d.ResponseBody)
	for _, name := range []string{"slow", "closed"} {
		d := deliveriesOf(h.srv, name)[0]
		assert.True(t, d.Failed(), name)
		assert.Zero(t, d.ResponseCode, "%s: no answer at all", name)
		assert.True(t, strings.HasPrefix(d.ResponseBody, "emulator: delivery failed: "), "%s: %s", name, d.ResponseBody)
	}
	assert.Contains(t, deliveriesOf(h.srv, "slow")[0].ResponseBody, "Timeout")

	failed := h.srv.store.ConsoleView().FailedDeliveries
	assert.Len(t, failed, 3, "the console lists them")
}

// The outbox sends on at most deliveryWorkers goroutines: with every receiver busy, the rest wait,
// pending, in the queue.
func TestDeliveriesRunAtMostFourAtATime(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	arrived := make(chan struct{}, 16)
	rc := newReceiver(t, "", func(w http.ResponseWriter, _ *http.Request) {
		arrived <- struct{}{}
		<-release
		w.WriteHeader(http.StatusOK)
	})
	h := newHarness(t)
	seedStacks(t, h.srv, "acme", "app", "net")
	for i := range 10 {
		h.createStackHook(t, rawHook("net", fmt.Sprintf("h%d", i), rc.url, "", "update_succeeded"))
	}
	_, err := h.srv.FireUpdate("acme", "app", "net")
	require.NoError(t, err)
	for range deliveryWorkers {
		<-arrived
	}
	o := h.srv.store.outbox
	o.mu.Lock()
	workers, queued, inflight := o.workers, len(o.queue), o.inflight
	o.mu.Unlock()
	assert.Equal(t, deliveryWorkers, workers)
	assert.Equal(t, 10-deliveryWorkers, queued, "the others wait their turn")
	assert.Equal(t, 10, inflight)
	assert.False(t, h.srv.Idle())

	pending := 0
	for _, d := range h.srv.Deliveries() {
		if d.Pending {
			pending++
			assert.Zero(t, d.ResponseCode)
			assert.False(t, d.Failed(), "pending is not failed")
		}
	}
	assert.Equal(t, 10, pending)

	close(release)
	waitIdle(t, h.srv)
	assert.Len(t, rc.requests(), 10)
	for _, d := range h.srv.Deliveries() {
		assert.Equal(t, http.StatusOK, d.ResponseCode)
	}
}

func TestCloseCancelsDeliveries(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{}, 1)
	rc := newReceiver(t, "", func(_ http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done()
	})
	srv := New(Options{Token: testToken})
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	h := &harness{t: t, srv: srv, url: ts.URL}
	seedStacks(t, srv, "acme", "app", "net")
	h.createStackHook(t, rawHook("net", "relay", rc.url, "", "update_succeeded"))
	_, err := srv.FireUpdate("acme", "app", "net")
	require.NoError(t, err)
	<-arrived
	srv.Close()
	d := deliveriesOf(srv, "relay")[0]
	assert.False(t, d.Pending, "Close returns once the delivery is recorded")
	assert.Contains(t, d.ResponseBody, "context canceled")

	// After Close nothing is sent any more.
	_, err = srv.FireUpdate("acme", "app", "net")
	require.NoError(t, err)
	later := deliveriesOf(srv, "relay")[1]
	assert.Equal(t, notSentBody, later.ResponseBody)
	assert.Len(t, rc.requests(), 1)
}
