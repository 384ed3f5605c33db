package delivery

import (
	"context"
	"sync"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// Batched outcomes. Every delivery's outcome is recorded before its
// delivery ends, but not in a transaction of its own: outcomes that arrive
// while one batch is being written wait, and the next writer records all of
// them (up to maxOutcomes) in one OutboxStore.UpdateMessages. Alone, an
// outcome is written at once; under load, when the database is busy, the
// batches grow with the wait, so the writes per message fall as the load
// rises (a group commit, with no timer). Each writer writes one batch and
// passes the turn to the oldest outcome still waiting, so no delivery is
// held writing others' outcomes for long.
//
// A delivery's lease is renewed until its outcome is written, so a
// renewal never races a lapse; a renewal does not overwrite a recorded
// outcome (lease.go). When a batch cannot be written, its outcomes are
// logged and dropped: their leases then lapse and the messages are tried
// again, by any node, as after a crash (at least once).

// maxOutcomes bounds the outcomes written in one transaction.
const maxOutcomes = 128

// outcome is a delivery attempt's result, waiting to be recorded.
type outcome struct {
	m         latchkey.Message
	provider  string
	sendErr   error
	permanent bool
	// turn tells a waiting outcome that it was written (false), or that
	// it is its turn to write the waiting batch (true).
	turn chan bool
}

// recorder queues the outcomes waiting to be written.
type recorder struct {
	mu      sync.Mutex
	pending []*outcome
	writing bool // a writer has the turn
}

// record writes a delivery attempt's outcome, with those waiting with it:
// sent; queued again after a backoff; or failed, when the failure is
// permanent, attempts are used up or the code has expired. It returns once
// the outcome is written or its write failed.
func (w *Worker) record(ctx context.Context, m latchkey.Message, provider string, sendErr error, permanent bool) {
	o := &outcome{m: m, provider: provider, sendErr: sendErr, permanent: permanent, turn: make(chan bool, 1)}
	r := &w.outcomes
	r.mu.Lock()
	r.pending = append(r.pending, o)
	mine := !r.writing
	r.writing = true
	r.mu.Unlock()
	if !mine && !<-o.turn {
		return // written with another's batch
	}
	r.mu.Lock()
	n := min(len(r.pending), maxOutcomes)
	batch := r.pending[:n:n]
	r.pending = r.pending[n:]
	r.mu.Unlock()
	w.writeOutcomes(ctx, batch)
	r.mu.Lock()
	if len(r.pending) == 0 {
		r.writing = false
	} else {
		r.pending[0].turn <- true
	}
	r.mu.Unlock()
}

// writeOutcomes records a batch of outcomes in one transaction, then logs
// and reports each, and tells their deliveries they are written.
func (w *Worker) writeOutcomes(ctx context.Context, batch []*outcome) {
	defer func() {
		for _, o := range batch {
			select {
			case o.turn <- false:
			default: // the writer's own, or already told
			}
		}
	}()
	now := w.now()
	updates := make([]latchkey.MessageUpdate, len(batch))
	for i, o := range batch {
		updates[i] = latchkey.MessageUpdate{ID: o.m.ID, Update: func(x *latchkey.Message) error {
			w.apply(x, o, now)
			return nil
		}}
	}
	written, err := w.store.UpdateMessages(ctx, updates)
	if err != nil {
		for _, o := range batch {
			w.log.Error("outbox: record delivery; its lease will lapse and the message will be tried again",
				"message_id", o.m.ID, "err", err)
		}
		return
	}
	found := make(map[string]bool, len(written))
	for _, m := range written {
		found[m.ID] = true
		w.logOutcome(m)
		if w.recorded != nil {
			w.recorded(m)
		}
	}
	for _, o := range batch {
		if !found[o.m.ID] {
			w.log.Error("outbox: record delivery", "message_id", o.m.ID, "err", latchkey.ErrNotFound)
		}
	}
}

// apply changes the stored message x by the outcome o at now.
func (w *Worker) apply(x *latchkey.Message, o *outcome, now time.Time) {
	x.Attempts++
	switch {
	case o.sendErr == nil && x.Suppressed:
		x.Status, x.SentAt, x.LastError = latchkey.MessageSuppressed, now, ""
	case o.sendErr == nil:
		x.Status, x.Provider, x.SentAt, x.LastError = latchkey.MessageSent, o.provider, now, ""
	case o.permanent || x.Attempts >= MaxAttempts:
		x.Status, x.LastError = latchkey.MessageFailed, o.sendErr.Error()
	default:
		x.LastError = o.sendErr.Error()
		x.NextAttemptAt = now.Add(w.backoff(x.Attempts))
		if !x.NextAttemptAt.Before(x.ExpiresAt) {
			x.Status = latchkey.MessageFailed
		}
	}
}

// logOutcome logs a recorded outcome.
func (w *Worker) logOutcome(m latchkey.Message) {
	attrs := []any{"message_id", m.ID, "channel", m.Channel, "to", Mask(m.To), "status", m.Status, "attempts", m.Attempts}
	switch m.Status {
	case latchkey.MessageSent:
		w.log.Info("message sent", append(attrs, "provider", m.Provider)...)
	case latchkey.MessageSuppressed:
		w.log.Info("message suppressed", attrs...)
	case latchkey.MessageFailed:
		w.log.Error("message failed", append(attrs, "reason", m.LastError)...)
	default:
		w.log.Warn("message delivery will be retried", append(attrs, "reason", m.LastError, "next_attempt_at", m.NextAttemptAt)...)
	}
}
