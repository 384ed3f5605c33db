package delivery_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/delivery"
	"github.com/latchkeyhq/latchkey/sqlite"
	"github.com/latchkeyhq/latchkey/storehook"
)

// signalSender is a provider that takes every message at once and tells
// whoever waits for it.
type signalSender struct{ waiting sync.Map } // message ID: chan struct{}

func (s *signalSender) Name() string { return "signal" }

func (s *signalSender) Send(_ context.Context, m latchkey.Message) error {
	if ch, ok := s.waiting.Load(m.ID); ok {
		close(ch.(chan struct{}))
	}
	return nil
}

// BenchmarkQueueAndDeliver is the outbox's part of an email login, on a
// real SQLite file with the worker running as in a server: queue a message
// with its challenge, as a send does, and wait until the provider has it.
// It reports the database writes per message besides the send's own
// (writes/msg: claims, outcomes and lease renewals).
func BenchmarkQueueAndDeliver(b *testing.B) {
	store, err := sqlite.Open(filepath.Join(b.TempDir(), "bench.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	if _, err := store.Migrate(ctx, rand.Reader, time.Now()); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	app := latchkey.App{ID: "app1", Name: "Shop", ClientID: "c1", SecretHash: []byte{1}, Policy: latchkey.DefaultLoginPolicy(),
		SecretRotatedAt: now, CreatedAt: now, UpdatedAt: now}
	if err := store.CreateApp(ctx, app); err != nil {
		b.Fatal(err)
	}
	var writes atomic.Int64
	counted := storehook.Wrap(store, func(ctx context.Context, op string, call func(context.Context) error) error {
		if op != "CreateChallenge" && op != "ListMessages" && op != "OutboxBacklog" {
			writes.Add(1)
		}
		return call(ctx)
	})
	sender := &signalSender{}
	w := delivery.NewWorker(delivery.WorkerConfig{Store: counted, Log: slog.New(slog.DiscardHandler), Now: time.Now,
		Rand: rand.Reader, Senders: map[latchkey.Channel][]delivery.Sender{latchkey.ChannelEmail: {sender}}})
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	defer func() { w.Stop(ctx); <-done }()
	for !delivery.Accepting(w) {
		runtime.Gosched()
	}
	var seq atomic.Int64
	writes.Store(0)
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := fmt.Sprintf("m%d", seq.Add(1))
			at := time.Now()
			m := latchkey.Message{ID: id, AppID: app.ID, Channel: latchkey.ChannelEmail, To: "ada@example.com",
				Subject: "Code", Text: "Code 123456", HTML: "<p>Code 123456</p>", Status: latchkey.MessageQueued,
				CreatedAt: at, NextAttemptAt: at, ExpiresAt: at.Add(time.Minute)}
			c := latchkey.Challenge{ID: "c" + id, AppID: app.ID, Kind: latchkey.KindOTP, Subject: "user:" + id,
				Channel: latchkey.ChannelEmail, CodeHash: []byte(id), CreatedAt: at, ExpiresAt: m.ExpiresAt}
			handed := w.Handoff(context.Background(), &m)
			arrived := make(chan struct{})
			sender.waiting.Store(id, arrived)
			err := counted.CreateChallenge(ctx, c, &m, nil)
			handed(err == nil)
			if err != nil {
				b.Error(err)
				return
			}
			<-arrived
			sender.waiting.Delete(id)
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(writes.Load())/float64(b.N), "writes/msg")
}
