package delivery_test

import (
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/delivery"
	"github.com/latchkeyhq/latchkey/secrets"
)

func mustKeyring(t *testing.T, current string, previous ...string) *secrets.Keyring {
	t.Helper()
	var prev [][]byte
	for _, p := range previous {
		prev = append(prev, []byte(strings.Repeat(p, 32)))
	}
	k, err := secrets.New(rand.Reader, []byte(strings.Repeat(current, 32)), prev...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestSealAndOpen checks that a sealed message keeps nothing of its
// content in clear, opens back whole, and opens only as the message it was
// sealed for.
func TestSealAndOpen(t *testing.T) {
	k := mustKeyring(t, "a")
	m := latchkey.Message{ID: "m1", To: "ada@example.com", Subject: "Your code", Text: "Code 123456",
		HTML: "<a href=\"https://login.example/magic-link?code=abc\">Sign in</a>"}
	want := m
	if err := delivery.Seal(k, &m); err != nil {
		t.Fatal(err)
	}
	if m.Subject != "" || m.Text != "" || m.HTML != "" || len(m.Sealed) == 0 ||
		strings.Contains(string(m.Sealed), "123456") || strings.Contains(string(m.Sealed), "code=abc") {
		t.Fatalf("sealed message %+v keeps content in clear", m)
	}
	opened, err := delivery.Open(k, m)
	if err != nil || opened.Subject != want.Subject || opened.Text != want.Text || opened.HTML != want.HTML || opened.Sealed != nil {
		t.Fatalf("Open = %+v, %v; want the content back", opened, err)
	}
	moved := m
	moved.ID = "m2"
	if _, err := delivery.Open(k, moved); err == nil {
		t.Fatal("a body sealed for one message opened as another")
	}
	if _, err := delivery.Open(nil, m); err == nil {
		t.Fatal("a sealed message opened without a keyring")
	}
	plain := latchkey.Message{ID: "m3", Text: "queued before sealing"}
	if got, err := delivery.Open(nil, plain); err != nil || got.Text != plain.Text {
		t.Fatalf("Open of an unsealed message = %+v, %v; want it as it is", got, err)
	}
}

// TestWorkerOpensSealedMessages delivers a message sealed under a previous
// server secret (still configured) opened, so a secret rotation strands no
// queued message; one sealed under a secret no longer configured fails at
// once, without reaching the provider.
func TestWorkerOpensSealedMessages(t *testing.T) {
	s := &scriptedSender{name: "primary"}
	o := newOutboxWith(t, mustKeyring(t, "new", "old"), s)
	rotated := o.queueMessage("Code 333333", 10*time.Minute, mustKeyring(t, "old"))
	o.clock.Advance(time.Millisecond)
	lost := o.queueMessage("Code 444444", 10*time.Minute, mustKeyring(t, "gone"))
	o.run()
	if got := o.message(rotated.ID); got.Status != latchkey.MessageSent {
		t.Fatalf("a message sealed under the previous secret: %+v; want sent", got)
	}
	if len(s.sent) != 1 || s.sent[0].Text != "Code 333333" || s.sent[0].HTML != "<p>Code 333333</p>" || s.sent[0].Subject != "Code" {
		t.Fatalf("the provider got %+v; want the opened message", s.sent)
	}
	if got := o.message(lost.ID); got.Status != latchkey.MessageFailed || !strings.Contains(got.LastError, "open") || got.Attempts != 1 {
		t.Fatalf("a message sealed under an unknown secret: %+v; want failed at once", got)
	}
}

// TestSuppressedMessageReachesNoProvider runs a decoy's message through the
// worker: it is claimed and opened like any other, handed to no provider,
// and recorded as suppressed, its content erased.
func TestSuppressedMessageReachesNoProvider(t *testing.T) {
	s := &scriptedSender{name: "primary"}
	k := mustKeyring(t, "k")
	o := newOutboxWith(t, k, s)
	m := o.queueMessage("Code 555555", 10*time.Minute, k, func(m *latchkey.Message) { m.Suppressed = true })
	o.run()
	got := o.message(m.ID)
	if got.Status != latchkey.MessageSuppressed || got.Attempts != 1 || got.Provider != "" || s.hits != 0 {
		t.Fatalf("a suppressed message: %+v, %d provider calls; want suppressed after one attempt, no provider", got, s.hits)
	}
	if !strings.Contains(o.logs.String(), "message suppressed") {
		t.Fatal("the suppression is not logged")
	}
}
