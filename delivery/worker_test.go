package delivery_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/delivery"
	"github.com/latchkeyhq/latchkey/fake"
	"github.com/latchkeyhq/latchkey/secrets"
	"github.com/latchkeyhq/latchkey/sqlite"
)

// scriptedSender is a provider whose answers the test scripts: it fails
// with the queued errors, then succeeds, recording every message it sent.
type scriptedSender struct {
	name string
	mu   sync.Mutex
	errs []error
	sent []latchkey.Message
	hits int
}

func (s *scriptedSender) Name() string { return s.name }

func (s *scriptedSender) Send(_ context.Context, m latchkey.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hits++
	if len(s.errs) > 0 {
		err := s.errs[0]
		s.errs = s.errs[1:]
		return err
	}
	s.sent = append(s.sent, m)
	return nil
}

type outboxEnv struct {
	t      *testing.T
	store  *sqlite.Store
	clock  *fake.Clock
	worker *delivery.Worker
	logs   *bytes.Buffer
	app    latchkey.App
}

func newOutbox(t *testing.T, senders ...delivery.Sender) *outboxEnv {
	t.Helper()
	return newOutboxWith(t, nil, senders...)
}

// newOutboxWith is newOutbox with a worker that opens sealed messages with
// keyring.
func newOutboxWith(t *testing.T, keyring *secrets.Keyring, senders ...delivery.Sender) *outboxEnv {
	t.Helper()
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "outbox.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	clock := fake.NewClock(time.Date(2026, 7, 1, 8, 0, 0, 0, time.UTC))
	if _, err := store.Migrate(context.Background(), rand.Reader, clock.Now()); err != nil {
		t.Fatal(err)
	}
	app := latchkey.App{ID: "app1", Name: "Shop", ClientID: "c1", SecretHash: []byte{1}, Policy: latchkey.DefaultLoginPolicy(),
		SecretRotatedAt: clock.Now(), CreatedAt: clock.Now(), UpdatedAt: clock.Now()}
	if err := store.CreateApp(context.Background(), app); err != nil {
		t.Fatal(err)
	}
	logs := &bytes.Buffer{}
	w := delivery.NewWorker(delivery.WorkerConfig{Store: store, Log: slog.New(slog.NewTextHandler(logs, nil)), Now: clock.Now, Rand: rand.Reader,
		Senders: map[latchkey.Channel][]delivery.Sender{latchkey.ChannelEmail: senders}, Keyring: keyring})
	return &outboxEnv{t: t, store: store, clock: clock, worker: w, logs: logs, app: app}
}

// queue stores a challenge with its message, as a send does, with a code
// valid for ten minutes.
func (o *outboxEnv) queue(text string) latchkey.Message {
	o.t.Helper()
	return o.queueFor(text, 10*time.Minute)
}

// queueFor is queue with a code valid for ttl.
func (o *outboxEnv) queueFor(text string, ttl time.Duration) latchkey.Message {
	o.t.Helper()
	return o.queueMessage(text, ttl, nil)
}

// queueMessage queues a message, changed by edits, then sealed with seal
// when it is not nil.
func (o *outboxEnv) queueMessage(text string, ttl time.Duration, seal *secrets.Keyring, edits ...func(*latchkey.Message)) latchkey.Message {
	o.t.Helper()
	now := o.clock.Now()
	id := fmt.Sprintf("m%d", now.UnixNano())
	m := latchkey.Message{ID: id, AppID: o.app.ID, Channel: latchkey.ChannelEmail, To: "ada@example.com", Subject: "Code",
		Text: text, HTML: "<p>" + text + "</p>", Status: latchkey.MessageQueued, CreatedAt: now, NextAttemptAt: now,
		ExpiresAt: now.Add(ttl)}
	for _, edit := range edits {
		edit(&m)
	}
	if seal != nil {
		if err := delivery.Seal(seal, &m); err != nil {
			o.t.Fatal(err)
		}
	}
	c := latchkey.Challenge{ID: "c" + id, AppID: o.app.ID, Kind: latchkey.KindOTP, Subject: "user:" + id, Channel: latchkey.ChannelEmail,
		CodeHash: []byte(id), CreatedAt: now, ExpiresAt: m.ExpiresAt}
	if err := o.store.CreateChallenge(context.Background(), c, &m, nil); err != nil {
		o.t.Fatal(err)
	}
	return m
}

