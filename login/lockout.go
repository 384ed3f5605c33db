package login

import (
	"context"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// Lockouts. Each app counts a subject's failed passcodes (a wrong code, or
// the right one on a decoy): after the app's MaxFailures in a row the
// subject is locked out for its LockoutDuration, and every attempt fails
// with auth_locked until the lockout ends, even with the right code. Each
// further lockout without a success in between lasts twice as long as the
// one before, up to MaxLockout, and once MaxConsecutiveFailures have been
// counted since the last success, passcodes stay locked: NIST SP 800-63B
// caps consecutive failures at 100 (rev 3 §5.2.2, rev 4 §3.2.2), however
// slowly they are made.
//
// A success by any method resets the count and the escalation: a passcode,
// or a magic link, which is never locked (its 256-bit code cannot be
// guessed) and so stays the way back for a user whose passcodes an
// attacker has locked; an operator can also unlock (Service.Unlock). A new
// code does not reset the count.
//
// With the defaults (3 failures, 15 minutes) the lockouts last 15 and 30
// minutes, 1, 2, 4, 8 and 16 hours, then 24 hours each: at most 21 guesses
// in the first day, 39 in the first week, and the 100th guess comes no
// sooner than 27 days after the first.

// MaxConsecutiveFailures is the most failed passcodes a subject may have
// without a success in between: once reached, passcodes stay locked until
// a magic-link login or an operator unlocks them.
const MaxConsecutiveFailures = 100

// MaxLockout is the longest one lockout lasts.
const MaxLockout = 24 * time.Hour

// LockoutDuration is how long the n-th consecutive lockout lasts under
// policy: the policy's duration, doubled for each lockout before, at most
// MaxLockout (or the policy's duration, if longer).
func LockoutDuration(policy latchkey.LoginPolicy, n int) time.Duration {
	d := policy.LockoutDuration
	for i := 1; i < n && d < MaxLockout; i++ {
		d *= 2
	}
	return min(d, max(MaxLockout, policy.LockoutDuration))
}

// lockedOut reports whether c refuses every passcode at now, first ending a
// lockout that is over (which starts a new run of failures, but keeps the
// escalation).
func lockedOut(c *latchkey.AttemptCounter, now time.Time) bool {
	if !c.LockedUntil.IsZero() && !now.Before(c.LockedUntil) && c.Consecutive < MaxConsecutiveFailures {
		c.Failures, c.LockedUntil = 0, time.Time{}
	}
	return c.Consecutive >= MaxConsecutiveFailures || now.Before(c.LockedUntil)
}

// countFailure counts a failed passcode in c and reports whether it locks
// the subject out: after MaxFailures in this run, or at the bound.
func countFailure(c *latchkey.AttemptCounter, policy latchkey.LoginPolicy, now time.Time) bool {
	c.Failures++
	c.Consecutive++
	if c.Failures < policy.MaxFailures && c.Consecutive < MaxConsecutiveFailures {
		return false
	}
	c.Lockouts++
	c.LockedUntil = now.Add(LockoutDuration(policy, c.Lockouts))
	return true
}

// resetAttempts is the attempt counter of t's subject, for a success to
// reset.
func resetAttempts(app latchkey.App, subject string) *latchkey.AttemptCounter {
	return &latchkey.AttemptCounter{AppID: app.ID, Subject: subject}
}

// Unlock ends the lockout of the app's user whom idType and identifier
// name, and the count of failures and lockouts behind it, as a success
// would: for an operator to let a user whose passcodes are locked (at the
// bound, say) log in with a passcode again. errUserNotFound when the
// identifier names no user of the app.
func (s *Service) Unlock(ctx context.Context, app latchkey.App, idType, identifier string) (latchkey.User, error) {
	t, err := s.resolve(ctx, app, idType, identifier)
	if err != nil {
		return latchkey.User{}, err
	}
	err = s.cfg.Store.AttemptChallenge(ctx, app.ID, latchkey.KindOTP, t.subject, s.cfg.Now(),
		func(c *latchkey.AttemptCounter, _ *latchkey.Challenge) (latchkey.AttemptResult, error) {
			*c = latchkey.AttemptCounter{}
			return latchkey.AttemptResult{}, nil
		})
	return *t.user, err
}
