package delivery_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/delivery"
)

// countingStore is the outbox store with its claims and batched writes
// counted, and batched writes held, when gate is set, until it is closed.
type countingStore struct {
	latchkey.OutboxStore
	claimed atomic.Int64 // messages ClaimMessages returned
	batches atomic.Int64 // UpdateMessages calls
	entered chan struct{}
	gate    chan struct{}
	once    sync.Once
}

func (s *countingStore) ClaimMessages(ctx context.Context, now, leaseUntil time.Time, limit int) ([]latchkey.Message, error) {
	got, err := s.OutboxStore.ClaimMessages(ctx, now, leaseUntil, limit)
	s.claimed.Add(int64(len(got)))
	return got, err
}

func (s *countingStore) UpdateMessages(ctx context.Context, updates []latchkey.MessageUpdate) ([]latchkey.Message, error) {
	s.batches.Add(1)
	if s.gate != nil {
		s.once.Do(func() { close(s.entered) })
		<-s.gate
	}
	return s.OutboxStore.UpdateMessages(ctx, updates)
}

// handoffEnv is an outbox whose worker runs, as in a server, on a store
// that counts its claims.
type handoffEnv struct {
	*outboxEnv
	counted  *countingStore
	mu       sync.Mutex
	recorded []latchkey.Message
	runDone  chan struct{}
}

// newHandoff returns a running worker on a counting store whose batched
// writes wait for gate when it is not nil; configure changes the worker's
// configuration first.
func newHandoff(t *testing.T, gate chan struct{}, s delivery.Sender, configure ...func(*delivery.WorkerConfig)) *handoffEnv {
	t.Helper()
	o := newOutbox(t, s)
	h := &handoffEnv{outboxEnv: o, counted: &countingStore{OutboxStore: o.store, gate: gate, entered: make(chan struct{})},
		runDone: make(chan struct{})}
	cfg := delivery.WorkerConfig{Store: h.counted, Log: slog.New(slog.NewTextHandler(o.logs, nil)),
		Now: o.clock.Now, Rand: rand.Reader, Senders: map[latchkey.Channel][]delivery.Sender{latchkey.ChannelEmail: {s}},
		Recorded: func(m latchkey.Message) {
			h.mu.Lock()
			h.recorded = append(h.recorded, m)
			h.mu.Unlock()
		}}
	for _, c := range configure {
		c(&cfg)
	}
	o.worker = delivery.NewWorker(cfg)
	delivery.SetLeaseRenewal(o.worker, time.Hour) // no renewal writes unless a test asks
	go func() { o.worker.Run(context.Background()); close(h.runDone) }()
	t.Cleanup(func() { o.worker.Stop(context.Background()); <-h.runDone })
	eventually(t, "the worker to take handoffs", func() bool { return delivery.Accepting(o.worker) })
	return h
}

// send queues a message as a send does: leased to the worker in the
// send's transaction, and handed over once it commits.
func (h *handoffEnv) send(text string) latchkey.Message {
	h.t.Helper()
	return h.sendFrom(context.Background(), text)
}

// sendFrom is send by a request whose context is ctx.
func (h *handoffEnv) sendFrom(ctx context.Context, text string) latchkey.Message {
	h.t.Helper()
	h.clock.Advance(time.Millisecond) // a fresh ID
	var handed func(bool)
	m := h.queueMessage(text, 10*time.Minute, nil, func(m *latchkey.Message) { handed = h.worker.Handoff(ctx, m) })
	handed(true)
	return m
}

func (h *handoffEnv) recordedCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.recorded)
}