func (o *outboxEnv) run() {
	o.t.Helper()
	if _, err := o.worker.RunOnce(context.Background()); err != nil {
		o.t.Fatal(err)
	}
}

func (o *outboxEnv) message(id string) latchkey.Message {
	o.t.Helper()
	list, err := o.store.ListMessages(context.Background(), "", 100)
	if err != nil {
		o.t.Fatal(err)
	}
	for _, m := range list {
		if m.ID == id {
			return m
		}
	}
	o.t.Fatalf("message %s not found", id)
	return latchkey.Message{}
}

// untilDue advances the clock to the message's next attempt.
func (o *outboxEnv) untilDue(id string) {
	o.t.Helper()
	if next := o.message(id).NextAttemptAt; next.After(o.clock.Now()) {
		o.clock.Set(next)
	}
}

func TestRetriesWithBackoffThenDeliversOnce(t *testing.T) {
	s := &scriptedSender{name: "primary", errs: []error{errors.New("timeout"), errors.New("503"), errors.New("503")}}
	o := newOutbox(t, s)
	m := o.queue("Code 123456")
	var waits []time.Duration
	for i := range 3 {
		o.run()
		got := o.message(m.ID)
		if got.Status != latchkey.MessageQueued || got.Attempts != i+1 || got.LastError == "" {
			t.Fatalf("after failure %d: %+v; want queued with the attempt and reason recorded", i+1, got)
		}
		waits = append(waits, got.NextAttemptAt.Sub(o.clock.Now()))
		o.run() // not due yet: nothing happens
		if s.hits != i+1 {
			t.Fatalf("the provider was called before the backoff ended")
		}
		o.untilDue(m.ID)
	}
	for i, w := range waits {
		base := 2 * time.Second << i
		if w < base || w > base+base/2 {
			t.Errorf("wait %d = %v; want %v plus up to half again of jitter", i+1, w, base)
		}
	}
	o.run()
	got := o.message(m.ID)
	if got.Status != latchkey.MessageSent || got.Provider != "primary" || got.Attempts != 4 || got.SentAt.IsZero() {
		t.Fatalf("after success: %+v", got)
	}
	if len(s.sent) != 1 || s.sent[0].Text != "Code 123456" {
		t.Fatalf("delivered %d messages; want exactly one, with its text", len(s.sent))
	}
	o.clock.Advance(time.Hour)
	o.run()
	if len(s.sent) != 1 {
		t.Fatal("a sent message was delivered again")
	}
	if strings.Contains(o.logs.String(), "123456") || strings.Contains(o.logs.String(), "ada@example.com") {
		t.Fatal("the logs hold the code or the unmasked address")
	}
}

func TestPermanentFailureStopsRetrying(t *testing.T) {
	s := &scriptedSender{name: "primary", errs: []error{delivery.Permanent(errors.New("550 mailbox unavailable"))}}
	o := newOutbox(t, s)
	m := o.queue("Code 111111")
	o.run()
	got := o.message(m.ID)
	if got.Status != latchkey.MessageFailed || !strings.Contains(got.LastError, "550") || got.Attempts != 1 {
		t.Fatalf("after a permanent failure: %+v", got)
	}
	o.clock.Advance(time.Hour)
	o.run()
	if s.hits != 1 {
		t.Fatalf("a permanently failed message was retried (%d calls)", s.hits)
	}
	if !strings.Contains(o.logs.String(), "message failed") {
		t.Fatal("the failure is not logged")
	}
}

