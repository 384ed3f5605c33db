package sendgrid_test

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

	"github.com/latchkeyhq/latchkey/delivery"
	"github.com/latchkeyhq/latchkey/sendgrid"
)

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
// returns a Sender built with its default HTTP client.
func countingServer(t *testing.T, handler http.HandlerFunc) (*connCounter, *sendgrid.Sender) {
	t.Helper()
	cc := &connCounter{changed: make(chan struct{})}
	srv := httptest.NewUnstartedServer(handler)
	srv.Config.ConnState = cc.track
	srv.Start()
	t.Cleanup(srv.Close)
	s, err := sendgrid.New(sendgrid.Config{APIKey: apiKey, APIURL: srv.URL, From: "Latchkey <login@latchkey.test>"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return cc, s
}

// answers are what the server says to the i-th request, in turn: a
// success, then errors with bodies, one of them bigger than the Sender
// reads for its message.
var answers = []struct {
	status    int
	body      string
	permanent bool
}{
	{202, "", false},
	{400, `{"message":"bad request"}`, true},
	{500, `{"message":"internal error"}`, false},
	{429, `{"message":"slow down"}`, false},
	{503, "<html>" + strings.Repeat("Service Unavailable. ", 5000) + "</html>", false},
}

func answer(w http.ResponseWriter, r *http.Request, i int) {
	_, _ = io.Copy(io.Discard, r.Body)
	a := answers[i%len(answers)]
	w.WriteHeader(a.status)
	_, _ = io.WriteString(w, a.body)
}

func TestSendReusesOneConnection(t *testing.T) {
	var mu sync.Mutex
	n := 0
	cc, s := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		i := n
		n++
		mu.Unlock()
		answer(w, r, i)
	})
	for i := range 100 {
		err := s.Send(context.Background(), message())
		a := answers[i%len(answers)]
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

func TestSendKeepsConnectionsOfConcurrentSends(t *testing.T) {
	const concurrent = 16
	var mu sync.Mutex
	arrived := 0
	release := make(chan struct{})
	cc, s := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
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
		answer(w, r, 0)
	})
	for round := range 3 {
		var wg sync.WaitGroup
		errs := make(chan error, concurrent)
		for range concurrent {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := s.Send(context.Background(), message()); err != nil {
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

func TestCloseClosesIdleConnections(t *testing.T) {
	cc, s := countingServer(t, func(w http.ResponseWriter, r *http.Request) { answer(w, r, 0) })
	for range 3 {
		if err := s.Send(context.Background(), message()); err != nil {
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
