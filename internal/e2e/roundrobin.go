//go:build e2e

package e2e

import (
	"bytes"
	"io"
	"net/http"
	"slices"
	"sync"
)

// RoundRobin is a load balancer in front of relay replicas, as the webhooks' payload URL would name
// in production: each request goes to the next replica, and to the one after when that one does not
// answer (a process killed or not started yet). The replicas may change while it serves.
type RoundRobin struct {
	mu       sync.Mutex
	backends []string
	next     int
}

// NewRoundRobin balances over the replicas' base URLs.
func NewRoundRobin(backends ...string) *RoundRobin { return &RoundRobin{backends: backends} }

// Set replaces replica i's base URL, as when it restarted on another port.
func (rr *RoundRobin) Set(i int, base string) {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	rr.backends[i] = base
}

func (rr *RoundRobin) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rr.mu.Lock()
	backends := slices.Clone(rr.backends)
	rr.next++
	first := rr.next
	rr.mu.Unlock()
	for i := range backends {
		out, err := http.NewRequestWithContext(req.Context(), req.Method,
			backends[(first+i)%len(backends)]+req.URL.RequestURI(), bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		out.Header = req.Header.Clone()
		resp, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			continue
		}
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
		_ = resp.Body.Close()
		return
	}
	http.Error(w, "no relay replica answered", http.StatusBadGateway)
}
