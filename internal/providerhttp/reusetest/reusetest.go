// Package reusetest pins, for every delivery provider reached over HTTP,
// that its default client keeps connections alive between messages: one
// connection for many sequential sends whatever the answers, one per
// concurrent send and no more across rounds, and none left open after
// Close. Each provider's tests call Run, as the stores' call storetest.
package reusetest

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/delivery"
)

// Sender is a provider with the Close that ends its kept connections.
type Sender interface {
	delivery.Sender
	Close() error
}

// Provider describes the provider under test.
type Provider struct {
	// New returns the provider's Sender, built with its default HTTP
	// client, pointed at the test server's url.
	New func(t *testing.T, url string) Sender
	// Message is what each send delivers.
	Message latchkey.Message
	// Accepted is the status and body of the provider's answer to a
	// message it takes.
	AcceptedStatus int
	AcceptedBody   string
}

// Run runs the suite against p.
func Run(t *testing.T, p Provider) {
	t.Run("SendReusesOneConnection", func(t *testing.T) { sendReusesOneConnection(t, p) })
	t.Run("SendKeepsConnectionsOfConcurrentSends", func(t *testing.T) { sendKeepsConnectionsOfConcurrentSends(t, p) })
	t.Run("CloseClosesIdleConnections", func(t *testing.T) { closeClosesIdleConnections(t, p) })
}

// connCounter counts the connections a test server accepts and closes.
type connCounter struct {
	mu      sync.Mutex
	opened  int
	closed  int
	changed chan struct{} // closed and replaced on every change
}

func (c *connCounter) track(_ net.Conn, state http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch state {
	case http.StateNew:
		c.opened++
	case http.StateClosed, http.StateHijacked:
		c.closed++
	}
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *connCounter) counts() (opened, closed int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.opened, c.closed
}

// waitClosed waits until n connections have closed; the deadline is a
// safety net, not a measure of speed.
func (c *connCounter) waitClosed(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		c.mu.Lock()
		done, changed := c.closed >= n, c.changed
		c.mu.Unlock()
		if done {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("gave up waiting for %d connections to close", n)
		}
	}
}

// countingServer serves handler on loopback, counting connections, and
// returns the provider's Sender pointed at it.
func countingServer(t *testing.T, p Provider, handler http.HandlerFunc) (*connCounter, Sender) {
	t.Helper()
	cc := &connCounter{changed: make(chan struct{})}
	srv := httptest.NewUnstartedServer(handler)
	srv.Config.ConnState = cc.track
	srv.Start()
	t.Cleanup(srv.Close)
	s := p.New(t, srv.URL)
	t.Cleanup(func() { _ = s.Close() })
	return cc, s
}

// answer is what the server says to a request.
type answer struct {
	status    int
	body      string
	permanent bool
}

// answers are what the server says to the i-th request, in turn: the
// provider's acceptance, then errors with bodies, one of them bigger than
// a Sender reads for its message.
func answers(p Provider) []answer {
	return []answer{
		{p.AcceptedStatus, p.AcceptedBody, false},
		{400, `{"message":"bad request"}`, true},
		{500, `{"message":"internal error"}`, false},
		{429, `{"message":"slow down"}`, false},
		{503, "<html>" + strings.Repeat("Service Unavailable. ", 5000) + "</html>", false},
	}
}

func reply(w http.ResponseWriter, r *http.Request, a answer) {
	_, _ = io.Copy(io.Discard, r.Body)
	w.WriteHeader(a.status)
	_, _ = io.WriteString(w, a.body)
}

func sendReusesOneConnection(t *testing.T, p Provider) {
	all := answers(p)
	var mu sync.Mutex
	n := 0
	cc, s := countingServer(t, p, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		i := n
		n++
		mu.Unlock()
		reply(w, r, all[i%len(all)])
	})
	for i := range 100 {
		err := s.Send(context.Background(), p.Message)
		a := all[i%len(all)]
		switch {
		case a.status < 300 && err != nil:
			t.Fatalf("Send %d: %v", i, err)
		case a.status >= 300 && (err == nil || delivery.IsPermanent(err) != a.permanent):
			t.Fatalf("Send %d answered %d = %v, want an error, permanent %v", i, a.status, err, a.permanent)
		}
	}
	if opened, _ := cc.counts(); opened != 1 {
		t.Errorf("100 sends, successes and errors, opened %d connections, want 1", opened)
	}
}

func sendKeepsConnectionsOfConcurrentSends(t *testing.T, p Provider) {
	const concurrent = 16
	accepted := answers(p)[0]
	var mu sync.Mutex
	arrived := 0
	release := make(chan struct{})
	cc, s := countingServer(t, p, func(w http.ResponseWriter, r *http.Request) {
		// Hold each round's requests until all have arrived, so that
		// each needs a connection of its own.
		mu.Lock()
		arrived++
		if arrived%concurrent == 0 {
			close(release)
		}
		wait := release
		mu.Unlock()
		<-wait
		reply(w, r, accepted)
	})
	for round := range 3 {
		var wg sync.WaitGroup
		errs := make(chan error, concurrent)
		for range concurrent {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := s.Send(context.Background(), p.Message); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("round %d: Send: %v", round, err)
		}
		mu.Lock()
		release = make(chan struct{})
		mu.Unlock()
	}
	if opened, _ := cc.counts(); opened != concurrent {
		t.Errorf("3 rounds of %d concurrent sends opened %d connections, want %d", concurrent, opened, concurrent)
	}
}

func closeClosesIdleConnections(t *testing.T, p Provider) {
	accepted := answers(p)[0]
	cc, s := countingServer(t, p, func(w http.ResponseWriter, r *http.Request) { reply(w, r, accepted) })
	for range 3 {
		if err := s.Send(context.Background(), p.Message); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	cc.waitClosed(t, 1)
	if opened, closed := cc.counts(); opened != 1 || closed != 1 {
		t.Errorf("opened %d, closed %d connections; want 1 and 1", opened, closed)
	}
}