func TestFallbackTakesOverWhenThePrimaryIsDown(t *testing.T) {
	primary := &scriptedSender{name: "primary", errs: []error{errors.New("connection refused")}}
	fallback := &scriptedSender{name: "fallback"}
	o := newOutbox(t, primary, fallback)
	m := o.queue("Code 222222")
	o.run()
	got := o.message(m.ID)
	if got.Status != latchkey.MessageSent || got.Provider != "fallback" || len(fallback.sent) != 1 || len(primary.sent) != 0 {
		t.Fatalf("with the primary down: %+v; want sent by the fallback", got)
	}
}

func TestGivesUpWhenTheCodeExpires(t *testing.T) {
	s := &scriptedSender{name: "primary"}
	for range 20 {
		s.errs = append(s.errs, errors.New("503"))
	}
	o := newOutbox(t, s)
	// A 30-second code: the backoff passes its expiry long before the
	// attempts run out.
	m := o.queueFor("Code 333333", 30*time.Second)
	for range 20 {
		o.run()
		if o.message(m.ID).Status != latchkey.MessageQueued {
			break
		}
		o.untilDue(m.ID)
	}
	got := o.message(m.ID)
	if got.Status != latchkey.MessageFailed {
		t.Fatalf("a message retried past its code's expiry: %+v", got)
	}
	if got.Attempts >= delivery.MaxAttempts || !o.clock.Now().Before(m.ExpiresAt) {
		t.Fatalf("%d attempts by %s; want the message given up before its %d attempts and its expiry at %s, as the next retry would fall after it",
			got.Attempts, o.clock.Now(), delivery.MaxAttempts, m.ExpiresAt)
	}
	late := o.queue("Code 444444")
	o.clock.Advance(11 * time.Minute)
	o.run()
	if got := o.message(late.ID); got.Status != latchkey.MessageFailed || !strings.Contains(got.LastError, "expired") {
		t.Fatalf("a message whose code expired in the queue: %+v; want failed as expired", got)
	}
}

func TestNoProviderFailsTheMessage(t *testing.T) {
	o := newOutbox(t)
	if o.worker.Available(latchkey.ChannelEmail) {
		t.Fatal("a channel without providers reports itself available")
	}
	m := o.queue("Code 555555")
	o.run()
	if got := o.message(m.ID); got.Status != latchkey.MessageFailed {
		t.Fatalf("a message without a provider: %+v", got)
	}
}

func TestMask(t *testing.T) {
	for in, want := range map[string]string{"ada@example.com": "a***@example.com", "+14155550100": "+1******0100", "x": "***"} {
		if got := delivery.Mask(in); got != want {
			t.Errorf("Mask(%q) = %q; want %q", in, got, want)
		}
	}
}

// blockingSender is a provider whose Send waits: until the test lets it
// go (then succeeds), or until its context ends (then fails with it).
type blockingSender struct {
	name    string
	entered chan string // the ID of each message Send starts on
	letGo   chan struct{}
	mu      sync.Mutex
	sent    []string
}

func newBlockingSender(name string) *blockingSender {
	return &blockingSender{name: name, entered: make(chan string, 16), letGo: make(chan struct{})}
}

func (s *blockingSender) Name() string { return s.name }

