package delivery

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// A claim reserves a message for Lease. While its delivery runs, the
// worker renews the lease every leaseRenewal, so a slow provider (up to
// sendTimeout per provider, primary and fallback) never lets another node
// claim the message meanwhile; when the worker dies, the renewals stop and
// the message is due again at most Lease later. A renewal moves the lease
// only if the message still carries the lease this worker gave it: once
// the delivery's outcome is recorded (sent, failed, or a retry's backoff),
// the renewal finds it changed and leaves it alone.

// leases are the claims of one batch whose deliveries are still running.
type leases struct {
	w    *Worker
	mu   sync.Mutex
	held map[string]time.Time // message ID: the lease it carries
	quit chan struct{}
	done chan struct{}
}

// errLeaseGone aborts a renewal whose message no longer carries its lease.
var errLeaseGone = errors.New("delivery: the message's lease has changed")

// hold starts renewing the leases of msgs, just claimed, until stop.
func (w *Worker) hold(msgs []latchkey.Message) *leases {
	l := &leases{w: w, held: make(map[string]time.Time, len(msgs)), quit: make(chan struct{}), done: make(chan struct{})}
	for _, m := range msgs {
		l.held[m.ID] = m.NextAttemptAt
	}
	go l.renewEvery(w.renewal)
	return l
}

// add starts renewing the lease of m, just handed over.
func (l *leases) add(m latchkey.Message) {
	l.mu.Lock()
	l.held[m.ID] = m.NextAttemptAt
	l.mu.Unlock()
}

// drop stops renewing a message's lease, once its outcome is recorded.
func (l *leases) drop(id string) {
	l.mu.Lock()
	delete(l.held, id)
	l.mu.Unlock()
}

// stop ends the renewals and waits for one in progress.
func (l *leases) stop() {
	close(l.quit)
	<-l.done
}

func (l *leases) renewEvery(d time.Duration) {
	defer close(l.done)
	tick := time.NewTicker(d)
	defer tick.Stop()
	for {
		select {
		case <-l.quit:
			return
		case <-tick.C:
			l.renew()
		}
	}
}

// renew moves every held lease to Lease from now, all in one transaction.
// A lease that changed meanwhile (its outcome recorded) is left alone and
// no longer held. A failed renewal is tried again at the next tick; the
// lease left has room for two.
func (l *leases) renew() {
	l.mu.Lock()
	ids := make(map[string]time.Time, len(l.held))
	for id, until := range l.held {
		ids[id] = until
	}
	l.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	until := l.w.now().Add(Lease)
	gone := make(map[string]bool, len(ids))
	updates := make([]latchkey.MessageUpdate, 0, len(ids))
	for id, was := range ids {
		updates = append(updates, latchkey.MessageUpdate{ID: id, Update: func(m *latchkey.Message) error {
			gone[id] = m.Status != latchkey.MessageQueued || latchkey.Millis(m.NextAttemptAt) != latchkey.Millis(was)
			if !gone[id] {
				m.NextAttemptAt = until
			}
			return nil
		}})
	}
	written, err := l.w.store.UpdateMessages(context.Background(), updates)
	if err != nil {
		l.w.log.Warn("outbox: renew the leases of deliveries in flight", "messages", len(ids), "err", err)
		return
	}
	renewed := make(map[string]bool, len(written))
	for _, m := range written {
		renewed[m.ID] = !gone[m.ID]
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for id := range ids {
		if _, still := l.held[id]; !still {
			continue
		}
		if renewed[id] {
			l.held[id] = until
		} else {
			delete(l.held, id)
		}
	}
}

// release gives a message whose delivery the worker's stop interrupted
// back to the queue, due at once and without counting an attempt: the
// provider may or may not have taken it, and at-least-once delivery means
// trying again.
func (w *Worker) release(ctx context.Context, m latchkey.Message, cause error) {
	now := w.now()
	_, err := w.store.UpdateMessage(ctx, m.ID, func(x *latchkey.Message) error {
		if x.Status != latchkey.MessageQueued {
			return errLeaseGone
		}
		x.NextAttemptAt, x.LastError = now, "interrupted by the node's shutdown: "+cause.Error()
		return nil
	})
	if err != nil && !errors.Is(err, errLeaseGone) {
		w.log.Error("outbox: release an interrupted delivery", "message_id", m.ID, "err", err)
		return
	}
	w.log.Warn("message delivery interrupted by shutdown; released for another attempt", "message_id", m.ID,
		"channel", m.Channel, "to", Mask(m.To))
}
