package delivery

import "time"

// SetLeaseRenewal makes w renew the leases of its deliveries every d, so
// that a test need not wait the real interval.
func SetLeaseRenewal(w *Worker, d time.Duration) { w.renewal = d }

// Stopping reports whether Stop has told w to claim nothing more.
func Stopping(w *Worker) bool { return !w.claimable() }
