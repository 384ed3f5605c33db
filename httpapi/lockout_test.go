package httpapi_test

import (
	"net/http"
	"testing"
	"time"
)

// locker drives one user's passcode lockouts through the API: it sends a
// code, guesses wrong, and tells how the attempts were answered.
type locker struct {
	t     *testing.T
	c     *client
	email string
	code  string // the newest code sent
}

func newLocker(t *testing.T, name string) (*harness, *locker) {
	h := newHarness(t)
	c := h.newClient(name, false).withoutSendLimits()
	l := &locker{t: t, c: c, email: "locked@example.com"}
	c.mustUser(map[string]any{"email": l.email})
	return h, l
}

// send sends a new code. The client's token is renewed first: the clock
// moves on by days here.
func (l *locker) send() {
	l.t.Helper()
	l.c.token = l.c.clientToken()
	l.c.sendOTP(map[string]any{"channel": "email", "identifier": l.email, "identifier_type": "email"}).wantStatus(http.StatusOK)
	l.code = l.c.h.lastCode(l.email)
}

// guess tries a wrong code and returns its error_code.
func (l *locker) guess() string {
	l.t.Helper()
	r := l.c.authOTP(otpBody(l.email, "email", wrongCode(l.code)))
	return r.json()["error_code"].(string)
}

// lockOut sends a code and guesses wrong until the user is locked out, and
// returns how many guesses were evaluated (answered invalid).
func (l *locker) lockOut() int {
	l.t.Helper()
	l.send()
	n := 0
	for {
		switch code := l.guess(); code {
		case "auth_invalid_credentials":
			n++
		case "auth_locked":
			return n
		default:
			l.t.Fatalf("a wrong guess answered %s", code)
		}
	}
}

// lockedFor checks that the lockout that began at start lasts exactly d:
// locked a second before its end, even with the right code, and a new run
// of guesses at its end.
func (l *locker) lockedFor(h *harness, start time.Time, d time.Duration) {
	l.t.Helper()
	h.clock.Set(start.Add(d - time.Second))
	l.send()
	if r := l.c.authOTP(otpBody(l.email, "email", l.code)); r.status != http.StatusForbidden {
		l.t.Fatalf("a second before the end of a %s lockout the right code answered %d; want auth_locked", d, r.status)
	}
	h.clock.Set(start.Add(d))
	if code := l.guess(); code != "auth_invalid_credentials" {
		l.t.Fatalf("at the end of a %s lockout a guess answered %s; want it evaluated", d, code)
	}
}

// TestLockoutsEscalate locks one user out again and again, with the default
// policy (3 failures, 15 minutes): each consecutive lockout lasts twice as
// long as the one before, up to 24 hours.
func TestLockoutsEscalate(t *testing.T) {
	h, l := newLocker(t, "Escalate")
	want := []time.Duration{15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 4 * time.Hour,
		8 * time.Hour, 16 * time.Hour, 24 * time.Hour, 24 * time.Hour}
	for i, d := range want {
		guesses := 3
		if i > 0 {
			guesses = 2 // lockedFor made the first of this run
		}
		if n := l.lockOutFrom(guesses); n != guesses {
			t.Fatalf("lockout %d came after %d guesses; want %d", i+1, n, guesses)
		}
		l.lockedFor(h, h.clock.Now(), d)
	}
}

// lockOutFrom guesses wrong on the live code until the user is locked out
// and returns how many guesses were evaluated.
func (l *locker) lockOutFrom(max int) int {
	l.t.Helper()
	if l.code == "" {
		l.send()
	}
	for n := 0; n <= max; n++ {
		if code := l.guess(); code == "auth_locked" {
			return n
		}
	}
	return max + 1
}

// TestConsecutiveFailuresStopAt100 guesses wrong as fast as the lockouts
// allow, for as long as it takes: exactly 100 guesses are evaluated, and
// then passcodes stay locked, however long one waits, even for the right
// code. A magic link still signs the user in, and resets the count.
func TestConsecutiveFailuresStopAt100(t *testing.T) {
	h, l := newLocker(t, "Bound")
	start := h.clock.Now()
	evaluated := 0
	for range 40 {
		evaluated += l.lockOut()
		h.clock.Advance(24 * time.Hour)
	}
	if evaluated != 100 {
		t.Fatalf("%d wrong guesses were evaluated; want exactly 100", evaluated)
	}
	if days := h.clock.Now().Sub(start).Hours() / 24; days < 30 {
		t.Fatalf("the probe ran %.0f days; want it past the time the bound takes to reach (27 days)", days)
	}
	l.send()
	h.clock.Advance(time.Minute)
	if r := l.c.authOTP(otpBody(l.email, "email", l.code)); r.status != http.StatusForbidden {
		t.Fatalf("at the bound the right code answered %d; want auth_locked", r.status)
	}

	l.c.sendLink(map[string]any{"identifier": l.email, "identifier_type": "email", "redirect_uri": redirect}).wantStatus(http.StatusOK)
	l.c.authLink(map[string]any{"code": linkCodeOf(t, h, h.lastLink(l.email))}).wantStatus(http.StatusOK)
	if n := l.lockOut(); n != 3 {
		t.Fatalf("after a magic-link login %d guesses were evaluated before a lockout; want a fresh 3", n)
	}
	l.lockedFor(h, h.clock.Now(), 15*time.Minute)
}

// TestSuccessResetsTheEscalation checks that a passcode login, and a
// magic-link login made while passcodes are locked, each end the
// escalation: the next lockout is the first again.
func TestSuccessResetsTheEscalation(t *testing.T) {
	h, l := newLocker(t, "Reset")
	l.lockOut()
	h.clock.Advance(15 * time.Minute)
	l.lockOut() // the second lockout: 30 minutes
	h.clock.Advance(30 * time.Minute)
	l.send()
	l.c.authOTP(otpBody(l.email, "email", l.code)).wantStatus(http.StatusOK)
	l.lockOut()
	l.lockedFor(h, h.clock.Now(), 15*time.Minute)

	l.lockOutFrom(2) // the second lockout, of 30 minutes; a magic link works meanwhile
	l.c.sendLink(map[string]any{"identifier": l.email, "identifier_type": "email", "redirect_uri": redirect}).wantStatus(http.StatusOK)
	l.c.authLink(map[string]any{"code": linkCodeOf(t, h, h.lastLink(l.email))}).wantStatus(http.StatusOK)
	if n := l.lockOut(); n != 3 {
		t.Fatalf("after a magic-link login %d guesses were evaluated before a lockout; want a fresh 3", n)
	}
	l.lockedFor(h, h.clock.Now(), 15*time.Minute)
}
