package ratelimit

import (
	"slices"
	"sort"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// window is a sliding-window limit: at most max events in any span. A
// cooldown is a window of one event.
type window struct {
	limit Limit
	max   int
	span  time.Duration
	what  string // the limit in words, for the refusal message
}

// counted is one counter a decision reads, with the limits it carries: its
// sliding windows, or a budget per calendar day (UTC).
type counted struct {
	key     string
	masked  string // the value counted, masked for logs
	windows []window
	daily   int // the day's budget, 0 for none
	dayWhat string
}

// first names the counter's first limit, which its blocked-until reports.
func (k counted) first() (Limit, string) {
	if len(k.windows) == 0 {
		return SMSDailyBudget, k.dayWhat
	}
	return k.windows[0].limit, k.windows[0].what
}

// since returns the events after t, from a log sorted oldest first.
func since(events []time.Time, t time.Time) []time.Time {
	i := sort.Search(len(events), func(i int) bool { return events[i].After(t) })
	return events[i:]
}

// check returns the refusal with the longest wait among the limits that c
// has reached at now, or nil when another event is allowed.
func (k counted) check(c *latchkey.Counter, now time.Time) *refusal {
	var worst *refusal
	consider := func(r refusal) {
		if r.wait > 0 && (worst == nil || r.wait > worst.wait) {
			worst = &r
		}
	}
	for _, w := range k.windows {
		in := since(c.Events, now.Add(-w.span))
		if len(in) >= w.max {
			// Allowed again once the oldest event that keeps the count
			// at the cap leaves the window.
			consider(refusal{limit: w.limit, masked: k.masked, what: w.what, wait: in[len(in)-w.max].Add(w.span).Sub(now)})
		}
	}
	if k.daily > 0 && c.Count >= k.daily {
		consider(refusal{limit: SMSDailyBudget, masked: k.masked, what: k.dayWhat, wait: nextMidnight(now).Sub(now)})
	}
	return worst
}

// record counts an event at now in c: the event joins the log, which keeps
// only what the longest window can still count (at most the largest cap),
// and the day's count; the counter is blocked until the limits it reached
// allow another event, and may be purged once its windows or its day end.
func (k counted) record(c *latchkey.Counter, now time.Time) {
	var longest time.Duration
	largest := 0
	for _, w := range k.windows {
		longest, largest = max(longest, w.span), max(largest, w.max)
	}
	if len(k.windows) > 0 {
		kept := since(c.Events, now.Add(-longest)) // what no window counts any more goes
		events := append(make([]time.Time, 0, len(kept)+1), kept...)
		// Node clocks may disagree by a little: keep the log sorted.
		i := sort.Search(len(events), func(i int) bool { return events[i].After(now) })
		events = slices.Insert(events, i, now)
		if len(events) > largest {
			events = events[len(events)-largest:]
		}
		c.Events = events
	}
	c.ExpiresAt = now.Add(longest)
	if k.daily > 0 {
		c.Count++
		c.ExpiresAt = nextMidnight(now)
	}
	c.BlockedUntil = time.Time{}
	if r := k.check(c, now); r != nil {
		c.BlockedUntil = now.Add(r.wait)
	}
}

// nextMidnight is the end of t's calendar day in UTC.
func nextMidnight(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
}
