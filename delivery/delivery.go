// Package delivery gets login messages to users: it composes emails and SMS
// from templates, and its Worker drains the outbox through the configured
// providers.
//
// A send request writes its challenge and its message in one transaction and
// answers at once. The message is written already leased to the worker of
// the node that made the send, and handed to it in memory (handoff.go);
// the Worker also claims due messages (each by exactly one worker, on any
// node): retries, and those no worker took. It hands each to the channel's
// provider, and on failure
// tries the fallback provider, then retries with exponential backoff and
// jitter until the message succeeds, fails permanently, or outlives the code
// it carries. A delivered or abandoned message loses its content, so no code
// stays in the database longer than needed.
//
// A claim is a lease (lease.go) that the worker renews while the delivery
// runs, so a node that dies delays its messages by at most Lease before
// another node (or the restarted one) claims them. Delivery is therefore
// at least once: a node that dies after the provider accepted a message
// and before the outcome was recorded leaves it to be sent again. Stop
// ends a worker gracefully: it claims nothing more, lets the deliveries in
// flight finish, releases those that outlast its bound, and records every
// outcome whatever the state of the caller's context. Outcomes are written
// in batches (outcomes.go): under load, one transaction records many.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/secrets"
)

// Sender delivers messages of one channel through one provider.
type Sender interface {
	// Name identifies the provider in logs and message records.
	Name() string
	// Send delivers m. An error wrapped by Permanent will not succeed on
	// retry (an invalid number, a rejected address); any other error may.
	Send(ctx context.Context, m latchkey.Message) error
}

// PermanentError marks a failure that retrying cannot fix.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err as a permanent failure.
func Permanent(err error) error { return &PermanentError{Err: err} }

// IsPermanent reports whether err is a permanent failure.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// Retry policy.
const (
	// MaxAttempts bounds the deliveries tried for one message.
	MaxAttempts = 8
	// firstBackoff is the wait after the first failure; it doubles each
	// time, up to maxBackoff, with up to half of it added at random.
	firstBackoff = 2 * time.Second
	maxBackoff   = 5 * time.Minute
	// Lease is how long a claimed message is reserved for its worker.
	// The worker renews it every leaseRenewal while the message's
	// delivery runs, however slow the provider, so only a worker that
	// died (or lost the database) lets it lapse: its messages are then
	// claimed again, by any node, at most Lease later.
	Lease        = 15 * time.Second
	leaseRenewal = Lease / 3
	// sendTimeout bounds one provider call.
	sendTimeout = 30 * time.Second
	// pollInterval is how often an idle worker looks for due messages
	// that no Notify announced (retries, or sends made on other nodes).
	pollInterval = time.Second
	batchSize    = 32
)

// Worker drains the outbox.
type Worker struct {
	store   latchkey.OutboxStore
	senders map[latchkey.Channel][]Sender
	log     *slog.Logger
	now     func() time.Time
	jitter  func(time.Duration) time.Duration
	wake    chan struct{}
	mu      sync.Mutex    // serialises RunOnce within this process
	renewal time.Duration // how often the leases of deliveries in flight are renewed
	// recorded is told of every outcome recorded (WorkerConfig.Recorded).
	recorded func(latchkey.Message)
	// carry gives a handed-off delivery what it needs of the context of the
	// request that queued it (WorkerConfig.Carry).
	carry func(from, into context.Context) context.Context

	// Handoffs (handoff.go): taken while accepting, each with a place
	// of the maxHandoffs reserved until its delivery ends.
	handoffs  chan handoff
	reserved  atomic.Int64
	accepting atomic.Bool
	// outcomes waiting to be recorded (outcomes.go).
	outcomes recorder

	// Stopping: Stop closes quit, then abandon if its wait ends first;
	// Run closes done when it returns.
	running   atomic.Bool
	quit      chan struct{}
	abandon   chan struct{}
	done      chan struct{}
	quitOnce  sync.Once
	abandoned sync.Once
}

