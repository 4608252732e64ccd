package emulator

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// faultHarness is an emulator with a raw webhook on acme/app/net that sends update_succeeded to a
// receiver on this machine, and a second one to another receiver the faults never select.
type faultHarness struct {
	*harness
	rc, other *receiver
}

func newFaultHarness(t *testing.T) faultHarness {
	t.Helper()
	h := newHarness(t)
	seedStacks(t, h.srv, "acme", "app", "net")
	f := faultHarness{harness: h, rc: newReceiver(t, "s", nil), other: newReceiver(t, "s", nil)}
	h.createStackHook(t, rawHook("net", "relay", f.rc.url, "s", "update_succeeded"))
	h.createStackHook(t, rawHook("net", "bystander", f.other.url, "s", "update_succeeded"))
	return f
}

func (f faultHarness) fire(t *testing.T, times int) {
	t.Helper()
	for range times {
		_, err := f.srv.FireUpdate("acme", "app", "net")
		require.NoError(t, err)
	}
}

// versionsOf reads the stack version each request's payload names, in the order the requests arrived.
func versionsOf(t *testing.T, got []received) []string {
	t.Helper()
	out := []string{}
	for _, r := range got {
		var p updatePayload
		require.NoError(t, json.Unmarshal(r.body, &p))
		out = append(out, p.UpdateURL[len(p.UpdateURL)-1:])
	}
	return out
}

func TestDeliveryFaultDropLosesTheNextDeliveries(t *testing.T) {
	t.Parallel()
	f := newFaultHarness(t)
	set := must[deliveryFaultsWire](t, f.send(http.MethodPut, "/_emulator/deliveries/faults",
		map[string]any{"urlPrefix": f.rc.url, "drop": 2}, nil), http.StatusOK)
	assert.Equal(t, deliveryFaultsWire{URLPrefix: f.rc.url, Drop: 2}, set)
	f.fire(t, 3)
	waitIdle(t, f.srv)

	assert.Equal(t, []string{"3"}, versionsOf(t, f.rc.requests()), "the first two were lost")
	assert.Len(t, f.other.requests(), 3, "another URL is not touched")
	ds := deliveriesOf(f.srv, "relay")
	require.Len(t, ds, 3)
	for _, d := range ds[:2] {
		assert.Equal(t, "lost", d.Fault)
		assert.Zero(t, d.ResponseCode)
		assert.False(t, d.Pending)
		assert.True(t, d.Failed())
	}
	assert.Empty(t, ds[2].Fault)
	assert.Equal(t, http.StatusNoContent, ds[2].ResponseCode)
	assert.Zero(t, f.srv.CurrentDeliveryFaults().Drop, "drop counts down")
}

func TestDeliveryFaultDuplicateSendsTwice(t *testing.T) {
	t.Parallel()
	f := newFaultHarness(t)
	require.NoError(t, f.srv.SetDeliveryFaults(DeliveryFaults{URLPrefix: f.rc.url, Duplicate: true}))
	f.fire(t, 1)
	waitIdle(t, f.srv)
	got := f.rc.requests()
	require.Len(t, got, 2)
	assert.Equal(t, got[0].header.Get("Pulumi-Webhook-ID"), got[1].header.Get("Pulumi-Webhook-ID"))
	assert.Equal(t, got[0].body, got[1].body)
	assert.True(t, got[1].signed)
	assert.Equal(t, "sent twice", deliveriesOf(f.srv, "relay")[0].Fault)
	assert.Len(t, f.other.requests(), 1)
}

func TestDeliveryFaultReorderSendsNewestFirst(t *testing.T) {
	t.Parallel()
	f := newFaultHarness(t)
	require.NoError(t, f.srv.SetDeliveryFaults(DeliveryFaults{URLPrefix: f.rc.url, Reorder: 3}))
	f.fire(t, 2)
	assert.Empty(t, f.rc.requests(), "held until three wait")
	assert.True(t, deliveriesOf(f.srv, "relay")[1].Pending)
	assert.False(t, f.srv.Idle(), "held deliveries are on their way")
	f.fire(t, 1)
	waitIdle(t, f.srv)
	assert.Equal(t, []string{"3", "2", "1"}, versionsOf(t, f.rc.requests()))
	assert.Equal(t, "reordered", deliveriesOf(f.srv, "relay")[0].Fault)

	// Clearing the faults sends what is held, and what follows goes in order.
	f.fire(t, 1)
	require.Len(t, f.rc.requests(), 3, "held again")
	require.Equal(t, http.StatusNoContent, f.send(http.MethodDelete, "/_emulator/deliveries/faults", nil, nil).status)
	waitIdle(t, f.srv)
	f.fire(t, 1)
	waitIdle(t, f.srv)
	assert.Equal(t, []string{"3", "2", "1", "4", "5"}, versionsOf(t, f.rc.requests()))
	assert.Equal(t, deliveryFaultsWire{}, must[deliveryFaultsWire](t, f.send(http.MethodGet, "/_emulator/deliveries/faults", nil, nil), http.StatusOK))
}

func TestDeliveryFaultDelay(t *testing.T) {
	t.Parallel()
	f := newFaultHarness(t)
	require.NoError(t, f.srv.SetDeliveryFaults(DeliveryFaults{URLPrefix: f.rc.url, Delay: 20 * time.Millisecond}))
	f.fire(t, 1)
	waitIdle(t, f.srv)
	assert.Len(t, f.rc.requests(), 1)
	assert.Equal(t, "delayed 20ms", deliveriesOf(f.srv, "relay")[0].Fault)

	// A delivery delayed past the test's end is cancelled by Close, not left behind.
	require.NoError(t, f.srv.SetDeliveryFaults(DeliveryFaults{URLPrefix: f.rc.url, Delay: time.Hour}))
	f.fire(t, 1)
	assert.True(t, deliveriesOf(f.srv, "relay")[1].Pending)
	assert.False(t, f.srv.Idle())
	f.srv.Close()
	d := deliveriesOf(f.srv, "relay")[1]
	assert.False(t, d.Pending)
	assert.Zero(t, d.ResponseCode)
	assert.Contains(t, d.ResponseBody, "context canceled")
	assert.Len(t, f.rc.requests(), 1)
}

func TestDeliveryFaultsRefusals(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, tc := range []struct {
		body map[string]any
		want string
	}{
		{map[string]any{"drop": -1}, "drop -1 is invalid: use 0 or the number of deliveries to lose"},
		{map[string]any{"delayMs": -5}, "delayMs -5 is invalid: use 0 to 3600000"},
		{map[string]any{"reorder": 1}, "reorder 1 is invalid: use 0 (keep the order) or the number of deliveries to hold"},
	} {
		assert.Contains(t, mustError(t, h.send(http.MethodPut, "/_emulator/deliveries/faults", tc.body, nil), http.StatusBadRequest), tc.want)
	}
	assert.Equal(t, DeliveryFaults{}, h.srv.CurrentDeliveryFaults(), "a refused configuration changes nothing")
}
