package sqlite

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/latchkeyhq/latchkey"
)

// Group commit. Every write transaction goes through one goroutine that
// owns the write connection. It takes the transactions waiting at that
// moment (up to maxBatch), runs them one after another inside a single
// SQLite transaction, each in its own savepoint, and commits once. A
// transaction whose function fails is rolled back to its savepoint and the
// others go on; each caller is answered only after the commit, so an
// acknowledged write is as durable as before. Under load this turns a
// commit (and its WAL writes) per request into one per batch; alone, a
// transaction runs as it always did.

// maxBatch bounds the transactions committed together, so one batch cannot
// hold the write lock for long.
const maxBatch = 64

type batchRequest struct {
	ctx  context.Context
	fn   func(*tx) error
	done chan error
	// state says whether the batcher has started the request, or its
	// caller has given up waiting first; whichever moves it from queued
	// decides.
	state atomic.Int32
}

// Request states.
const (
	queued int32 = iota
	running
	abandoned
)

// errAbandoned answers a request whose caller stopped waiting before its
// turn; nobody reads it.
var errAbandoned = errors.New("sqlite: the caller stopped waiting")

// batcher runs write transactions in batches on the write pool.
type batcher struct {
	pool     *pool
	reqs     chan *batchRequest
	stop     chan struct{}
	quit     chan struct{}
	stopOnce sync.Once
}

func newBatcher(p *pool) *batcher {
	b := &batcher{pool: p, reqs: make(chan *batchRequest, maxBatch), stop: make(chan struct{}), quit: make(chan struct{})}
	go b.run()
	return b
}

// do runs fn in a write transaction and returns fn's error, or the
// commit's. When ctx ends before the batcher reaches the request, do
// returns at once and the request is skipped; once it runs, its statements
// end with ctx and do waits for its answer, so fn never runs after do has
// returned.
func (b *batcher) do(ctx context.Context, fn func(*tx) error) error {
	r := &batchRequest{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case b.reqs <- r:
	case <-ctx.Done():
		return translate(ctx.Err())
	case <-b.quit:
		return errClosed
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		if r.state.CompareAndSwap(queued, abandoned) {
			return translate(ctx.Err())
		}
		return <-r.done
	case <-b.quit:
		// Every request the batcher took was answered before it quit.
		select {
		case err := <-r.done:
			return err
		default:
			return errClosed
		}
	}
}

var errClosed = fmt.Errorf("%w: the store is closed", latchkey.ErrUnavailable)

func (b *batcher) run() {
	defer close(b.quit)
	for {
		var first *batchRequest
		select {
		case first = <-b.reqs:
		case <-b.stop:
			return
		}
		batch := []*batchRequest{first}
	gather:
		for len(batch) < maxBatch {
			select {
			case r := <-b.reqs:
				batch = append(batch, r)
			default:
				break gather
			}
		}
		b.execute(batch)
	}
}

// execute runs a batch in one transaction and answers every caller.
func (b *batcher) execute(batch []*batchRequest) {
	errs := make([]error, len(batch))
	t, err := b.pool.BeginTx(context.Background(), nil)
	if err != nil {
		for _, r := range batch {
			r.done <- translate(err)
		}
		return
	}
	defer t.Rollback()
	isolate := len(batch) > 1
	for i, r := range batch {
		errs[i] = b.runOne(t, r, isolate)
	}
	if !isolate && errs[0] != nil {
		// A lone failed transaction is rolled back whole, not committed.
		batch[0].done <- errs[0]
		return
	}
	commitErr := translate(t.Commit())
	for i, r := range batch {
		if errs[i] == nil {
			errs[i] = commitErr
		}
		r.done <- errs[i]
	}
}

// runOne runs one request's function, inside a savepoint when the batch
// holds others, so that its failure undoes only its own writes.
func (b *batcher) runOne(t *tx, r *batchRequest, isolate bool) error {
	if !r.state.CompareAndSwap(queued, running) {
		return errAbandoned
	}
	if err := r.ctx.Err(); err != nil {
		return translate(err)
	}
	if !isolate {
		return r.fn(t)
	}
	if _, err := t.Tx.ExecContext(r.ctx, "SAVEPOINT request"); err != nil {
		return translate(err)
	}
	if err := r.fn(t); err != nil {
		if _, rbErr := t.Tx.ExecContext(context.Background(), "ROLLBACK TO request"); rbErr != nil {
			return fmt.Errorf("%w (and rolling back: %v)", err, rbErr)
		}
		_, _ = t.Tx.ExecContext(context.Background(), "RELEASE request")
		return err
	}
	_, err := t.Tx.ExecContext(context.Background(), "RELEASE request")
	return translate(err)
}

// close stops the batcher once the batch in progress is done.
func (b *batcher) close() {
	b.stopOnce.Do(func() { close(b.stop) })
	<-b.quit
}
