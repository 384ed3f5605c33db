package delivery

import "time"

// SetLeaseRenewal makes w renew the leases of its deliveries every d, so
// that a test need not wait the real interval.
func SetLeaseRenewal(w *Worker, d time.Duration) { w.renewal = d }

// Stopping reports whether Stop has told w to claim nothing more.
func Stopping(w *Worker) bool { return !w.claimable() }

// PendingOutcomes reports how many outcomes wait to be written.
func PendingOutcomes(w *Worker) int {
	w.outcomes.mu.Lock()
	defer w.outcomes.mu.Unlock()
	return len(w.outcomes.pending)
}

// Accepting reports whether w takes handoffs.
func Accepting(w *Worker) bool { return w.accepting.Load() }
