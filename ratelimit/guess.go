package ratelimit

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// The guess budgets (SEC-24). Failed authentications (a wrong or expired
// passcode, a locked-out user, an unknown magic link) are counted per app
// over a sliding minute and per end-user address over a sliding hour. Once
// a budget is spent, the counter is blocked until its window allows another
// failure, and every authenticate call of the app (or from the address) is
// refused before its code is evaluated. Calls already past the check when
// the budget runs out are still evaluated, so a burst may overshoot the
// budget by the calls in flight.

// CheckAuthenticate refuses an authenticate call while the app's guess
// budget, or the failure budget of the end user's address (the zero Addr
// when unknown), is spent. It takes no lock: one cheap read.
func (l *Limiter) CheckAuthenticate(ctx context.Context, app latchkey.App, endUser netip.Addr) error {
	return l.checkBlocked(ctx, app.ID, l.failureCounters(app, endUser))
}

// Failed records a failed authentication against the app's guess budget
// and the failure budget of the end user's address.
func (l *Limiter) Failed(ctx context.Context, app latchkey.App, endUser netip.Addr) error {
	return l.record(ctx, l.failureCounters(app, endUser))
}

// failureCounters are the counters of an app's failed authentications:
// the app's, and the end user's address's when known.
func (l *Limiter) failureCounters(app latchkey.App, endUser netip.Addr) []counted {
	lim := app.Limits
	var cs []counted
	if lim.MaxFailuresPerMinute > 0 {
		cs = append(cs, counted{key: l.counterKey(app.ID, "failures", ""), masked: "app",
			windows: []window{{MaxFailuresPerMinute, lim.MaxFailuresPerMinute, time.Minute,
				fmt.Sprintf("this app had %d failed authentications in the last minute", lim.MaxFailuresPerMinute)}}})
	}
	if endUser.IsValid() && lim.IPFailuresPerHour > 0 {
		cs = append(cs, counted{key: l.counterKey(app.ID, "failure-address", addressValue(endUser)),
			masked: maskAddress(endUser), windows: []window{{IPFailuresPerHour, lim.IPFailuresPerHour, time.Hour,
				fmt.Sprintf("at most %d failed authentications an hour from one end-user address", lim.IPFailuresPerHour)}}})
	}
	return cs
}

// checkBlocked refuses while any of the counters is blocked, with the
// longest wait among them.
func (l *Limiter) checkBlocked(ctx context.Context, scope string, cs []counted) error {
	waits, err := l.waits(ctx, cs)
	if err != nil {
		return err
	}
	var worst *refusal
	for i, wait := range waits {
		if wait > 0 && (worst == nil || wait > worst.wait) {
			limit, what := cs[i].first()
			worst = &refusal{limit: limit, masked: cs[i].masked, what: what, wait: wait}
		}
	}
	if worst != nil {
		return l.refuse(ctx, scope, *worst)
	}
	return nil
}

// waits reads how long each counter is still blocked (0 when it is not):
// one read, no lock. nil for no counters.
func (l *Limiter) waits(ctx context.Context, cs []counted) ([]time.Duration, error) {
	if len(cs) == 0 {
		return nil, nil
	}
	blocked, err := l.cfg.Store.BlockedUntil(ctx, keysOf(cs))
	if err != nil {
		return nil, err
	}
	now := l.cfg.Now()
	waits := make([]time.Duration, len(blocked))
	for i, until := range blocked {
		waits[i] = max(0, until.Sub(now))
	}
	return waits, nil
}

// record counts an event now in every counter, in one transaction.
func (l *Limiter) record(ctx context.Context, cs []counted) error {
	if len(cs) == 0 {
		return nil
	}
	now := l.cfg.Now()
	return l.cfg.Store.UpdateCounters(ctx, keysOf(cs), func(counters []*latchkey.Counter) error {
		for i, c := range cs {
			c.record(counters[i], now)
		}
		return nil
	})
}

func keysOf(cs []counted) []string {
	keys := make([]string, len(cs))
	for i, c := range cs {
		keys[i] = c.key
	}
	return keys
}