// TestAHandedOffMessageNeedsNoClaim queues messages as sends do, on a
// running worker: they are written leased, delivered straight away with no
// claim taking them, and their outcomes recorded and reported.
func TestAHandedOffMessageNeedsNoClaim(t *testing.T) {
	s := &scriptedSender{name: "primary"}
	h := newHandoff(t, nil, s)
	var msgs []latchkey.Message
	for i := range 5 {
		m := h.send(fmt.Sprintf("Code %06d", i))
		if want := m.CreatedAt.Add(delivery.Lease); !m.NextAttemptAt.Equal(want) {
			t.Fatalf("a handed-off message was written due at %s; want leased until %s", m.NextAttemptAt, want)
		}
		msgs = append(msgs, m)
	}
	eventually(t, "every outcome recorded", func() bool { return h.recordedCount() == len(msgs) })
	for _, m := range msgs {
		if got := h.message(m.ID); got.Status != latchkey.MessageSent || got.Attempts != 1 || got.Provider != "primary" {
			t.Fatalf("a handed-off message: %+v; want sent once", got)
		}
	}
	if n := h.counted.claimed.Load(); n != 0 {
		t.Fatalf("claims took %d messages; want none: every message was handed over", n)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sent) != len(msgs) || s.sent[0].Text == "" {
		t.Fatalf("the provider got %d messages; want each once, opened", len(s.sent))
	}
}

// TestOutcomesAreRecordedInBatches holds the write of the first outcome
// while the other deliveries end: their outcomes wait, and are written
// together in one transaction.
func TestOutcomesAreRecordedInBatches(t *testing.T) {
	gate := make(chan struct{})
	s := &scriptedSender{name: "primary"}
	h := newHandoff(t, gate, s)
	const messages = 10
	for i := range messages {
		h.send(fmt.Sprintf("Code %06d", i))
	}
	<-h.counted.entered
	eventually(t, "the other outcomes to wait", func() bool { return delivery.PendingOutcomes(h.worker) == messages-1 })
	close(gate)
	eventually(t, "every outcome recorded", func() bool { return h.recordedCount() == messages })
	if n := h.counted.batches.Load(); n != 2 {
		t.Fatalf("%d outcomes written in %d transactions; want 2: the first alone, then the 9 that waited", messages, n)
	}
	sent, _ := h.store.ListMessages(context.Background(), latchkey.MessageSent, 100)
	if len(sent) != messages {
		t.Fatalf("%d messages recorded sent; want %d", len(sent), messages)
	}
}

// TestStopFlushesOutcomes stops a worker while outcomes wait to be
// written: Stop returns only once they are.
func TestStopFlushesOutcomes(t *testing.T) {
	gate := make(chan struct{})
	slow := newBlockingSender("slow")
	h := newHandoff(t, gate, slow)
	a, b := h.send("Code 111111"), h.send("Code 222222")
	slow.waitEntered(t)
	slow.waitEntered(t)
	stopped := make(chan struct{})
	go func() { h.worker.Stop(context.Background()); close(stopped) }()
	eventually(t, "Stop to take effect", func() bool { return delivery.Stopping(h.worker) && !delivery.Accepting(h.worker) })
	close(slow.letGo)
	<-h.counted.entered
	select {
	case <-stopped:
		t.Fatal("Stop returned while outcomes were still unwritten")
	default:
	}
	close(gate)
	<-stopped
	for _, m := range []latchkey.Message{a, b} {
		if got := h.message(m.ID); got.Status != latchkey.MessageSent {
			t.Fatalf("after Stop: %+v; want its outcome recorded", got)
		}
	}
	if n := h.recordedCount(); n != 2 {
		t.Fatalf("Recorded told of %d outcomes; want 2", n)
	}
}

