package smtpmail_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/latchkeyhq/latchkey/delivery"
	"github.com/latchkeyhq/latchkey/fake"
	"github.com/latchkeyhq/latchkey/smtpmail"
)

// connLog records the connections a test server accepts and what clients
// say on them.
type connLog struct {
	mu      sync.Mutex
	conns   []*loggedConn
	open    int
	maxOpen int
	changed chan struct{} // closed and replaced on every change
}

func newConnLog() *connLog { return &connLog{changed: make(chan struct{})} }

// notify wakes the waiters; l.mu is held.
func (l *connLog) notify() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// waitFor waits until cond, read under the lock, holds. The deadline is a
// safety net for a broken test, not a measure of speed.
func (l *connLog) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		l.mu.Lock()
		ok, changed := cond(), l.changed
		l.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("gave up waiting for %s", what)
		}
	}
}

// accepted is how many connections the server has accepted.
func (l *connLog) accepted() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// conn is the i-th accepted connection.
func (l *connLog) conn(i int) *loggedConn {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.conns[i]
}

// loggingListener logs the connections it accepts.
type loggingListener struct {
	net.Listener
	log *connLog
}

func (ll loggingListener) Accept() (net.Conn, error) {
	c, err := ll.Listener.Accept()
	if err != nil {
		return nil, err
	}
	lc := &loggedConn{Conn: c, log: ll.log}
	ll.log.mu.Lock()
	ll.log.conns = append(ll.log.conns, lc)
	ll.log.open++
	ll.log.maxOpen = max(ll.log.maxOpen, ll.log.open)
	ll.log.notify()
	ll.log.mu.Unlock()
	return lc, nil
}

// loggedConn keeps what the client sent, and whether the connection has
// closed.
type loggedConn struct {
	net.Conn
	log    *connLog
	read   bytes.Buffer // guarded by log.mu
	closed bool         // guarded by log.mu
}

func (c *loggedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.log.mu.Lock()
	c.read.Write(p[:n])
	if err != nil && !c.closed {
		// The client hung up; the server closes its end next.
		c.closed = true
		c.log.open--
	}
	c.log.notify()
	c.log.mu.Unlock()
	return n, err
}

func (c *loggedConn) Close() error {
	err := c.Conn.Close()
	c.log.mu.Lock()
	if !c.closed {
		c.closed = true
		c.log.open--
	}
	c.log.notify()
	c.log.mu.Unlock()
	return err
}

// isClosed reports whether the connection has ended.
func (c *loggedConn) isClosed() bool {
	c.log.mu.Lock()
	defer c.log.mu.Unlock()
	return c.closed
}

// commands lists the client's commands, MAIL FROM:<a> as MAIL and so on,
// leaving out the message text after DATA.
func (c *loggedConn) commands() []string {
	c.log.mu.Lock()
	defer c.log.mu.Unlock()
	return commandsIn(c.read.Bytes())
}

func commandsIn(transcript []byte) []string {
	var verbs []string
	inData := false
	sc := bufio.NewScanner(bytes.NewReader(transcript))
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if inData {
			inData = line != "."
			continue
		}
		verb, _, _ := strings.Cut(line, " ")
		verb = strings.ToUpper(verb)
		verbs = append(verbs, verb)
		inData = verb == "DATA"
	}
	return verbs
}

// plainServer starts a server in clear text that logs its connections.
func plainServer(t *testing.T, be *backend) (url string, conns *connLog) {
	t.Helper()
	conns = newConnLog()
	addr := startServer(t, be, serverOpts{conns: conns})
	return "smtp://" + addr + "?starttls=off", conns
}

// numbered is the i-th of a run of distinct messages.
func numbered(i int) (to, subject string) {
	return fmt.Sprintf("user%d@example.com", i), fmt.Sprintf("Your code is %06d", i)
}

func sendNumbered(t *testing.T, s *smtpmail.Sender, i int) error {
	t.Helper()
	m := emailMessage()
	m.ID = fmt.Sprintf("msg_%d", i)
	m.To, m.Subject = numbered(i)
	return s.Send(context.Background(), m)
}

func TestSendReusesOneSessionWithRSETBetweenMessages(t *testing.T) {
	be := &backend{}
	u, conns := plainServer(t, be)
	s := newSender(t, smtpmail.Config{URL: u})
	for i := range 3 {
		if err := sendNumbered(t, s, i); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}
	if n := conns.accepted(); n != 1 {
		t.Fatalf("the server accepted %d connections for 3 messages, want 1", n)
	}
	got := strings.Join(conns.conn(0).commands(), " ")
	want := "EHLO MAIL RCPT DATA RSET MAIL RCPT DATA RSET MAIL RCPT DATA RSET"
	if got != want {
		t.Errorf("the client said\n\t%s\nwant\n\t%s", got, want)
	}
	for i, r := range be.messages() {
		checkNumbered(t, r, i)
	}
}

