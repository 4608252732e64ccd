package relay

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/autodeploy-dev/pulumi-auto-deploy/edge"
)

// HTTPLimits bound what the clients of the relay's addresses can hold, so that slow or idle
// clients on the open internet cannot take its file descriptors or memory. Zero fields take the
// defaults, which a webhook sender (a few kilobytes, sent at once) never comes near.
type HTTPLimits struct {
	// MaxConnections caps the connections each address holds open at once (1024 by default).
	// Beyond it a connection waits in the kernel's accept queue, costing the process nothing,
	// until the timeouts below free a slot.
	MaxConnections int
	// ReadHeaderTimeout bounds the reading of a request's headers (5s), against clients that
	// dribble them (slowloris); ReadTimeout the reading of the whole request, body included
	// (15s), against clients that dribble the body.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	// WriteTimeout bounds a request's handling and answer (30s), against clients that do not
	// read it; IdleTimeout how long a kept-alive connection may wait for its next request (30s).
	WriteTimeout time.Duration
	IdleTimeout  time.Duration
	// MaxHeaderBytes bounds a request's headers (16 KiB); a delivery's body is bounded apart
	// (maxDeliveryBytes).
	MaxHeaderBytes int
}

// DefaultMaxConnections is HTTPLimits.MaxConnections when unset.
const DefaultMaxConnections = 1024

func (l HTTPLimits) withDefaults() HTTPLimits {
	orDefault := func(d *time.Duration, def time.Duration) {
		if *d <= 0 {
			*d = def
		}
	}
	if l.MaxConnections <= 0 {
		l.MaxConnections = DefaultMaxConnections
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = 16 << 10
	}
	orDefault(&l.ReadHeaderTimeout, 5*time.Second)
	orDefault(&l.ReadTimeout, 15*time.Second)
	orDefault(&l.WriteTimeout, 30*time.Second)
	orDefault(&l.IdleTimeout, 30*time.Second)
	return l
}

// checkOrganizations refuses an --organization that no delivery could name.
func checkOrganizations(orgs []string) error {
	for _, org := range orgs {
		if !edge.ValidName(org) {
			return fmt.Errorf("--organization %q is not an organization name: 1-100 letters, digits, '-', '_' or '.'",
				org)
		}
	}
	return nil
}

// frontDoor is the relay's HTTP side: a server on the hooks address and, with AdminAddr, one
// on the admin address.
type frontDoor struct {
	servers []*http.Server
	served  chan error
}

// listen opens the relay's addresses and decides which routes each serves. The hooks address
// serves the admin routes too only when no admin address is set and it is a loopback address,
// which only this machine reaches: a relay listening on a public address without --admin-addr
// serves its state to no one rather than to everyone.
func (r *Relay) listen() (*frontDoor, error) {
	limits := r.cfg.HTTP.withDefaults()
	hooksLn, err := listenCapped(r.cfg.Addr, limits.MaxConnections)
	if err != nil {
		return nil, fmt.Errorf("--addr %s: %w", r.cfg.Addr, err)
	}
	r.addr = hooksLn.Addr().String()
	type door struct {
		ln     net.Listener
		routes routeSet
	}
	doors := []door{{hooksLn, hooksRoutes}}
	switch {
	case r.cfg.AdminAddr != "":
		adminLn, err := listenCapped(r.cfg.AdminAddr, limits.MaxConnections)
		if err != nil {
			_ = hooksLn.Close()
			return nil, fmt.Errorf("--admin-addr %s: %w", r.cfg.AdminAddr, err)
		}
		r.adminAddr = adminLn.Addr().String()
		doors = append(doors, door{adminLn, adminRoutes})
	case isLoopback(hooksLn.Addr()):
		doors[0].routes |= adminRoutes
		r.adminAddr = r.addr
	default:
		r.log.Warn("the admin routes (GET /v1/cascades, GET /metrics) are served nowhere: --addr is not a "+
			"loopback address and --admin-addr is not set; set --admin-addr to a private address to serve them",
			"addr", r.addr)
	}
	f := &frontDoor{served: make(chan error, len(doors))}
	for _, d := range doors {
		srv := &http.Server{
			Handler:           r.routes(d.routes),
			ReadHeaderTimeout: limits.ReadHeaderTimeout,
			ReadTimeout:       limits.ReadTimeout,
			WriteTimeout:      limits.WriteTimeout,
			IdleTimeout:       limits.IdleTimeout,
			MaxHeaderBytes:    limits.MaxHeaderBytes,
		}
		f.servers = append(f.servers, srv)
		go func() { f.served <- srv.Serve(d.ln) }()
	}
	return f, nil
}

// wait returns when ctx ends (nil) or a server stops on its own (its error).
func (f *frontDoor) wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case err := <-f.served:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}
}

// shutdown stops taking connections and lets the requests in progress end, until ctx ends.
func (f *frontDoor) shutdown(ctx context.Context) {
	for _, srv := range f.servers {
		_ = srv.Shutdown(ctx)
	}
}

// AdminAddr is the address the admin routes are served on, once Run got that far: the admin
// address, the hooks address when it is a loopback one and no admin address is set, or "" when
// they are served nowhere.
func (r *Relay) AdminAddr() string {
	<-r.listening
	return r.adminAddr
}

// Addr is the address the relay takes deliveries on, once Run got that far.
func (r *Relay) Addr() string {
	<-r.listening
	return r.addr
}

func isLoopback(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

// listenCapped listens on addr and holds at most maxConns connections at once.
func listenCapped(addr string, maxConns int) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &cappedListener{Listener: ln, slots: make(chan struct{}, maxConns), closed: make(chan struct{})}, nil
}

// cappedListener holds a slot for each connection it accepted until that connection is
// closed. While every slot is taken Accept waits, and new connections wait in the kernel's
// accept queue (or are refused by it when that is full) instead of costing the process a file
// descriptor and buffers each.
type cappedListener struct {
	net.Listener
	slots     chan struct{}
	closed    chan struct{}
	closeOnce sync.Once
}

func (l *cappedListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.closed:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &cappedConn{Conn: c, slots: l.slots}, nil
}

// Close also ends an Accept waiting for a slot, which the listener's own Close would not reach.
func (l *cappedListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

type cappedConn struct {
	net.Conn
	slots       chan struct{}
	releaseOnce sync.Once
}

func (c *cappedConn) Close() error {
	err := c.Conn.Close()
	c.releaseOnce.Do(func() { <-c.slots })
	return err
}

// routeSet says which of the relay's routes a server serves.
type routeSet int

const (
	// hooksRoutes are POST /v1/hooks and GET /healthz, all that Pulumi Cloud and a load
	// balancer need.
	hooksRoutes routeSet = 1 << iota
	// adminRoutes are GET /v1/cascades and GET /metrics (and GET /healthz): the graph, its
	// stacks, deployments and failures, for the operators only.
	adminRoutes
)
