package httpapi_test

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"testing"
	"time"
)

// wrongCode returns a passcode that is not code.
func wrongCode(code string) string {
	if code == "000000" {
		return "111111"
	}
	return "000000"
}

// TestGuessBudget sprays one wrong code across many accounts: once the
// app's budget of failures in a minute is spent, every authenticate call of
// the app is refused without its code being evaluated, until the minute of
// the first failure is over (SEC-24).
func TestGuessBudget(t *testing.T) {
	h := newHarness(t)
	c := h.newClient("Sprayed", false)
	other := h.newClient("Elsewhere", false)
	c.update(func(a *appT) { a.Limits.MaxFailuresPerMinute = 5 })
	codes := map[string]string{}
	for i := range 7 {
		email := fmt.Sprintf("spray%d@example.com", i)
		c.mustUser(map[string]any{"email": email})
		c.sendOTP(map[string]any{"channel": "email", "identifier": email, "identifier_type": "email"}).wantStatus(http.StatusOK)
		codes[email] = h.lastCode(email)
	}
	start := h.clock.Now()
	for i := range 5 {
		email := fmt.Sprintf("spray%d@example.com", i)
		c.authOTP(otpBody(email, "email", wrongCode(codes[email]))).wantCode(http.StatusBadRequest, "auth_invalid_credentials")
		h.clock.Advance(time.Second)
	}
	// Budget spent at 4s: blocked until the first failure (at 0s) is a
	// minute old.
	r := c.authOTP(otpBody("spray5@example.com", "email", codes["spray5@example.com"])).wantLimited(55*time.Second, "max_failures_per_minute")
	if r.json()["error_code"] != "rate_limited" {
		t.Fatalf("OTP family 429 %s", r.body)
	}
	r = c.authLink(map[string]any{"code": "not-a-link-code"}).wantLimited(55*time.Second, "max_failures_per_minute")
	if r.json()["error_code"] != "429" {
		t.Fatalf("magic-link family 429 %s", r.body)
	}
	other.authOTP(otpBody("spray6@example.com", "email", "123456")).wantCode(http.StatusBadRequest, "auth_invalid_credentials")

	h.clock.Set(start.Add(time.Minute))
	// The refused call evaluated nothing: spray5's code is still live.
	c.authOTP(otpBody("spray5@example.com", "email", codes["spray5@example.com"])).wantStatus(http.StatusOK)
}

// TestEndUserFailureBudget caps the failed authentications from one
// end-user address the backend forwards.
func TestEndUserFailureBudget(t *testing.T) {
	h := newHarness(t)
	c := h.newClient("Guarded", false)
	c.update(func(a *appT) { a.Limits.IPFailuresPerHour = 3 })
	auth := func(ip string) response {
		body := otpBody("ghost@example.com", "email", "123456")
		body["client_attributes"] = map[string]any{"ip_address": ip}
		return c.authOTP(body)
	}
	for range 3 {
		auth("203.0.113.9").wantCode(http.StatusBadRequest, "auth_invalid_credentials")
	}
	auth("203.0.113.9").wantLimited(time.Hour, "ip_failures_per_hour")
	auth("203.0.113.10").wantCode(http.StatusBadRequest, "auth_invalid_credentials")
}

// tokenFrom asks for a client token with the given secret, through a
// trusted proxy that reports the caller as from.
func (c *client) tokenFrom(from, secret string) response {
	c.h.t.Helper()
	return c.h.postForm("/oidc/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {c.creds.ClientID},
		"client_secret": {secret}}, func(r *http.Request) { r.Header.Set("X-Forwarded-For", "10.9.9.9, "+from) })
}

// TestClientSecretGuessing guesses a client's secret from one address, then
// from many: the guessing addresses are refused before their secret is
// evaluated, while the client's own backend, from its own address, still
// gets tokens.
func TestClientSecretGuessing(t *testing.T) {
	h := newHarnessWith(t, harnessOptions{trustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	c := h.newClient("Guessed", false)
	for range 10 {
		c.tokenFrom("198.51.100.7", "wrong").wantStatus(http.StatusUnauthorized)
	}
	r := c.tokenFrom("198.51.100.7", c.creds.ClientSecret).wantLimited(time.Minute, "client_auth_per_address")
	if r.json()["error"] != "slow_down" || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("token endpoint 429 %s %v; want an RFC 6749 body with error slow_down", r.body, r.header)
	}
	revoke := h.postForm("/oidc/token/revocation", url.Values{"token": {"x"}, "client_id": {c.creds.ClientID},
		"client_secret": {c.creds.ClientSecret}}, func(r *http.Request) { r.Header.Set("X-Forwarded-For", "198.51.100.7") })
	revoke.wantLimited(time.Minute, "client_auth_per_address")
	c.tokenFrom("192.0.2.10", c.creds.ClientSecret).wantStatus(http.StatusOK)

	// 90 more failures from as many addresses: the client is over its
	// budget of 100 a minute.
	for i := range 90 {
		c.tokenFrom(fmt.Sprintf("203.0.%d.%d", 113+i/200, 1+i%200), "wrong").wantStatus(http.StatusUnauthorized)
	}
	h.clock.Advance(10 * time.Second)
	c.tokenFrom("203.0.113.1", c.creds.ClientSecret).wantLimited(50*time.Second, "client_auth_per_client")
	c.tokenFrom("192.0.2.10", c.creds.ClientSecret).wantStatus(http.StatusOK)
	c.tokenFrom("192.0.2.11", c.creds.ClientSecret).wantStatus(http.StatusOK)
	h.clock.Advance(50 * time.Second)
	c.tokenFrom("203.0.113.1", c.creds.ClientSecret).wantStatus(http.StatusOK)
}

// TestForwardedForFromAnUntrustedPeerIsIgnored varies X-Forwarded-For on
// a server that trusts no proxy: every guess counts against the real peer.
func TestForwardedForFromAnUntrustedPeerIsIgnored(t *testing.T) {
	h := newHarness(t)
	c := h.newClient("Direct", false)
	for i := range 10 {
		c.tokenFrom(fmt.Sprintf("198.51.100.%d", i), "wrong").wantStatus(http.StatusUnauthorized)
	}
	c.tokenFrom("192.0.2.99", c.creds.ClientSecret).wantLimited(time.Minute, "client_auth_per_address")
}
