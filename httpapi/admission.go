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

// inFlightPerCPU sizes the default bound. A login's request uses the CPU
// for about a quarter of a millisecond and waits on the database, mostly
// the SQLite writer, for the rest: throughput stopped rising at about 32
// requests in flight per CPU, and more only queued (see BENCHMARKS.md).
// minInFlight keeps a small machine able to wait on a slow database or
// PostgreSQL pool.
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