// checkNumbered checks that r is the i-th numbered message, envelope and
// content alike, and nothing of another.
func checkNumbered(t *testing.T, r received, i int) {
	t.Helper()
	to, subject := numbered(i)
	if r.from != sender || len(r.to) != 1 || r.to[0] != to {
		t.Errorf("message %d: MAIL FROM %q RCPT TO %q, want %q and [%q]", i, r.from, r.to, sender, to)
	}
	p := parse(t, r.data)
	if len(p.to) != 1 || p.to[0].Address != to || p.subj != subject {
		t.Errorf("message %d: To %v Subject %q, want %s and %q", i, p.to, p.subj, to, subject)
	}
	if id := p.header.Get("Message-ID"); id != fmt.Sprintf("<msg_%d@latchkey.test>", i) {
		t.Errorf("message %d: Message-ID %q", i, id)
	}
}

func TestSendOpensAtMostMaxConnections(t *testing.T) {
	const (
		maxConns   = 3
		goroutines = 8
		each       = 75 // 600 messages
	)
	be := &backend{}
	u, conns := plainServer(t, be)
	s := newSender(t, smtpmail.Config{URL: u, MaxConnections: maxConns})
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*each)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				m := emailMessage()
				i := g*each + j
				m.ID = fmt.Sprintf("msg_%d", i)
				m.To, m.Subject = numbered(i)
				if err := s.Send(context.Background(), m); err != nil {
					errs <- fmt.Errorf("message %d: %w", i, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := conns.accepted(); n > maxConns {
		t.Errorf("the server accepted %d connections for %d messages, want at most %d", n, goroutines*each, maxConns)
	}
	got := be.messages()
	if len(got) != goroutines*each {
		t.Fatalf("the server received %d messages, want %d", len(got), goroutines*each)
	}
	seen := map[string]bool{}
	for _, r := range got {
		p := parse(t, r.data)
		id := strings.Trim(p.header.Get("Message-ID"), "<>")
		var i int
		if _, err := fmt.Sscanf(id, "msg_%d@latchkey.test", &i); err != nil || seen[id] {
			t.Fatalf("Message-ID %q is unexpected or repeated", id)
		}
		seen[id] = true
		checkNumbered(t, r, i)
	}
}

func TestSendRedialsWhenServerClosedIdleSession(t *testing.T) {
	for _, tt := range []struct {
		name    string
		goodbye string // what the server says before it hangs up
	}{
		{"silently", ""},
		{"with 421", "421 4.4.2 localhost Idle timeout, closing connection\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			be := &backend{}
			u, conns := plainServer(t, be)
			s := newSender(t, smtpmail.Config{URL: u})
			if err := sendNumbered(t, s, 0); err != nil {
				t.Fatalf("first Send: %v", err)
			}
			first := conns.conn(0)
			if tt.goodbye != "" {
				_, _ = first.Conn.Write([]byte(tt.goodbye))
			}
			_ = first.Close()
			if err := sendNumbered(t, s, 1); err != nil {
				t.Fatalf("Send after the server closed the idle session = %v, want success", err)
			}
			if n := conns.accepted(); n != 2 {
				t.Errorf("the server accepted %d connections, want 2", n)
			}
			got := be.messages()
			if len(got) != 2 {
				t.Fatalf("the server received %d messages, want 2", len(got))
			}
			checkNumbered(t, got[1], 1)
		})
	}
}

func TestSendDiscardsSessionAfterError(t *testing.T) {
	tests := []struct {
		name      string
		reply     *smtp.SMTPError
		permanent bool
	}{
		{"451", &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}, false},
		{"550", &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "mailbox unavailable"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad, _ := numbered(1)
			be := &backend{rcptErrTo: map[string]*smtp.SMTPError{bad: tt.reply}}
			u, conns := plainServer(t, be)
			s := newSender(t, smtpmail.Config{URL: u})
			if err := sendNumbered(t, s, 0); err != nil {
				t.Fatalf("Send 0: %v", err)
			}
			err := sendNumbered(t, s, 1)
			if err == nil {
				t.Fatal("Send to the refused recipient succeeded")
			}
			if got := delivery.IsPermanent(err); got != tt.permanent {
				t.Errorf("IsPermanent = %v, want %v: %v", got, tt.permanent, err)
			}
			if !strings.Contains(err.Error(), tt.name) {
				t.Errorf("the error should carry the reply %s: %v", tt.name, err)
			}
			if err := sendNumbered(t, s, 2); err != nil {
				t.Fatalf("Send after the refusal: %v", err)
			}
			if n := conns.accepted(); n != 2 {
				t.Errorf("the server accepted %d connections, want 2: the session that failed must not be reused", n)
			}
			first := conns.conn(0)
			conns.waitFor(t, "the failed session to close", func() bool { return first.closed })
			got := strings.Join(first.commands(), " ")
			if want := "EHLO MAIL RCPT DATA RSET MAIL RCPT RSET"; got != want {
				t.Errorf("the failed session: the client said %s, want %s", got, want)
			}
			msgs := be.messages()
			if len(msgs) != 2 {
				t.Fatalf("the server received %d messages, want 2", len(msgs))
			}
			checkNumbered(t, msgs[0], 0)
			checkNumbered(t, msgs[1], 2)
		})
	}
}