func (s *blockingSender) Send(ctx context.Context, m latchkey.Message) error {
	s.entered <- m.ID
	select {
	case <-s.letGo:
		s.mu.Lock()
		s.sent = append(s.sent, m.ID)
		s.mu.Unlock()
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// waitEntered waits for Send to start on a message.
func (s *blockingSender) waitEntered(t testing.TB) string {
	t.Helper()
	select {
	case id := <-s.entered:
		return id
	case <-time.After(30 * time.Second):
		t.Fatal("the provider was never called")
		return ""
	}
}

// eventually polls cond every 10 ms, failing the test after a generous
// 30 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// start runs the worker until the test stops it, and waits for the
// provider s to be called on the message queued; the channel is closed
// when Run returns.
func (o *outboxEnv) start(s *blockingSender) <-chan struct{} {
	o.t.Helper()
	done := make(chan struct{})
	go func() { o.worker.Run(context.Background()); close(done) }()
	o.worker.Notify()
	s.waitEntered(o.t)
	return done
}

// otherWorker is a second worker on the same outbox, as on another node.
func (o *outboxEnv) otherWorker(s delivery.Sender) *delivery.Worker {
	return delivery.NewWorker(delivery.WorkerConfig{Store: o.store, Log: slog.New(slog.DiscardHandler), Now: o.clock.Now, Rand: rand.Reader,
		Senders: map[latchkey.Channel][]delivery.Sender{latchkey.ChannelEmail: {s}}})
}

// TestASlowDeliveryKeepsItsClaim holds a provider call past the lease: the
// worker renews the message's lease meanwhile, so another worker cannot
// claim it, and it is delivered exactly once.
func TestASlowDeliveryKeepsItsClaim(t *testing.T) {
	slow := newBlockingSender("slow")
	o := newOutbox(t, slow)
	delivery.SetLeaseRenewal(o.worker, 10*time.Millisecond)
	m := o.queue("Code 666666")
	ran := make(chan error, 1)
	go func() { _, err := o.worker.RunOnce(context.Background()); ran <- err }()
	slow.waitEntered(t)

	o.clock.Advance(time.Minute) // far past the lease of the claim
	eventually(t, "the lease renewed past the clock", func() bool { return o.message(m.ID).NextAttemptAt.After(o.clock.Now()) })
	other := &scriptedSender{name: "other"}
	second := o.otherWorker(other)
	if n, err := second.RunOnce(context.Background()); n != 0 || err != nil {
		t.Fatalf("another worker claimed %d messages (%v) while the slow delivery ran; want none", n, err)
	}
	close(slow.letGo)
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	if got := o.message(m.ID); got.Status != latchkey.MessageSent || got.Provider != "slow" || got.Attempts != 1 {
		t.Fatalf("after the slow delivery: %+v; want sent once by it", got)
	}
	o.clock.Advance(time.Hour)
	if n, _ := second.RunOnce(context.Background()); n != 0 || other.hits != 0 {
		t.Fatal("a delivered message was claimed again after its renewed lease")
	}
}

// TestAClaimOfADeadWorkerLapses claims a message as a worker that then
// dies would: nobody renews the claim, and another worker delivers the
// message once the lease has passed, not before.
func TestAClaimOfADeadWorkerLapses(t *testing.T) {
	s := &scriptedSender{name: "primary"}
	o := newOutbox(t, s)
	m := o.queueFor("Code 777777", time.Minute) // the shortest expiry an app allows
	now := o.clock.Now()
	if claimed, err := o.store.ClaimMessages(context.Background(), now, now.Add(delivery.Lease), 10); err != nil || len(claimed) != 1 {
		t.Fatalf("the dying worker's claim: %d messages, %v", len(claimed), err)
	}
	o.clock.Advance(delivery.Lease - time.Second)
	o.run()
	if s.hits != 0 {
		t.Fatal("a message was delivered while its claim was still live")
	}
	o.clock.Advance(time.Second)
	o.run()
	if got := o.message(m.ID); got.Status != latchkey.MessageSent || got.Attempts != 1 {
		t.Fatalf("after the dead worker's lease: %+v; want delivered, on the first attempt", got)
	}
}

// TestStopFinishesDeliveriesInFlight stops a running worker while a
// delivery is in flight: it claims nothing more, the delivery finishes
// and its outcome is recorded.
func TestStopFinishesDeliveriesInFlight(t *testing.T) {
	slow := newBlockingSender("slow")
	o := newOutbox(t, slow)
	first := o.queue("Code 888888")
	runDone := o.start(slow)

	stopped := make(chan struct{})
	go func() { o.worker.Stop(context.Background()); close(stopped) }()
	eventually(t, "Stop to take effect", func() bool { return delivery.Stopping(o.worker) })
	o.clock.Advance(time.Millisecond)
	later := o.queue("Code 999999")
	o.worker.Notify()
	close(slow.letGo)
	<-stopped
	<-runDone
	if got := o.message(first.ID); got.Status != latchkey.MessageSent {
		t.Fatalf("the delivery in flight at Stop: %+v; want finished and recorded as sent", got)
	}
	if got := o.message(later.ID); got.Status != latchkey.MessageQueued || got.Attempts != 0 {
		t.Fatalf("a message queued after Stop: %+v; want left queued for the next node", got)
	}
}

// TestStopReleasesDeliveriesPastItsBound stops a worker whose delivery
// outlasts the stop's bound: the provider call is cancelled and the
// message released for another attempt at once, with no attempt counted,
// and the next worker delivers it.
func TestStopReleasesDeliveriesPastItsBound(t *testing.T) {
	stuck := newBlockingSender("stuck")
	o := newOutbox(t, stuck)
	m := o.queue("Code 121212")
	runDone := o.start(stuck)

	bound, cancel := context.WithCancel(context.Background())
	cancel() // the bound has passed
	o.worker.Stop(bound)
	<-runDone
	got := o.message(m.ID)
	if got.Status != latchkey.MessageQueued || got.Attempts != 0 || got.NextAttemptAt.After(o.clock.Now()) ||
		!strings.Contains(got.LastError, "shutdown") {
		t.Fatalf("a delivery interrupted by Stop: %+v; want queued, due now, no attempt counted, the reason recorded", got)
	}
	if !strings.Contains(o.logs.String(), "released") {
		t.Fatalf("the release is not logged: %s", o.logs.String())
	}
	next := &scriptedSender{name: "next"}
	successor := o.otherWorker(next)
	if _, err := successor.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := o.message(m.ID); got.Status != latchkey.MessageSent || got.Provider != "next" || got.Attempts != 1 {
		t.Fatalf("after the successor ran: %+v; want delivered by it", got)
	}
}

// TestEveryRecordedOutcomeIsObserved checks that WorkerConfig.Recorded is
// told of each outcome once it is recorded, with the message as recorded:
// a retry, a delivery (with its provider and when it was sent), a
// permanent failure and a decoy's suppressed message.
func TestEveryRecordedOutcomeIsObserved(t *testing.T) {
	s := &scriptedSender{name: "primary", errs: []error{errors.New("timeout")}}
	o := newOutbox(t, s)
	var recorded []latchkey.Message
	o.worker = delivery.NewWorker(delivery.WorkerConfig{Store: o.store, Log: slog.New(slog.DiscardHandler), Now: o.clock.Now,
		Rand: rand.Reader, Senders: map[latchkey.Channel][]delivery.Sender{latchkey.ChannelEmail: {s}},
		Recorded: func(m latchkey.Message) { recorded = append(recorded, m) }})
	created := o.clock.Now()
	m := o.queue("Code 333333")
	o.run()
	o.untilDue(m.ID)
	sentAt := o.clock.Now()
	o.run()
	s.errs = []error{delivery.Permanent(errors.New("550 mailbox unavailable"))}
	o.clock.Advance(time.Second)
	o.queue("Code 444444")
	o.run()
	o.clock.Advance(time.Second)
	o.queueMessage("Code 555555", time.Minute, nil, func(m *latchkey.Message) { m.Suppressed = true })
	o.run()

	var got []string
	for _, r := range recorded {
		got = append(got, fmt.Sprintf("%s %s %d", r.Status, r.Provider, r.Attempts))
	}
	want := []string{"queued  1", "sent primary 2", "failed  1", "suppressed  1"}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Fatalf("Recorded was told %q; want %q", got, want)
	}
	if sent := recorded[1]; !sent.CreatedAt.Equal(created) || !sent.SentAt.Equal(sentAt) || sent.ID != m.ID {
		t.Fatalf("the delivery was observed created at %s and sent at %s; want %s and %s", sent.CreatedAt, sent.SentAt, created, sentAt)
	}
}
