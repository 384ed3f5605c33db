package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/internal/smtptest"
)

// drainDelay is LATCHKEY_DRAIN_DELAY's default, which the test uses.
const drainDelay = 5 * time.Second

// TestDrainUnderLoad stops a node with SIGTERM while 64 keep-alive
// clients (Go's http.Client, one connection each) send it requests in a
// loop, a request is in flight with half its body sent, and a message
// queued just before is being delivered to a slow mail server.
//
// What Go's client and server do decides what "nothing lost" can mean
// here. Go's client retries a request that met a closed keep-alive
// connection only when it is idempotent, so every request here is a POST,
// and a connection the server closed while the client was sending on it
// would show as an EOF or a reset. The server must therefore never close a
// connection a client may be using: while it drains it answers with
// Connection: close, so each client moves to a new connection after its
// answer, and it closes no idle connection until the drain delay is over.
// The one loss no server can prevent is a connection the kernel accepted
// in the instant the listener closed, which the kernel resets; a load
// balancer avoids it by taking the node out of rotation (/readyz answering
// 503) before the delay ends. Go's server also drops, unanswered, a
// request it reads after Shutdown has begun, so the server answers every
// connection it accepted before calling it. So the test asserts: every
// request sent on an open connection is answered; the only failures are
// new connections refused or reset by the listener's closing, after the
// drain delay, never an EOF; /readyz answers 503 before the listener
// closes; the request in flight completes; the message is delivered and
// recorded as sent; the process exits 0.
func TestDrainUnderLoad(t *testing.T) {
	c := newSQLiteCluster(t)
	cr := c.createApp(c.dbURL)
	// The load sends codes to each user back to back: this test is about
	// draining, and a rate limit's 429 would hide a failure.
	c.command(c.dbURL, "apps", "update", cr.AppID, "--resend-cooldown", "0", "--sends-per-hour", "0", "--sends-per-day", "0")
	mailServer := smtptest.Start(t)
	// The mail server answers after 8 s: the delivery is still in flight
	// when the HTTP server has stopped, and the outbox must finish it.
	slowMail := newSlowProxy(t, mailServer.Addr, drainDelay+3*time.Second)
	// The bound on requests in flight is raised above the 64 clients: this
	// test is about draining, and a refusal (503) would hide a failure.
	n := c.startWith(c.dbURL, "LATCHKEY_DRAIN_DELAY="+drainDelay.String(), "LATCHKEY_MAX_IN_FLIGHT=1000", "LATCHKEY_EMAIL_PROVIDER=smtp",
		"LATCHKEY_SMTP_URL=smtp://"+slowMail+"?starttls=off", "LATCHKEY_EMAIL_FROM=login@latchkey.test")
	exited := make(chan error, 1)
	go func() { exited <- n.cmd.Wait() }()
	cl := newClient(t)
	cl.token = cl.clientToken(n.url, cr)
	ids := make([]string, 66)
	for i := range ids {
		user := cl.must(cl.post(n.url+"/cis/v1/users", map[string]any{"email": fmt.Sprintf("drain%d@example.com", i)}), http.StatusCreated)
		ids[i] = user["result"].(map[string]any)["user_id"].(string)
	}

	load := startKeepAliveLoad(n.url, cl.token, ids[:64])
	defer load.halt()
	probes := startReadinessProbes(n.url)
	defer probes.halt()
	eventually(t, "the load to flow", func() bool { return load.answered() > 200 })
	inFlight := startHalfSentRequest(t, n.url, cl.token, ids[64])
	cl.must(cl.post(n.url+"/cis/v1/auth/otp/send", map[string]any{"channel": "email", "identifier": ids[65], "identifier_type": "user_id"}), http.StatusOK)
	signalled := time.Now()
	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	eventually(t, "the listener to close (a probe refused)", probes.refused)
	inFlight.finish()
	var exitErr error
	select {
	case exitErr = <-exited:
	case <-time.After(60 * time.Second):
		t.Fatalf("the node did not exit after SIGTERM:\n%s", n.logs.String())
	}
	load.halt()
	probes.halt()
	if exitErr != nil {
		t.Fatalf("the node exited with %v after SIGTERM; want 0:\n%s", exitErr, n.logs.String())
	}

	if status, err := inFlight.result(); err != nil || status != http.StatusOK {
		t.Fatalf("the request in flight when the listener closed: %d, %v; want it finished (200)", status, err)
	}
	probes.check(t)
	load.check(t, signalled)
	if got := mailServer.Wait(t, 1, 30*time.Second); len(got) != 1 {
		t.Fatalf("%d messages delivered; want the one queued before SIGTERM", len(got))
	}
	var list []struct {
		Status string `json:"status"`
	}
	out := c.command(c.dbURL, "messages", "list", "--json")
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 || list[0].Status != "sent" {
		t.Fatalf("messages list after the drain: %s; want the message recorded as sent", out)
	}
	for _, phase := range []string{"draining", "shutting down", "stopping the outbox", "stopped"} {
		if !strings.Contains(n.logs.String(), `"msg":"`+phase) {
			t.Errorf("the log does not show the %q phase:\n%s", phase, n.logs.String())
		}
	}
}