func TestSendClosesIdleSessions(t *testing.T) {
	be := &backend{}
	u, conns := plainServer(t, be)
	// The idle timer closes the session soon after the message.
	s := newSender(t, smtpmail.Config{URL: u, IdleTimeout: time.Millisecond})
	if err := sendNumbered(t, s, 0); err != nil {
		t.Fatalf("Send: %v", err)
	}
	first := conns.conn(0)
	conns.waitFor(t, "the idle session to close", func() bool { return first.closed })
	if cmds := first.commands(); cmds[len(cmds)-1] != "QUIT" {
		t.Errorf("the idle session ended without QUIT: %v", cmds)
	}
}

func TestSendReplacesSessionIdleTooLong(t *testing.T) {
	be := &backend{}
	u, conns := plainServer(t, be)
	clk := fake.NewClock(created)
	s := newSender(t, smtpmail.Config{URL: u, IdleTimeout: 30 * time.Second, Now: clk.Now})
	if err := sendNumbered(t, s, 0); err != nil {
		t.Fatalf("Send 0: %v", err)
	}
	clk.Advance(29 * time.Second)
	if err := sendNumbered(t, s, 1); err != nil {
		t.Fatalf("Send 1: %v", err)
	}
	if n := conns.accepted(); n != 1 {
		t.Fatalf("a session idle 29s was not reused: %d connections", n)
	}
	clk.Advance(30 * time.Second)
	if err := sendNumbered(t, s, 2); err != nil {
		t.Fatalf("Send 2: %v", err)
	}
	if n := conns.accepted(); n != 2 {
		t.Fatalf("a session idle 30s was reused: %d connections, want 2", n)
	}
	first := conns.conn(0)
	conns.waitFor(t, "the idle session to close", func() bool { return first.closed })
	if cmds := first.commands(); cmds[len(cmds)-1] != "QUIT" {
		t.Errorf("the idle session ended without QUIT: %v", cmds)
	}
}

func TestSendRetiresSessions(t *testing.T) {
	t.Run("after MaxMessages", func(t *testing.T) {
		be := &backend{}
		u, conns := plainServer(t, be)
		s := newSender(t, smtpmail.Config{URL: u, MaxMessages: 2})
		for i := range 5 {
			if err := sendNumbered(t, s, i); err != nil {
				t.Fatalf("Send %d: %v", i, err)
			}
		}
		if n := conns.accepted(); n != 3 {
			t.Fatalf("%d connections for 5 messages at 2 a session, want 3", n)
		}
		for i := range 2 {
			c := conns.conn(i)
			conns.waitFor(t, "the retired session to close", func() bool { return c.closed })
			got := strings.Join(c.commands(), " ")
			if want := "EHLO MAIL RCPT DATA RSET MAIL RCPT DATA RSET QUIT"; got != want {
				t.Errorf("session %d: the client said %s, want %s", i, got, want)
			}
		}
	})
	t.Run("after MaxAge", func(t *testing.T) {
		be := &backend{}
		u, conns := plainServer(t, be)
		clk := fake.NewClock(created)
		s := newSender(t, smtpmail.Config{URL: u, MaxAge: time.Minute, IdleTimeout: time.Hour, Now: clk.Now})
		for i := range 3 {
			if err := sendNumbered(t, s, i); err != nil {
				t.Fatalf("Send %d: %v", i, err)
			}
			clk.Advance(25 * time.Second)
		}
		// Opened at 0s, the session carried messages at 0s, 25s and
		// 50s; at 75s it is too old.
		if err := sendNumbered(t, s, 3); err != nil {
			t.Fatalf("Send 3: %v", err)
		}
		if n := conns.accepted(); n != 2 {
			t.Fatalf("%d connections, want 2", n)
		}
	})
}

