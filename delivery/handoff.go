package delivery

import (
	"context"
	"sync"

	"github.com/latchkeyhq/latchkey"
)

// Direct handoff. A message queued on this node need not wait for a claim:
// the send writes it already leased to this node's worker (its
// NextAttemptAt moved forward by Lease, which is all a claim changes), in
// the send's own transaction, and hands it over in memory once that
// transaction commits. The worker then delivers it as it delivers what it
// claims, renewing the lease while the delivery runs, so a message costs
// the database no claim at all. The message handed over is the one stored,
// sealed as it was written; the worker opens it only for the provider.
//
// The worker takes a handoff only while Run runs and Stop has not been
// called, and for at most maxHandoffs messages at once: a place is
// reserved before the send's transaction begins, so handing over never
// waits. A send made without a place writes its message due at once and
// nudges the worker, as before handoffs existed. A message leased but
// never delivered (the node died, or Stop came between the commit and the
// handover) is claimed by any node once its lease has passed.

// maxHandoffs bounds the messages handed over and not yet delivered.
const maxHandoffs = 256

// handoff is a message handed over, with the context of the request that
// queued it, for WorkerConfig.Carry.
type handoff struct {
	m      latchkey.Message
	origin context.Context
}

// Handoff prepares m, a message about to be queued, for this worker: when
// the worker can take it, m is leased (its NextAttemptAt moved to Lease from
// now), to be written so. The caller must call handed once the transaction
// that writes m has ended, saying whether it committed: a committed message
// is then delivered straight away, by a handoff or (when the worker could
// not take it) by a nudge to claim it. ctx is the request's: its values,
// not its deadline, go with the delivery (WorkerConfig.Carry).
func (w *Worker) Handoff(ctx context.Context, m *latchkey.Message) (handed func(committed bool)) {
	if !w.reserve() {
		return w.nudge
	}
	m.NextAttemptAt = w.now().Add(Lease)
	return func(committed bool) {
		if !committed {
			w.reserved.Add(-1)
			return
		}
		w.handoffs <- handoff{m: *m, origin: ctx} // a place is reserved: never waits
	}
}

// nudge is the handover of a message the worker could not take: due at
// once, claimed at the worker's next look.
func (w *Worker) nudge(committed bool) {
	if committed {
		w.Notify()
	}
}

// reserve takes a place for one handoff, if the worker takes handoffs and
// has a place left.
func (w *Worker) reserve() bool {
	for {
		n := w.reserved.Load()
		if !w.accepting.Load() || n >= maxHandoffs {
			return false
		}
		if w.reserved.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// takeHandoffs delivers the messages handed over until stop is closed,
// then those handed over already, and waits for their deliveries to end.
func (w *Worker) takeHandoffs(ctx context.Context, stop <-chan struct{}) {
	held := w.hold(nil)
	defer held.stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	start := func(h handoff) {
		held.add(h.m)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer w.reserved.Add(-1)
			w.deliver(w.carried(h.origin, ctx), h.m, held)
		}()
	}
	for {
		select {
		case h := <-w.handoffs:
			start(h)
		case <-stop:
			for {
				select {
				case h := <-w.handoffs:
					start(h)
				default:
					return
				}
			}
		}
	}
}

// carried is ctx, the worker's, with what WorkerConfig.Carry takes from
// the context of the request that queued the message.
func (w *Worker) carried(origin, ctx context.Context) context.Context {
	if w.carry == nil || origin == nil {
		return ctx
	}
	return w.carry(origin, ctx)
}