// WorkerConfig configures a Worker.
type WorkerConfig struct {
	Store latchkey.OutboxStore
	// Senders lists each channel's providers, primary first, then the
	// fallback.
	Senders map[latchkey.Channel][]Sender
	Log     *slog.Logger
	Now     func() time.Time
	// Rand seeds the backoff jitter.
	Rand io.Reader
	// Keyring opens sealed messages (sealed.go) just before each provider
	// call.
	Keyring *secrets.Keyring
	// Recorded, when set, is told of every delivery outcome once it is
	// recorded, with the message as recorded: sent (by Provider, at
	// SentAt), suppressed, failed, or still queued for a retry. It is the
	// one place deliveries are observed (package metrics counts them).
	Recorded func(latchkey.Message)
	// Carry, when set, gives the delivery of a message handed over by the
	// request that queued it (handoff.go) what it needs of that request's
	// context, which has ended by then: package tracing carries its span,
	// so that the provider's call is a child of the send's. It must take
	// values only, never the request's deadline or cancellation.
	Carry func(from, into context.Context) context.Context
}

// NewWorker returns a Worker.
func NewWorker(cfg WorkerConfig) *Worker {
	var seed [32]byte
	_, _ = io.ReadFull(cfg.Rand, seed[:])
	src := rand.New(rand.NewChaCha8(seed))
	var jmu sync.Mutex
	return &Worker{
		store: cfg.Store, senders: openSealed(cfg.Keyring, cfg.Senders), log: cfg.Log, now: cfg.Now, wake: make(chan struct{}, 1),
		quit: make(chan struct{}), abandon: make(chan struct{}), done: make(chan struct{}), renewal: leaseRenewal,
		recorded: cfg.Recorded, handoffs: make(chan handoff, maxHandoffs), carry: cfg.Carry,
		jitter: func(d time.Duration) time.Duration {
			jmu.Lock()
			defer jmu.Unlock()
			return time.Duration(src.Int64N(int64(d)/2 + 1))
		},
	}
}

// Available reports whether the channel has a provider.
func (w *Worker) Available(ch latchkey.Channel) bool { return len(w.senders[ch]) > 0 }

// Notify tells the worker that a message was queued, so it need not wait for
// its next poll.
func (w *Worker) Notify() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run delivers messages until ctx ends or Stop is called. When ctx ends,
// the provider calls in flight are cancelled at once; to stop gracefully,
// pass a context that outlives the work and call Stop.
func (w *Worker) Run(ctx context.Context) {
	w.running.Store(true)
	defer close(w.done)
	sendCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-w.abandon:
			cancel()
		case <-sendCtx.Done():
		}
	}()
	stopTaking, taken := make(chan struct{}), make(chan struct{})
	go func() { w.takeHandoffs(sendCtx, stopTaking); close(taken) }()
	w.accepting.Store(true)
	defer func() {
		w.accepting.Store(false)
		close(stopTaking)
		<-taken
	}()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.quit:
			return
		case <-w.wake:
		case <-timer.C:
		}
		for w.claimable() {
			n, err := w.runOnce(ctx, sendCtx)
			if err != nil {
				w.log.Warn("outbox: claim messages", "err", err)
				break
			}
			if n < batchSize {
				break
			}
		}
		timer.Reset(pollInterval)
	}
}

// claimable reports whether the worker may still claim messages.
func (w *Worker) claimable() bool {
	select {
	case <-w.quit:
		return false
	default:
		return true
	}
}

// Stop makes Run claim and take nothing more and waits for the deliveries
// in flight (those handed over included) to end. If ctx ends first, their provider calls are cancelled
// and each message is released for another attempt at once, by whichever
// node claims it next; Stop still waits for those outcomes to be recorded,
// which takes at most the database deadline. Stop returns at once when Run
// is not running.
func (w *Worker) Stop(ctx context.Context) {
	w.quitOnce.Do(func() { close(w.quit) })
	if !w.running.Load() {
		return
	}
	select {
	case <-w.done:
	case <-ctx.Done():
		w.abandoned.Do(func() { close(w.abandon) })
		<-w.done
	}
}

// RunOnce claims the due messages once and tries each, returning how many it
// claimed.
func (w *Worker) RunOnce(ctx context.Context) (int, error) { return w.runOnce(ctx, ctx) }