// keepAliveLoad is clients sending requests back to back, each on its own
// keep-alive connection, recording every request.
type keepAliveLoad struct {
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
	mu   sync.Mutex
	reqs []loadRequest
}

// loadRequest is one request of the load and what became of it.
type loadRequest struct {
	start, end time.Time
	reused     bool // sent on a connection that had served a request before
	status     int
	closed     bool // the answer said Connection: close
	err        error
}

func startKeepAliveLoad(baseURL, token string, userIDs []string) *keepAliveLoad {
	l := &keepAliveLoad{stop: make(chan struct{})}
	for _, id := range userIDs {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.client(baseURL, token, id)
		}()
	}
	return l
}

func (l *keepAliveLoad) client(baseURL, token, userID string) {
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}, Timeout: 30 * time.Second}
	defer hc.CloseIdleConnections()
	body := fmt.Sprintf(`{"channel":"direct","identifier":%q,"identifier_type":"user_id"}`, userID)
	for {
		select {
		case <-l.stop:
			return
		default:
		}
		r := send(hc, baseURL+"/cis/v1/auth/otp/send", token, strings.NewReader(body), -1)
		l.mu.Lock()
		l.reqs = append(l.reqs, r)
		l.mu.Unlock()
		if r.err != nil {
			time.Sleep(20 * time.Millisecond) // the listener is gone: do not spin
		}
	}
}

// send posts one request and records its fate; length is the body's
// length, -1 for unknown.
func send(hc *http.Client, url, token string, body io.Reader, length int64) loadRequest {
	r := loadRequest{start: time.Now()}
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { r.reused = info.Reused }}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodPost, url, body)
	req.ContentLength = length
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		r.status, r.closed = resp.StatusCode, resp.Close
	}
	r.err, r.end = err, time.Now()
	return r
}

func (l *keepAliveLoad) answered() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.reqs {
		if r.err == nil {
			n++
		}
	}
	return n
}

func (l *keepAliveLoad) halt() {
	l.once.Do(func() {
		close(l.stop)
		l.wg.Wait()
	})
}

// check asserts what the load saw: every request answered 200 but those
// that failed for the listener's closing, and those only on new
// connections, after the drain delay; and answers with Connection: close
// while draining.
func (l *keepAliveLoad) check(t *testing.T, signalled time.Time) {
	t.Helper()
	var answered, closing, refused, reset int
	for _, r := range l.reqs {
		switch {
		case r.err == nil && r.status != http.StatusOK:
			t.Errorf("a request was answered %d; want 200 while the node drains", r.status)
		case r.err == nil:
			answered++
			if r.closed {
				closing++
			}
		case r.reused:
			t.Errorf("a request sent on an open keep-alive connection failed: %v", r.err)
		case r.end.Before(signalled.Add(drainDelay)):
			t.Errorf("a request failed %s after SIGTERM, before the drain delay ended: %v", r.end.Sub(signalled), r.err)
		case errors.Is(r.err, syscall.ECONNREFUSED):
			refused++
		case errors.Is(r.err, syscall.ECONNRESET) || errors.Is(r.err, syscall.EPIPE) || errors.Is(r.err, net.ErrClosed):
			// Accepted by the kernel, not yet by the server, as the
			// listener closed. Go's transport may report the reset as
			// its own closing of the connection it was writing on.
			reset++
		default:
			t.Errorf("a request on a new connection failed %s after SIGTERM with %v; "+
				"want only refusals and resets from the listener's closing (an EOF is a request the server read and dropped)",
				r.end.Sub(signalled), r.err)
		}
	}
	if closing == 0 {
		t.Error("no answer said Connection: close while the node drained")
	}
	t.Logf("%d requests answered (%d with Connection: close), %d refused after the listener closed, %d new connections reset by its closing",
		answered, closing, refused, reset)
}

