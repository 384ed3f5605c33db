package httpapi_test

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/login"
)

// observations records what a login.Observer is told, one line each:
// "sent otp email success", "login link  invalid" (no channel known).
type observations struct {
	mu    sync.Mutex
	lines []string
}

func (o *observations) Sent(app latchkey.App, kind latchkey.ChallengeKind, ch latchkey.Channel, outcome login.Outcome) {
	o.add(fmt.Sprintf("sent %s %s %s", kind, ch, outcome))
}

func (o *observations) Authenticated(app latchkey.App, kind latchkey.ChallengeKind, ch latchkey.Channel, outcome login.Outcome) {
	o.add(fmt.Sprintf("login %s %s %s", kind, ch, outcome))
}

func (o *observations) add(line string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.lines = append(o.lines, line)
}

// take returns the lines recorded since the last take.
func (o *observations) take() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	lines := o.lines
	o.lines = nil
	return lines
}

// TestObserverIsToldEveryOutcome runs sends and authentications that end
// in each way, and checks that the login service's observer is told each
// once, with the kind, the channel and the outcome.
func TestObserverIsToldEveryOutcome(t *testing.T) {
	var seen observations
	h := newHarnessWith(t, harnessOptions{observer: &seen})
	c := h.newClient("Observed", false)
	c.mustUser(map[string]any{"email": "obs@example.com"})
	send := map[string]any{"channel": "email", "identifier": "obs@example.com", "identifier_type": "email"}
	want := func(step string, lines ...string) {
		t.Helper()
		if got := seen.take(); !slices.Equal(got, lines) {
			t.Fatalf("%s: the observer was told %q; want %q", step, got, lines)
		}
	}

	c.sendOTP(send).wantStatus(http.StatusOK)
	code := h.lastCode("obs@example.com")
	c.sendOTP(send).wantStatus(http.StatusTooManyRequests)
	c.sendOTP(map[string]any{"channel": "pigeon", "identifier": "obs@example.com", "identifier_type": "email"}).wantStatus(http.StatusBadRequest)
	c.sendOTP(map[string]any{"channel": "sms", "identifier": "nobody@example.com", "identifier_type": "email"}).wantStatus(http.StatusNotFound)
	want("sends", "sent otp email success", "sent otp email rate_limited", "sent otp pigeon rejected", "sent otp sms user_not_found")

	c.authOTP(otpBody("obs@example.com", "email", wrongCode(code))).wantStatus(http.StatusBadRequest)
	c.authOTP(otpBody("obs@example.com", "email", code)).wantStatus(http.StatusOK)
	c.authOTP(otpBody("obs@example.com", "email", code)).wantStatus(http.StatusBadRequest)
	want("passcodes", "login otp email invalid", "login otp email success", "login otp  invalid")

	c = c.withoutSendLimits()
	c.sendOTP(send).wantStatus(http.StatusOK)
	code = h.lastCode("obs@example.com")
	h.clock.Advance(6 * time.Minute)
	c.authOTP(otpBody("obs@example.com", "email", code)).wantStatus(http.StatusBadRequest)
	c.sendOTP(send).wantStatus(http.StatusOK)
	code = h.lastCode("obs@example.com")
	for range 3 {
		c.authOTP(otpBody("obs@example.com", "email", wrongCode(code))).wantStatus(http.StatusBadRequest)
	}
	c.authOTP(otpBody("obs@example.com", "email", code)).wantStatus(http.StatusForbidden)
	want("expiry and lockout", "sent otp email success", "login otp email expired", "sent otp email success",
		"login otp email invalid", "login otp email invalid", "login otp email invalid", "login otp  locked")

	c.call(http.MethodPost, "/cis/v1/auth/link/email/send", map[string]any{"email": "obs@example.com",
		"redirect_uri": "http://localhost:8080/complete"}).wantStatus(http.StatusOK)
	linkCode := linkCodeOf(t, h, h.lastLink("obs@example.com"))
	authLink := func(code string) response {
		return c.call(http.MethodPost, "/cis/v1/auth/link/email/authenticate", map[string]any{"code": code})
	}
	authLink("not-a-link").wantStatus(http.StatusBadRequest)
	authLink(linkCode).wantStatus(http.StatusOK)
	want("links", "sent link email success", "login link  invalid", "login link email success")
}
