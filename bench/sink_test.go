package bench

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/smtpmail"
)

func startTestSink(t *testing.T, opts ...SinkOption) *SMTPSink {
	t.Helper()
	s, err := StartSMTPSink("127.0.0.1:0", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// sendRaw sends a raw message over SMTP, one connection per message.
func sendRaw(t *testing.T, addr string, to []string, raw string) {
	t.Helper()
	raw = strings.ReplaceAll(raw, "\n", "\r\n")
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SendMail("sender@example.test", to, strings.NewReader(raw)); err != nil {
		t.Fatalf("SendMail: %v", err)
	}
	if err := c.Quit(); err != nil {
		t.Fatalf("QUIT: %v", err)
	}
}

func awaitSoon(t *testing.T, s interface {
	Await(context.Context, string) (Delivered, error)
}, to string) Delivered {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d, err := s.Await(ctx, to)
	if err != nil {
		t.Fatalf("Await(%q): %v", to, err)
	}
	return d
}

// A message as Latchkey's SMTP sender writes it (multipart/alternative,
// quoted-printable, long lines, non-ASCII text) arrives as its plain text.
func TestSMTPSinkReadsLatchkeyEmail(t *testing.T) {
	arrived := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := startTestSink(t, WithClock(func() time.Time { return arrived }))
	sender, err := smtpmail.New(smtpmail.Config{URL: "smtp://" + s.Addr() + "?starttls=off", From: "Demo <login@example.test>"})
	if err != nil {
		t.Fatal(err)
	}
	text := "Your sign-in code — café\n\n    482913\n\n" + strings.Repeat("This line is long enough to be wrapped by quoted-printable. ", 4) + "\n"
	err = sender.Send(context.Background(), latchkey.Message{ID: "m1", Channel: latchkey.ChannelEmail,
		To: "Alice@Example.TEST", Subject: "Your code", Text: text, HTML: "<p>482913 " + strings.Repeat("x", 200) + "</p>"})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	d := awaitSoon(t, s, "alice@example.test")
	if got := strings.ReplaceAll(d.Text, "\r\n", "\n"); got != text {
		t.Errorf("Text = %q; want %q", got, text)
	}
	if d.To != "alice@example.test" || !d.Arrived.Equal(arrived) {
		t.Errorf("To, Arrived = %q, %v; want alice@example.test, %v", d.To, d.Arrived, arrived)
	}
	if got := FindCode(d.Text); got != "482913" {
		t.Errorf("FindCode = %q; want 482913", got)
	}
	if s.Connections() != 1 || s.Received() != 1 {
		t.Errorf("Connections, Received = %d, %d; want 1, 1", s.Connections(), s.Received())
	}
}

// The text/plain part is found in a nested multipart, base64 undone.
func TestSMTPSinkNestedBase64(t *testing.T) {
	s := startTestSink(t)
	sendRaw(t, s.Addr(), []string{"bob@example.test"}, `From: sender@example.test
To: bob@example.test
Subject: nested
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: multipart/alternative; boundary="inner"

--inner
Content-Type: text/html; charset=utf-8

<p>not this</p>
--inner
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: base64

WW91ciBjb2RlIGlzIDEyMzQ1Ng==
--inner--
--outer--
`)
	if got := awaitSoon(t, s, "bob@example.test").Text; got != "Your code is 123456" {
		t.Errorf("Text = %q", got)
	}
}

// Recipients match without regard to case; each recipient's messages come
// out in order, one Await each; a message to several recipients reaches
// each.
func TestSMTPSinkFIFOPerRecipient(t *testing.T) {
	s := startTestSink(t)
	for _, body := range []string{"first", "second", "third"} {
		sendRaw(t, s.Addr(), []string{"Carol@Example.test", "dave@example.test"},
			"Subject: x\nContent-Type: text/plain\n\n"+body+"\n")
	}
	for _, to := range []string{"CAROL@example.TEST", "dave@EXAMPLE.test"} {
		for _, want := range []string{"first", "second", "third"} {
			if got := strings.TrimSpace(awaitSoon(t, s, to).Text); got != want {
				t.Errorf("Await(%q) = %q; want %q", to, got, want)
			}
		}
	}
	if s.Connections() != 3 || s.Received() != 6 {
		t.Errorf("Connections, Received = %d, %d; want 3, 6", s.Connections(), s.Received())
	}
}

// An Await waiting before the message arrives receives it.
func TestSMTPSinkAwaitBeforeArrival(t *testing.T) {
	s := startTestSink(t)
	got := make(chan Delivered, 1)
	go func() {
		d, _ := s.Await(context.Background(), "erin@example.test")
		got <- d
	}()
	// Wait until the awaiter is registered, so the message cannot be kept
	// for a later Await instead.
	waitFor(t, func() bool {
		s.box.mu.Lock()
		defer s.box.mu.Unlock()
		q := s.box.by["erin@example.test"]
		return q != nil && len(q.waiters) == 1
	})
	sendRaw(t, s.Addr(), []string{"erin@example.test"}, "Subject: x\n\nhello\n")
	if d := <-got; strings.TrimSpace(d.Text) != "hello" {
		t.Errorf("Text = %q; want hello", d.Text)
	}
}

// An Await whose context ends returns the context's error, and takes no
// message with it.
func TestSMTPSinkAwaitCanceled(t *testing.T) {
	s := startTestSink(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := s.Await(ctx, "frank@example.test")
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Await = %v; want context.Canceled", err)
	}
	sendRaw(t, s.Addr(), []string{"frank@example.test"}, "Subject: x\n\nkept\n")
	if got := strings.TrimSpace(awaitSoon(t, s, "frank@example.test").Text); got != "kept" {
		t.Errorf("Text = %q; want kept", got)
	}
}

// A message handed to an awaiter that gives up at the same moment goes
// back to the front of the queue.
func TestMailboxAbandonKeepsHandedMessage(t *testing.T) {
	b := newMailbox(10)
	w := make(chan Delivered, 1)
	b.by["g"] = &rcptQueue{waiters: []chan Delivered{w}}
	b.deliver(Delivered{To: "g", Text: "one"})
	b.deliver(Delivered{To: "g", Text: "two"})
	if _, err := b.abandon("g", w, context.Canceled); err != context.Canceled {
		t.Fatalf("abandon = %v", err)
	}
	for _, want := range []string{"one", "two"} {
		if d, _ := b.await(context.Background(), "g"); d.Text != want {
			t.Errorf("await = %q; want %q", d.Text, want)
		}
	}
	if len(b.by) != 0 || b.all.Len() != 0 {
		t.Errorf("mailbox not empty: %d recipients, %d messages", len(b.by), b.all.Len())
	}
}

// Past its capacity a mailbox drops the oldest message nobody awaited.
func TestMailboxCapacity(t *testing.T) {
	b := newMailbox(2)
	b.deliver(Delivered{To: "a", Text: "a1"})
	b.deliver(Delivered{To: "b", Text: "b1"})
	b.deliver(Delivered{To: "a", Text: "a2"})
	if b.dropped.Load() != 1 || b.all.Len() != 2 {
		t.Fatalf("dropped, kept = %d, %d; want 1, 2", b.dropped.Load(), b.all.Len())
	}
	for _, c := range []struct{ to, want string }{{"a", "a2"}, {"b", "b1"}} {
		if d, _ := b.await(context.Background(), c.to); d.Text != c.want {
			t.Errorf("await(%q) = %q; want %q", c.to, d.Text, c.want)
		}
	}
}

// waitFor polls cond until it holds, failing after a generous minute.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.After(time.Minute)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatal("condition not met within a minute")
		}
	}
}

func TestFindLink(t *testing.T) {
	for text, want := range map[string]string{
		"Sign in: http://127.0.0.1:7080/magic-link?t=abc\n\nThis link expires": "http://127.0.0.1:7080/magic-link?t=abc",
		"Sign in: https://id.example/l/x":                                      "https://id.example/l/x",
		"no link here":                                                         "",
	} {
		if got := findLink(text); got != want {
			t.Errorf("findLink(%q) = %q; want %q", text, got, want)
		}
	}
}