func TestSendWaitsForFreeSession(t *testing.T) {
	be := &backend{dataStarted: make(chan struct{}), dataRelease: make(chan struct{})}
	u, conns := plainServer(t, be)
	s := newSender(t, smtpmail.Config{URL: u, MaxConnections: 1})
	first := make(chan error, 1)
	go func() { first <- sendNumbered(t, s, 0) }()
	<-be.dataStarted // the only session is busy

	ctx, cancel := context.WithCancel(context.Background())
	waiting := make(chan error, 1)
	go func() {
		m := emailMessage()
		m.To, m.Subject = numbered(1)
		waiting <- s.Send(ctx, m)
	}()
	cancel()
	err := <-waiting
	if !errors.Is(err, context.Canceled) || delivery.IsPermanent(err) {
		t.Errorf("Send waiting for a session = %v, want a temporary context.Canceled", err)
	}
	if n := conns.accepted(); n != 1 {
		t.Errorf("%d connections with MaxConnections 1", n)
	}

	third := make(chan error, 1)
	go func() { third <- sendNumbered(t, s, 2) }()
	close(be.dataRelease)
	for _, ch := range []chan error{first, third} {
		if err := <-ch; err != nil {
			t.Errorf("Send: %v", err)
		}
	}
	if n := conns.accepted(); n != 1 {
		t.Errorf("the waiting Send opened a connection of its own: %d connections", n)
	}
}

func TestCloseEndsIdleSessions(t *testing.T) {
	be := &backend{}
	u, conns := plainServer(t, be)
	s := newSender(t, smtpmail.Config{URL: u})
	if err := sendNumbered(t, s, 0); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	first := conns.conn(0)
	if !first.isClosed() {
		// Close returns once QUIT is answered; the server may not
		// have closed its end yet.
		conns.waitFor(t, "the session to close", func() bool { return first.closed })
	}
	if cmds := first.commands(); cmds[len(cmds)-1] != "QUIT" {
		t.Errorf("Close ended the session without QUIT: %v", cmds)
	}
	// A message sent while shutting down still goes out.
	if err := sendNumbered(t, s, 1); err != nil {
		t.Fatalf("Send after Close: %v", err)
	}
	second := conns.conn(1)
	conns.waitFor(t, "the session after Close to close", func() bool { return second.closed })
}

func TestSendReusesAuthenticatedTLSSession(t *testing.T) {
	pki := newPKI(t)
	be := &backend{user: user, pass: password}
	conns := newConnLog()
	addr := startServer(t, be, serverOpts{startTLS: pki.server, conns: conns})
	u := url.URL{Scheme: "smtp", User: url.UserPassword(user, password), Host: addr}
	s := newSender(t, smtpmail.Config{URL: u.String(), TLSConfig: &tls.Config{RootCAs: pki.roots}})
	for i := range 5 {
		if err := sendNumbered(t, s, i); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}
	if n := conns.accepted(); n != 1 {
		t.Errorf("%d connections for 5 messages, want 1", n)
	}
	for i, r := range be.messages() {
		if !r.tls || r.authAs != user {
			t.Errorf("message %d: tls=%v authAs=%q", i, r.tls, r.authAs)
		}
		checkNumbered(t, r, i)
	}
}

// BenchmarkSend sends messages to a loopback server, over pooled sessions
// and over one connection per message (what every message cost before
// sessions were kept), in clear text and with STARTTLS, from one goroutine
// and from eight. It reports the connections opened per 1,000 messages
// beside the time per message.
func BenchmarkSend(b *testing.B) {
	pki := newPKI(b)
	for _, mode := range []string{"pooled", "connection-per-message"} {
		for _, tlsMode := range []string{"plain", "starttls"} {
			for _, parallel := range []int{1, 8} {
				b.Run(fmt.Sprintf("%s/%s/senders=%d", mode, tlsMode, parallel), func(b *testing.B) {
					benchmarkSend(b, pki, mode == "connection-per-message", tlsMode == "starttls", parallel)
				})
			}
		}
	}
}

func benchmarkSend(b *testing.B, pki testPKI, perMessage, startTLS bool, parallel int) {
	be := &backend{discard: true}
	conns := newConnLog()
	o := serverOpts{conns: conns}
	cfg := smtpmail.Config{MaxConnections: 4}
	if perMessage {
		cfg.MaxMessages = 1
	}
	if startTLS {
		o.startTLS = pki.server
		cfg.TLSConfig = &tls.Config{RootCAs: pki.roots}
	}
	addr := startServer(b, be, o)
	cfg.URL = "smtp://" + addr
	if !startTLS {
		cfg.URL += "?starttls=off"
	}
	s := newSender(b, cfg)
	m := emailMessage()
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if err := s.Send(context.Background(), m); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(conns.accepted())*1000/float64(b.N), "conns/1000msgs")
}
