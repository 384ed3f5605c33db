package e2e

import (
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/mail"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/internal/smtptest"
)

// TestOutboxDeliversAfterKill kills a node (SIGKILL) between acknowledging
// a send and delivering it: its mail server accepts the connection and
// never answers, so the message is claimed but not sent. The app's codes
// live one minute, the shortest an app allows. A node started afterwards
// on the same database (the same one restarted on SQLite, the next one on
// PostgreSQL), with a working mail server, delivers the message within 30 s
// of its start, the code still works, and the outbox records the message
// as sent.
func TestOutboxDeliversAfterKill(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { deliversAfterKill(t, newSQLiteCluster(t)) })
	t.Run("postgres", func(t *testing.T) { deliversAfterKill(t, newCluster(t)) })
}

func deliversAfterKill(t *testing.T, c *cluster) {
	cr := c.createApp(c.dbURL)
	c.command(c.dbURL, "apps", "update", cr.AppID, "--otp-expiry", "1m")
	stall := newStallingServer(t)
	smtpEnv := func(addr string) []string {
		return []string{"LATCHKEY_EMAIL_PROVIDER=smtp", "LATCHKEY_SMTP_URL=smtp://" + addr + "?starttls=off",
			"LATCHKEY_EMAIL_FROM=Latchkey <login@latchkey.test>"}
	}
	first := c.startWith(c.dbURL, smtpEnv(stall.addr())...)
	cl := newClient(t)
	cl.token = cl.clientToken(first.url, cr)
	user := cl.must(cl.post(first.url+"/cis/v1/users", map[string]any{"email": "crash@example.com"}), http.StatusCreated)
	id := user["result"].(map[string]any)["user_id"].(string)
	cl.must(cl.post(first.url+"/cis/v1/auth/otp/send", map[string]any{"channel": "email", "identifier": id, "identifier_type": "user_id"}), http.StatusOK)
	eventually(t, "the first node to start delivering (its mail server stalls)", func() bool { return stall.accepted.Load() > 0 })
	first.kill()

	mailServer := smtptest.Start(t)
	restart := time.Now()
	second := c.startWith(c.dbURL, smtpEnv(mailServer.Addr)...)
	// The requirement is delivery within 30 s of the restart; the lease
	// the dead node held is 15 s.
	got := mailServer.Wait(t, 1, 30*time.Second-time.Since(restart))
	t.Logf("delivered %s after the restart", time.Since(restart).Round(100*time.Millisecond))
	code := codeInMail(t, got[0].Data)
	cl.must(cl.post(second.url+"/cis/v1/auth/otp/authenticate",
		map[string]any{"passcode": code, "identifier": id, "identifier_type": "user_id"}), http.StatusOK)

	var list []struct {
		Status   string `json:"status"`
		Attempts int    `json:"attempts"`
	}
	out := c.command(c.dbURL, "messages", "list", "--json")
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 || list[0].Status != "sent" || list[0].Attempts != 1 {
		t.Fatalf("messages list after the restart: %s; want the one message sent, on one recorded attempt", out)
	}
}

// stallingServer accepts TCP connections and never says a word, as a mail
// server that hangs would.
type stallingServer struct {
	ln       net.Listener
	accepted atomic.Int64
	mu       sync.Mutex
	conns    []net.Conn // held open, never read or written
}

func newStallingServer(t *testing.T) *stallingServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &stallingServer{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.accepted.Add(1)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, c := range s.conns {
			c.Close()
		}
	})
	return s
}

func (s *stallingServer) addr() string { return s.ln.Addr().String() }

// codeInMail returns the six-digit code in a received email's text part.
func codeInMail(t *testing.T, raw []byte) string {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatalf("received mail is not RFC 5322: %v", err)
	}
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	parts := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := parts.NextPart()
		if err != nil {
			t.Fatalf("no text part with a code in the mail: %v", err)
		}
		body, _ := io.ReadAll(p)
		if strings.HasPrefix(p.Header.Get("Content-Type"), "text/plain") {
			if code := sixDigits.FindString(string(body)); code != "" {
				return code
			}
		}
	}
}
