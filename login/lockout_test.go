package login_test

import (
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/login"
)

// TestLockoutSchedule replays the fastest guessing the default policy
// allows (every run of failures made the moment the lockout before it
// ends) and checks the figures the README states: the lockouts double from
// 15 minutes to 24 hours, 21 guesses fit in the first day and 39 in the
// first week, and the 100th guess comes no sooner than 27 days after the
// first.
func TestLockoutSchedule(t *testing.T) {
	policy := latchkey.DefaultLoginPolicy()
	var (
		at      time.Duration // when the current run of guesses starts
		guesses []time.Duration
	)
	for n := 1; len(guesses) < login.MaxConsecutiveFailures; n++ {
		for range min(policy.MaxFailures, login.MaxConsecutiveFailures-len(guesses)) {
			guesses = append(guesses, at)
		}
		at += login.LockoutDuration(policy, n)
	}
	var durations []time.Duration
	for n := 1; n <= 9; n++ {
		durations = append(durations, login.LockoutDuration(policy, n))
	}
	want := []time.Duration{15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 4 * time.Hour,
		8 * time.Hour, 16 * time.Hour, 24 * time.Hour, 24 * time.Hour}
	for i := range want {
		if durations[i] != want[i] {
			t.Fatalf("lockouts last %v; want %v", durations, want)
		}
	}
	within := func(d time.Duration) int {
		n := 0
		for _, g := range guesses {
			if g < d {
				n++
			}
		}
		return n
	}
	if day, week := within(24*time.Hour), within(7*24*time.Hour); day != 21 || week != 39 {
		t.Fatalf("%d guesses in the first day and %d in the first week; want 21 and 39", day, week)
	}
	if last := guesses[len(guesses)-1]; last < 27*24*time.Hour {
		t.Fatalf("the 100th guess came %s after the first; want at least 27 days", last)
	}
}

// TestLockoutDurationRespectsLongPolicies checks that a policy's first
// lockout longer than the cap is never shortened, and that a short one
// doubles up to the cap.
func TestLockoutDurationRespectsLongPolicies(t *testing.T) {
	long := latchkey.LoginPolicy{LockoutDuration: 24 * time.Hour}
	if d := login.LockoutDuration(long, 5); d != 24*time.Hour {
		t.Fatalf("a 24h policy's fifth lockout lasts %s; want 24h", d)
	}
	short := latchkey.LoginPolicy{LockoutDuration: time.Minute}
	if d := login.LockoutDuration(short, 40); d != login.MaxLockout {
		t.Fatalf("a 1m policy's 40th lockout lasts %s; want the cap %s", d, login.MaxLockout)
	}
}