// TestAHandoffAfterStopIsClaimedAfterItsLease hands a message over as the
// node stops (the send committed, the worker gone): nothing delivers it
// until its lease has passed, then another worker claims and delivers it.
func TestAHandoffAfterStopIsClaimedAfterItsLease(t *testing.T) {
	s := &scriptedSender{name: "primary"}
	h := newHandoff(t, nil, s)
	var handed func(bool)
	m := h.queueMessage("Code 343434", time.Minute, nil, func(m *latchkey.Message) {
		handed = h.worker.Handoff(context.Background(), m)
		h.worker.Stop(context.Background()) // the node stops before the send's commit
	})
	<-h.runDone
	handed(true)
	if got := h.message(m.ID); got.Status != latchkey.MessageQueued || !got.NextAttemptAt.After(h.clock.Now()) {
		t.Fatalf("the message handed to a stopped worker: %+v; want queued and leased", got)
	}
	next := &scriptedSender{name: "next"}
	successor := h.otherWorker(next)
	h.clock.Advance(delivery.Lease - time.Second)
	if n, err := successor.RunOnce(context.Background()); n != 0 || err != nil {
		t.Fatalf("another worker claimed %d messages (%v) within the handoff's lease; want none", n, err)
	}
	h.clock.Advance(time.Second)
	if n, err := successor.RunOnce(context.Background()); n != 1 || err != nil {
		t.Fatalf("another worker claimed %d messages (%v) after the handoff's lease; want 1", n, err)
	}
	if got := h.message(m.ID); got.Status != latchkey.MessageSent || got.Provider != "next" || got.Attempts != 1 || s.hits != 0 {
		t.Fatalf("after the lease: %+v; want delivered once, by the other worker", got)
	}
}

// TestAFailedCommitReleasesTheHandoff hands over no message whose send did
// not commit, and a worker that is not running takes no handoff: the
// message is written due at once, for a claim.
func TestAFailedCommitReleasesTheHandoff(t *testing.T) {
	s := &scriptedSender{name: "primary"}
	o := newOutbox(t, s)
	m := latchkey.Message{ID: "m1", NextAttemptAt: o.clock.Now()}
	o.worker.Handoff(context.Background(), &m)(true)
	if !m.NextAttemptAt.Equal(o.clock.Now()) {
		t.Fatal("a worker that does not run leased a message")
	}
	h := newHandoff(t, nil, s)
	for range 300 { // more than a worker holds at once: each place is given back
		x := latchkey.Message{ID: "m2"}
		h.worker.Handoff(context.Background(), &x)(false)
		if !x.NextAttemptAt.After(h.clock.Now()) {
			t.Fatal("a running worker did not lease a message")
		}
	}
}

// requestKey marks the context of the request that queued a message.
type requestKey struct{}

// contextSender records a value of the context of each provider call.
type contextSender struct {
	mu   sync.Mutex
	seen []any
}

func (s *contextSender) Name() string { return "primary" }

func (s *contextSender) Send(ctx context.Context, _ latchkey.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen = append(s.seen, ctx.Value(requestKey{}))
	return nil
}

func (s *contextSender) values() []any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]any(nil), s.seen...)
}

// TestAHandoffCarriesTheRequestsContext hands a message over from a
// request that has ended by the time it is delivered: Carry gives the
// provider's call what it takes of the request's context (its span, in a
// server), and not the request's cancellation.
func TestAHandoffCarriesTheRequestsContext(t *testing.T) {
	s := &contextSender{}
	h := newHandoff(t, nil, s, func(cfg *delivery.WorkerConfig) {
		cfg.Carry = func(from, into context.Context) context.Context {
			return context.WithValue(into, requestKey{}, from.Value(requestKey{}))
		}
	})
	request, cancel := context.WithCancel(context.WithValue(context.Background(), requestKey{}, "send-1"))
	m := h.sendFrom(request, "Code 123456")
	cancel() // the request has answered
	eventually(t, "the outcome recorded", func() bool { return h.recordedCount() == 1 })
	if got := h.message(m.ID); got.Status != latchkey.MessageSent {
		t.Fatalf("the message handed over by an ended request is %s; want sent", got.Status)
	}
	if got := s.values(); len(got) != 1 || got[0] != "send-1" {
		t.Fatalf("the provider's calls saw %v of the request's context; want [send-1]", got)
	}
}