// runOnce claims with ctx and delivers with sendCtx, renewing the claims'
// lease until every delivery has been recorded.
func (w *Worker) runOnce(ctx, sendCtx context.Context) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	msgs, err := w.store.ClaimMessages(ctx, now, now.Add(Lease), batchSize)
	if err != nil || len(msgs) == 0 {
		return 0, err
	}
	held := w.hold(msgs)
	defer held.stop()
	var wg sync.WaitGroup
	for _, m := range msgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.deliver(sendCtx, m, held)
		}()
	}
	wg.Wait()
	return len(msgs), nil
}

// deliver tries one message through its channel's providers and records the
// outcome. A delivery cancelled by the worker's stop releases its message
// instead.
func (w *Worker) deliver(ctx context.Context, m latchkey.Message, held *leases) {
	record := func(provider string, sendErr error, permanent bool) {
		w.record(context.WithoutCancel(ctx), m, provider, sendErr, permanent)
		held.drop(m.ID)
	}
	if !w.now().Before(m.ExpiresAt) {
		record("", errors.New("the code expired before the message could be delivered"), true)
		return
	}
	senders := w.senders[m.Channel]
	if len(senders) == 0 {
		record("", fmt.Errorf("no %s provider is configured", m.Channel), true)
		return
	}
	var errs []error
	permanent := true
	for _, s := range senders {
		sendCtx, cancel := context.WithTimeout(ctx, sendTimeout)
		err := s.Send(sendCtx, m)
		cancel()
		if err == nil {
			record(s.Name(), nil, false)
			return
		}
		if ctx.Err() != nil {
			held.drop(m.ID)
			w.release(context.WithoutCancel(ctx), m, fmt.Errorf("%s: %w", s.Name(), err))
			return
		}
		errs = append(errs, fmt.Errorf("%s: %w", s.Name(), err))
		permanent = permanent && IsPermanent(err)
	}
	record("", errors.Join(errs...), permanent)
}

// backoff is the wait before attempt n+1: exponential with jitter.
func (w *Worker) backoff(attempts int) time.Duration {
	d := min(firstBackoff<<min(attempts-1, 16), maxBackoff)
	return d + w.jitter(d)
}

// Mask hides most of an address or number for logs: "a***@example.com",
// "+1******0100".
func Mask(to string) string {
	if at := strings.LastIndexByte(to, '@'); at > 0 {
		return to[:1] + "***" + to[at:]
	}
	if len(to) > 6 {
		return to[:2] + "******" + to[len(to)-4:]
	}
	return "***"
}

// DevInbox is the dev-mode provider of both channels: it keeps every
// message in the dev inbox instead of sending it.
type DevInbox struct {
	Store latchkey.DevInboxStore
	Rand  io.Reader
}

// Name identifies the dev inbox.
func (d DevInbox) Name() string { return "devinbox" }

// Send stores the message in the dev inbox.
func (d DevInbox) Send(ctx context.Context, m latchkey.Message) error {
	id, err := secrets.NewID(d.Rand)
	if err != nil {
		return err
	}
	return d.Store.AddDevMessage(ctx, latchkey.DevMessage{ID: id, AppID: m.AppID, Channel: m.Channel, To: m.To,
		Subject: m.Subject, Text: m.Text, HTML: m.HTML, CreatedAt: m.CreatedAt})
}

// Snippet is the start of an HTTP response body on one line, for an error
// message when the body is not the provider's own error format (a proxy's
// page, say).
func Snippet(body []byte) string {
	const max = 200
	text := strings.Join(strings.Fields(strings.ToValidUTF8(string(body), "")), " ")
	if len(text) > max {
		text = strings.ToValidUTF8(text[:max], "") + "…"
	}
	return text
}

// HTTPError is the error for an HTTP provider's failed answer: its status,
// the provider's own explanation when it gave one (else the error reading
// the body, if any), marked Permanent when the status refused the message
// itself: any 4xx but 408 and 429, which are about timing.
func HTTPError(resp *http.Response, detail string, readErr error) error {
	err := fmt.Errorf("status %s", resp.Status)
	switch {
	case detail != "":
		err = fmt.Errorf("status %s: %s", resp.Status, detail)
	case readErr != nil:
		err = fmt.Errorf("status %s: read the body: %w", resp.Status, readErr)
	}
	code := resp.StatusCode
	if code >= 400 && code <= 499 && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests {
		return Permanent(err)
	}
	return err
}
