package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// drain stops the server in the order a load balancer in front of it
// needs, so that no request it routed here is lost:
//
//  1. Draining: /readyz answers 503 at once, so health checks take the
//     node out of rotation, while every request is still served, for
//     LATCHKEY_DRAIN_DELAY. Each answer carries Connection: close, so
//     keep-alive clients (the balancer's pooled connections among them)
//     open their next connection elsewhere. No connection is closed under
//     a client: Go's client does not retry a POST that met a closed
//     connection.
//  2. Stopping: the listener closes, and every connection already
//     accepted gets its requests answered (each then closes), within
//     LATCHKEY_SHUTDOWN_TIMEOUT. Only then does http.Server.Shutdown run:
//     it would drop, unanswered, a request it reads after it has begun.
//     It closes the keep-alive connections still open, idle for the whole
//     delay.
//  3. The outbox claims nothing more and finishes its deliveries within
//     what is left of that timeout, releasing those that outlast it.
//
// Each phase is logged. Closing draining starts phase 1.
func (s *system) drain(srv *http.Server, ln net.Listener, conns *connTracker, draining chan<- struct{}) error {
	close(draining)
	s.log.Info("draining: /readyz answers 503; requests are still served, with Connection: close",
		"drain_delay", s.cfg.DrainDelay.String())
	time.Sleep(s.cfg.DrainDelay)

	s.log.Info("shutting down: no new connections; answering the requests of those open", "timeout", s.cfg.Shutdown.String())
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Shutdown)
	defer cancel()
	_ = ln.Close()
	conns.waitIdle(ctx)
	err := srv.Shutdown(ctx)
	if errors.Is(err, net.ErrClosed) {
		err = nil // the listener, which Shutdown closes too, is closed already
	}
	if errors.Is(err, context.DeadlineExceeded) {
		s.log.Warn("requests still in flight at LATCHKEY_SHUTDOWN_TIMEOUT are cut off")
		_ = srv.Close()
	}

	s.log.Info("stopping the outbox: claiming nothing more; finishing the deliveries in flight")
	s.outbox.Stop(ctx)
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	s.log.Info("stopped")
	return nil
}

// connTracker follows the server's connections (as http.Server.ConnState)
// to tell when none is busy: none accepted and not yet read from (New),
// none serving a request (Active).
type connTracker struct {
	mu    sync.Mutex
	busy  map[net.Conn]bool
	quiet chan struct{} // closed and replaced when busy becomes empty
}

func newConnTracker() *connTracker {
	return &connTracker{busy: map[net.Conn]bool{}, quiet: make(chan struct{})}
}

// track is the server's ConnState hook.
func (t *connTracker) track(c net.Conn, state http.ConnState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if state == http.StateNew || state == http.StateActive {
		t.busy[c] = true
		return
	}
	delete(t.busy, c)
	if len(t.busy) == 0 {
		close(t.quiet)
		t.quiet = make(chan struct{})
	}
}

// waitIdle waits until no connection is busy, or ctx ends.
func (t *connTracker) waitIdle(ctx context.Context) {
	for {
		t.mu.Lock()
		n, quiet := len(t.busy), t.quiet
		t.mu.Unlock()
		if n == 0 {
			return
		}
		select {
		case <-quiet:
		case <-ctx.Done():
			return
		}
	}
}