// readinessProbes asks /readyz over a new connection every 20 ms, as a
// load balancer's health check would.
type readinessProbes struct {
	stop chan struct{}
	done chan struct{}
	once sync.Once
	mu   sync.Mutex
	seen []int // statuses in order; 0: the connection was refused
}

func startReadinessProbes(baseURL string) *readinessProbes {
	p := &readinessProbes{stop: make(chan struct{}), done: make(chan struct{})}
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}
	go func() {
		defer close(p.done)
		for {
			status := 0
			resp, err := hc.Get(baseURL + "/readyz")
			if err == nil {
				resp.Body.Close()
				status = resp.StatusCode
			}
			if err == nil || errors.Is(err, syscall.ECONNREFUSED) {
				p.mu.Lock()
				p.seen = append(p.seen, status)
				p.mu.Unlock()
			}
			select {
			case <-p.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return p
}

func (p *readinessProbes) refused() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.seen) > 0 && p.seen[len(p.seen)-1] == 0
}

func (p *readinessProbes) halt() {
	p.once.Do(func() {
		close(p.stop)
		<-p.done
	})
}

// check asserts that readiness went 200, then 503 while the listener was
// still open, then refused, and never back.
func (p *readinessProbes) check(t *testing.T) {
	t.Helper()
	phase := 0 // 0: ready, 1: draining, 2: closed
	for _, status := range p.seen {
		next := map[int]int{http.StatusOK: 0, http.StatusServiceUnavailable: 1, 0: 2}[status]
		if next < phase {
			t.Fatalf("/readyz went back from %d: %v", phase, p.seen)
		}
		phase = next
	}
	n503 := 0
	for _, s := range p.seen {
		if s == http.StatusServiceUnavailable {
			n503++
		}
	}
	if n503 == 0 {
		t.Fatalf("/readyz never answered 503 before the listener closed: %v", p.seen)
	}
	t.Logf("%d /readyz probes answered 503 during the drain, before the listener closed", n503)
}

// halfSentRequest is a request whose body is sent in two halves, the
// second only when the test says, on a connection the server already
// serves.
type halfSentRequest struct {
	pw   *io.PipeWriter
	rest []byte
	done chan loadRequest
}

func startHalfSentRequest(t *testing.T, baseURL, token, userID string) *halfSentRequest {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}, Timeout: time.Minute}
	// A first request opens the connection, so the server has accepted it
	// before the slow one starts on it.
	if r := send(hc, baseURL+"/cis/v1/users", token, strings.NewReader(`{"email":"inflight@example.com"}`), -1); r.err != nil {
		t.Fatal(r.err)
	}
	body := []byte(fmt.Sprintf(`{"channel":"direct","identifier":%q,"identifier_type":"user_id"}`, userID))
	pr, pw := io.Pipe()
	h := &halfSentRequest{pw: pw, rest: body[len(body)/2:], done: make(chan loadRequest, 1)}
	go func() { h.done <- send(hc, baseURL+"/cis/v1/auth/otp/send", token, pr, int64(len(body))) }()
	if _, err := pw.Write(body[:len(body)/2]); err != nil {
		t.Fatal(err)
	}
	return h
}

// finish sends the rest of the body.
func (h *halfSentRequest) finish() {
	_, _ = h.pw.Write(h.rest)
	h.pw.Close()
}

// result waits for the answer.
func (h *halfSentRequest) result() (int, error) {
	r := <-h.done
	if r.err == nil && !r.reused {
		return r.status, errors.New("the request did not go on the connection the server had accepted")
	}
	return r.status, r.err
}

// newSlowProxy forwards connections to target only after delay, as a slow
// server would answer, and returns its address.
func newSlowProxy(t *testing.T, target string, delay time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				time.Sleep(delay)
				up, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer up.Close()
				go func() { _, _ = io.Copy(up, c) }()
				_, _ = io.Copy(c, up)
			}()
		}
	}()
	return ln.Addr().String()
}
