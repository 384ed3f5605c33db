package httpapi

import (
	"net/http"
	"runtime"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// Admission control. A server offered more than it can serve used to take
// every request and queue it: each waited longer, memory grew with the
// queue, and clients timed out on requests it went on serving anyway. A
// bound on the requests in flight keeps what the server serves at its
// pace, and answers the rest at once with 503 and Retry-After, so that a
// client or load balancer retries elsewhere or later. The probes
// (/healthz, /readyz) are not counted, so an overloaded node stays alive
// and ready in its balancer's eyes.

// inFlightPerCPU sizes the default bound. By Little's law, requests in
// flight are throughput times latency: at 2,400 logins/s, near the peak of
// a 2-CPU server (BENCHMARKS.md, open loop), a login's one request at a
// time took 12.9 ms at the median, about 31 in flight; offered more, the
// server reached no more logins (2,800/s) while latency, and so what was
// in flight, grew eightfold. 32 per CPU is twice what the peak needs, as
// headroom for a slower database or PostgreSQL's round trips, and caps the
// wait of an admitted request at a few tens of milliseconds. minInFlight
// keeps a small machine able to wait on a slow database.
const (
	inFlightPerCPU = 32
	minInFlight    = 64
)

// DefaultMaxInFlight is the bound on requests in flight when
// Deps.MaxInFlight is 0.
func DefaultMaxInFlight() int { return max(minInFlight, inFlightPerCPU*runtime.GOMAXPROCS(0)) }

// busyRetryAfter is the wait a refused caller is told: the requests in
// flight end within milliseconds, so a second is plenty and spreads the
// retries.
const busyRetryAfter = time.Second

// errBusy refuses a request over the bound.
var errBusy = &latchkey.Error{Code: latchkey.CodeUnavailable, RetryAfter: busyRetryAfter,
	Message: "The server is busy; try again shortly"}

// admit serves next only while fewer than the bound of requests are in
// flight, and refuses the others at once, in the family's error shape.
func (h *handler) admit(fam family, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case h.slots <- struct{}{}:
			defer func() { <-h.slots }()
			next.ServeHTTP(w, r)
		default:
			h.writeError(w, r, fam, errBusy)
		}
	})
}
