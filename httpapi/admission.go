package httpapi

import (
	"net/http"
	"runtime"
	"sync/atomic"
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
//
// Logins begun come first. A login is a send, then an authenticate (and
// more for a magic link); refused alike, an overloaded server spent much
// of what it admitted on sends whose authenticate it then refused: codes
// sent for nothing, users left waiting, a third of the peak completed at
// three times the peak offered. The requests that begin a login are
// therefore admitted only while they hold less than beginShare of the
// bound, which leaves the rest to the logins already begun: in a steady
// overload sends and authenticates are in flight in equal numbers, so
// authenticates then always find room.

// inFlightPerCPU sizes the default bound. By Little's law, requests in
// flight are throughput times latency: at 2,400 logins/s, near the peak of
// a 2-CPU server (BENCHMARKS.md, open loop), a login's one request at a
// time took 12.9 ms at the median, about 31 in flight; offered more, the
// server reached no more logins (2,800/s) while latency, and so what was
// in flight, grew eightfold. The peak needs about 16 per CPU; the bound is
// set well above it because what a node sees in flight is also the
// concurrency of its clients: an app's backend calling with a pool of 64
// or 128 connections, each waiting for its answer, keeps that many
// requests in flight on a node that keeps up with them, and must not be
// refused (a bound of 32 per CPU refused a third of such a pool's sends).
// 128 per CPU still caps what an open-loop overload queues: at the peak's
// 5,000 requests a second, 256 in flight wait about 50 ms, and memory
// stays far under 200 MB. minInFlight keeps a small machine able to serve
// a backend's pool on a slow database.
const (
	inFlightPerCPU = 128
	minInFlight    = 256
)

// beginShare is the part of the bound that requests beginning a login may
// hold: at the peak they are half of what is in flight, which the default
// bound's headroom keeps under this share.
const beginShare = 0.4

// beginsLogin lists the routes that begin a login, as routes.go registers
// them.
var beginsLogin = map[string]bool{
	"POST /cis/v1/auth/otp/send":        true,
	"POST /cis/v1/auth/link/email/send": true,
}

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

// admission counts the requests in flight, and those among them that
// begin a login.
type admission struct {
	limit, beginLimit   int64
	inFlight, beginning atomic.Int64
}

func newAdmission(limit int) *admission {
	return &admission{limit: int64(limit), beginLimit: max(1, int64(beginShare*float64(limit)))}
}

// The bounds a request may be refused over, as Deps.Busy is told them.
const (
	// BoundInFlight is the bound on all requests in flight.
	BoundInFlight = "max_in_flight"
	// BoundSends is the share of it that requests beginning a login may
	// hold.
	BoundSends = "max_in_flight_sends"
)

// enter admits a request and returns "", or returns the bound it must be
// refused over.
func (a *admission) enter(begins bool) (refused string) {
	if a.inFlight.Add(1) > a.limit {
		a.inFlight.Add(-1)
		return BoundInFlight
	}
	if begins && a.beginning.Add(1) > a.beginLimit {
		a.beginning.Add(-1)
		a.inFlight.Add(-1)
		return BoundSends
	}
	return ""
}

// leave ends an admitted request.
func (a *admission) leave(begins bool) {
	if begins {
		a.beginning.Add(-1)
	}
	a.inFlight.Add(-1)
}

// admit serves next only within the bound on requests in flight, and
// refuses the others at once, in the family's error shape.
func (h *handler) admit(fam family, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		begins := beginsLogin[r.Pattern]
		if bound := h.admission.enter(begins); bound != "" {
			if h.Busy != nil {
				h.Busy(bound)
			}
			h.writeError(w, r, fam, errBusy)
			return
		}
		defer h.admission.leave(begins)
		next.ServeHTTP(w, r)
	})
}
