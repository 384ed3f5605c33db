package httpapi_test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// login signs a user in with a direct code and returns the token response.
func (c *client) login(userID string, extra map[string]any) map[string]any {
	c.h.t.Helper()
	c.h.clock.Advance(c.app.Limits.ResendCooldown) // the user logs in again later
	code := c.sendOTP(map[string]any{"channel": "direct", "identifier": userID, "identifier_type": "user_id"}).
		wantStatus(http.StatusOK).json()["code"].(string)
	body := otpBody(userID, "user_id", code)
	for k, v := range extra {
		body[k] = v
	}
	return c.authOTP(body).wantStatus(http.StatusOK).json()
}

func (c *client) refresh(token any) response {
	c.h.t.Helper()
	return c.call(http.MethodPost, "/cis/v1/auth/token/refresh", map[string]any{"refresh_token": token})
}

func TestRefreshRotatesAndDetectsReplay(t *testing.T) {
	h := newHarness(t)
	c := h.newClient("Refresh", false)
	id := c.mustUser(map[string]any{"email": "r@example.com"})
	first := c.login(id, nil)
	h.clock.Advance(10 * time.Minute)

	second := c.refresh(first["refresh_token"]).wantStatus(http.StatusOK).json()
	if second["refresh_token"] == first["refresh_token"] || second["access_token"] == nil || second["id_token"] == nil {
		t.Fatalf("refresh response %v; want new tokens", second)
	}
	if _, ok := second["session_id"]; ok {
		t.Fatal("the backend refresh returned a session_id")
	}
	before, after := decodeClaims(t, first["id_token"].(string)), decodeClaims(t, second["id_token"].(string))
	for _, claim := range []string{"iss", "sub", "aud", "auth_time", "sid"} {
		if fmt.Sprint(before[claim]) != fmt.Sprint(after[claim]) {
			t.Errorf("refreshed ID token changed %s: %v -> %v (OIDC §12.2)", claim, before[claim], after[claim])
		}
	}
	if after["iat"] == before["iat"] {
		t.Error("refreshed ID token has the old iat")
	}

	// Replaying the first token revokes the family and the session.
	c.refresh(first["refresh_token"]).wantStatus(http.StatusBadRequest)
	c.refresh(second["refresh_token"]).wantStatus(http.StatusBadRequest)
	c.call(http.MethodPost, "/cis/v1/auth/session/authenticate", map[string]any{"session_id": first["session_id"]}).
		wantStatus(http.StatusBadRequest)

	// Garbage and another app's token.
	c.refresh("garbage").wantStatus(http.StatusBadRequest)
	c.call(http.MethodPost, "/cis/v1/auth/token/refresh", `{}`).wantStatus(http.StatusBadRequest)
	other := h.newClient("Other", false)
	third := c.login(id, nil)
	other.refresh(third["refresh_token"]).wantStatus(http.StatusBadRequest)
	c.refresh(third["refresh_token"]).wantStatus(http.StatusOK)
}

func TestRefreshExpiresWithoutSliding(t *testing.T) {
	h := newHarness(t)
	c := h.newClient("Refresh", false)
	id := c.mustUser(map[string]any{"email": "r@example.com"})
	tokens := c.login(id, nil)
	for range 13 {
		h.clock.Advance(24 * time.Hour)
		c.token = c.clientToken()
		tokens = c.refresh(tokens["refresh_token"]).wantStatus(http.StatusOK).json()
	}
	h.clock.Advance(24 * time.Hour)
	c.token = c.clientToken()
	c.refresh(tokens["refresh_token"]).wantStatus(http.StatusBadRequest)
}

func TestConcurrentRefreshYieldsOneToken(t *testing.T) {
	h := newHarness(t)
	c := h.newClient("Refresh", false)
	id := c.mustUser(map[string]any{"email": "r@example.com"})
	tokens := c.login(id, nil)
	statuses := raceCalls(t, 10, func() response { return c.refresh(tokens["refresh_token"]) })
	if statuses[http.StatusOK] != 1 {
		t.Fatalf("10 concurrent refreshes gave %v; want exactly one success", statuses)
	}
}

func TestRefreshTokenGrant(t *testing.T) {
	h := newHarness(t)
	c := h.newClient("Grant", false)
	id := c.mustUser(map[string]any{"email": "g@example.com"})
	tokens := c.login(id, nil)
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tokens["refresh_token"].(string)},
		"client_id": {c.creds.ClientID}, "client_secret": {c.creds.ClientSecret}}
	r := h.postForm("/oidc/token", form, nil).wantStatus(http.StatusOK).json()
	if r["refresh_token"] == tokens["refresh_token"] || r["id_token"] == nil || r["token_type"] != "Bearer" {
		t.Fatalf("refresh_token grant response %v", r)
	}
	resp := h.postForm("/oidc/token", form, nil).wantStatus(http.StatusBadRequest)
	if resp.json()["error"] != "invalid_grant" {
		t.Fatalf("replayed refresh token: %s; want invalid_grant", resp.body)
	}
	form.Set("refresh_token", r["refresh_token"].(string))
	if h.postForm("/oidc/token", form, nil).json()["error"] != "invalid_grant" {
		t.Fatal("the rotated token survived a replay of its predecessor")
	}
}

func TestSessions(t *testing.T) {
	h := newHarness(t)
	c := h.newClient("Sessions", false)
	other := h.newClient("Other", false)
	id := c.mustUser(map[string]any{"email": "s@example.com"})
	one := c.login(id, nil)
	two := c.login(id, nil)
	if one["session_id"] == two["session_id"] {
		t.Fatal("two logins share a session")
	}

	var list []map[string]any
	decode(t, c.call(http.MethodGet, "/cis/v1/auth/users/"+id+"/sessions", nil).wantStatus(http.StatusOK), &list)
	if len(list) != 2 || list[0]["start_time"] == nil || list[0]["expiration_time"] == nil {
		t.Fatalf("sessions %v; want two with times", list)
	}
	other.call(http.MethodGet, "/cis/v1/auth/users/"+id+"/sessions", nil).wantStatus(http.StatusNotFound)

	// Silent authentication from a session.
	silent := c.call(http.MethodPost, "/cis/v1/auth/session/authenticate", map[string]any{"session_id": one["session_id"]}).
		wantStatus(http.StatusOK).json()
	if silent["session_id"] != one["session_id"] || silent["refresh_token"] == nil {
		t.Fatalf("session authenticate %v", silent)
	}
	other.call(http.MethodPost, "/cis/v1/auth/session/authenticate", map[string]any{"session_id": one["session_id"]}).
		wantStatus(http.StatusBadRequest)

	// Multi-factor: a second authentication joins the session.
	c.mustUser(map[string]any{"phone_number": "+14155550100"})
	c.call(http.MethodPut, "/cis/v1/users/"+id, map[string]any{"phone_number": "+14155550199"}).wantStatus(http.StatusOK)
	c.sendOTP(map[string]any{"channel": "sms", "identifier": id, "identifier_type": "user_id"}).wantStatus(http.StatusOK)
	mfa := c.authOTP(map[string]any{"passcode": h.lastCode("+14155550199"), "identifier": id, "identifier_type": "user_id",
		"session_id": one["session_id"]}).wantStatus(http.StatusOK).json()
	if mfa["session_id"] != one["session_id"] || fmt.Sprint(decodeClaims(t, mfa["id_token"].(string))["amr"]) != "[otp sms mfa]" {
		t.Fatalf("MFA response %v; want the same session with both methods", mfa)
	}
	// Another app's session cannot be joined, and the code is not spent.
	otherUser := other.mustUser(map[string]any{"email": "o@example.com"})
	otherTokens := other.login(otherUser, nil)
	code := c.sendOTP(map[string]any{"channel": "direct", "identifier": id, "identifier_type": "user_id"}).json()["code"]
	c.authOTP(map[string]any{"passcode": code, "identifier": id, "identifier_type": "user_id", "session_id": otherTokens["session_id"]}).
		wantCode(http.StatusBadRequest, "system_invalid_input")
	c.authOTP(map[string]any{"passcode": code, "identifier": id, "identifier_type": "user_id"}).wantStatus(http.StatusOK)

	// Logout: 204, its refresh tokens stop working; another app's: 404.
	other.call(http.MethodPost, "/cis/v1/auth/session/logout", map[string]any{"session_id": one["session_id"]}).wantStatus(http.StatusNotFound)
	r := c.call(http.MethodPost, "/cis/v1/auth/session/logout", map[string]any{"session_id": one["session_id"]})
	if r.status != http.StatusNoContent {
		t.Fatalf("logout: %d %s", r.status, r.body)
	}
	c.refresh(one["refresh_token"]).wantStatus(http.StatusBadRequest)
	c.refresh(silent["refresh_token"]).wantStatus(http.StatusBadRequest)
	c.call(http.MethodPost, "/cis/v1/auth/session/logout", map[string]any{}).wantStatus(http.StatusBadRequest)

	// Revoke all.
	if r := c.call(http.MethodDelete, "/cis/v1/auth/users/"+id+"/sessions", nil); r.status != http.StatusNoContent {
		t.Fatalf("revoke sessions: %d", r.status)
	}
	c.refresh(two["refresh_token"]).wantStatus(http.StatusBadRequest)
	decode(t, c.call(http.MethodGet, "/cis/v1/auth/users/"+id+"/sessions", nil).wantStatus(http.StatusOK), &list)
	if len(list) != 0 {
		t.Fatalf("sessions after revoking all: %v", list)
	}
	other.refresh(otherTokens["refresh_token"]).wantStatus(http.StatusOK)
}

// TestAMRGainsMFAAfterTwoFactors checks that a session holding two
// different factors says "mfa" in every ID token issued in it (the
// authenticate that adds the second factor, a refresh, a silent
// authentication), and that two proofs of one mailbox are not two factors.
func TestAMRGainsMFAAfterTwoFactors(t *testing.T) {
	h := newHarness(t)
	c := h.newClient("MFA", false).withoutSendLimits()
	id := c.mustUser(map[string]any{"email": "mfa@example.com", "phone_number": "+14155550142"})
	amrOf := func(tokens map[string]any) string {
		t.Helper()
		return fmt.Sprint(decodeClaims(t, tokens["id_token"].(string))["amr"])
	}

	// An email code, then a magic link in the same session: one mailbox.
	c.sendOTP(map[string]any{"channel": "email", "identifier": "mfa@example.com", "identifier_type": "email"}).wantStatus(http.StatusOK)
	first := c.authOTP(otpBody("mfa@example.com", "email", h.lastCode("mfa@example.com"))).wantStatus(http.StatusOK).json()
	if got := amrOf(first); got != "[eotp]" {
		t.Fatalf("amr after an email code: %s; want [eotp]", got)
	}
	c.sendLink(map[string]any{"identifier": "mfa@example.com", "identifier_type": "email",
		"redirect_uri": "http://localhost:8080/complete"}).wantStatus(http.StatusOK)
	sameBox := c.authLink(map[string]any{"code": linkCodeOf(t, h, h.lastLink("mfa@example.com")),
		"session_id": first["session_id"]}).wantStatus(http.StatusOK).json()
	if got := amrOf(sameBox); got != "[eotp eml]" {
		t.Fatalf("amr after an email code and a magic link: %s; want [eotp eml] without mfa", got)
	}

	// Then an SMS code in the same session: a second factor.
	c.sendOTP(map[string]any{"channel": "sms", "identifier": "+14155550142", "identifier_type": "phone_number"}).wantStatus(http.StatusOK)
	second := c.authOTP(map[string]any{"passcode": h.lastCode("+14155550142"), "identifier": "+14155550142",
		"identifier_type": "phone_number", "session_id": first["session_id"]}).wantStatus(http.StatusOK).json()
	const want = "[eotp eml sms mfa]"
	if got := amrOf(second); got != want {
		t.Fatalf("amr after email and SMS in one session: %s; want %s", got, want)
	}
	refreshed := c.refresh(second["refresh_token"]).wantStatus(http.StatusOK).json()
	if got := amrOf(refreshed); got != want {
		t.Fatalf("amr after a refresh: %s; want %s", got, want)
	}
	silent := c.call(http.MethodPost, "/cis/v1/auth/session/authenticate", map[string]any{"session_id": first["session_id"]}).
		wantStatus(http.StatusOK).json()
	if got := amrOf(silent); got != want {
		t.Fatalf("amr after a silent authentication: %s; want %s", got, want)
	}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {silent["refresh_token"].(string)},
		"client_id": {c.creds.ClientID}, "client_secret": {c.creds.ClientSecret}}
	granted := h.postForm("/oidc/token", form, nil).wantStatus(http.StatusOK).json()
	if got := amrOf(granted); got != want {
		t.Fatalf("amr after the refresh_token grant: %s; want %s", got, want)
	}
	// A new session starts from one factor again.
	if got := amrOf(c.login(id, nil)); got != "[otp]" {
		t.Fatalf("amr of a new session: %s; want [otp]", got)
	}
}

func TestDisablingOrRemovingAUserEndsTheirSessions(t *testing.T) {
	h := newHarness(t)
	c := h.newClient("Ends", false)
	id := c.mustUser(map[string]any{"email": "e@example.com"})
	tokens := c.login(id, nil)
	c.call(http.MethodPut, "/cis/v1/users/"+id, map[string]any{"status": "Disabled"}).wantStatus(http.StatusOK)
	c.refresh(tokens["refresh_token"]).wantStatus(http.StatusBadRequest)
	c.sendOTP(map[string]any{"channel": "direct", "identifier": id, "identifier_type": "user_id"}).wantCode(403, "user_not_active")

	c.call(http.MethodPut, "/cis/v1/users/"+id, map[string]any{"status": "Active"}).wantStatus(http.StatusOK)
	tokens = c.login(id, nil)
	c.call(http.MethodDelete, "/cis/v1/users/"+id+"/apps", nil)
	c.refresh(tokens["refresh_token"]).wantStatus(http.StatusBadRequest)
}

func TestRevocationEndpoint(t *testing.T) {
	h := newHarness(t)
	c := h.newClient("Revoke", false)
	other := h.newClient("Other", false)
	id := c.mustUser(map[string]any{"email": "v@example.com"})
	tokens := c.login(id, nil)
	revoke := func(cl *client, tok string) response {
		return h.postForm("/cis/oidc/token/revocation", url.Values{"token": {tok}, "client_id": {cl.creds.ClientID},
			"client_secret": {cl.creds.ClientSecret}}, nil)
	}
	// Another app's token: 200, and nothing happens to it.
	if r := revoke(other, tokens["refresh_token"].(string)); r.status != http.StatusOK {
		t.Fatalf("revoking another app's token: %d %s", r.status, r.body)
	}
	tokens = c.refresh(tokens["refresh_token"]).wantStatus(http.StatusOK).json()
	for _, junk := range []string{"garbage", "x.y.z"} {
		if r := revoke(c, junk); r.status != http.StatusOK || len(r.body) != 0 {
			t.Fatalf("revoking %q: %d %s; want 200 with no body", junk, r.status, r.body)
		}
	}
	if r := revoke(c, tokens["refresh_token"].(string)); r.status != http.StatusOK {
		t.Fatalf("revoke: %d", r.status)
	}
	c.refresh(tokens["refresh_token"]).wantStatus(http.StatusBadRequest)
	if r := revoke(c, tokens["refresh_token"].(string)); r.status != http.StatusOK {
		t.Fatal("revoking an already revoked token did not answer 200")
	}
	r := revoke(c, tokens["access_token"].(string)).wantStatus(http.StatusBadRequest)
	if r.json()["error"] != "unsupported_token_type" || r.json()["error_code"] != float64(http.StatusBadRequest) {
		t.Fatalf("revoking an access token: %s; want unsupported_token_type and error_code 400", r.body)
	}
	bad := h.postForm("/oidc/token/revocation", url.Values{"token": {"x"}, "client_id": {c.creds.ClientID}, "client_secret": {"no"}}, nil)
	if body := bad.wantStatus(http.StatusUnauthorized).json(); body["error"] != "invalid_client" || body["error_code"] != float64(401) {
		t.Fatalf("a bad secret at revocation: %s; want invalid_client and error_code 401", bad.body)
	}
	missing := h.postForm("/oidc/token/revocation", url.Values{"client_id": {c.creds.ClientID}, "client_secret": {c.creds.ClientSecret}}, nil)
	if body := missing.wantStatus(http.StatusBadRequest).json(); body["error"] != "invalid_request" || body["error_code"] != float64(400) {
		t.Fatalf("revocation without a token: %s; want invalid_request and error_code 400", missing.body)
	}
}

func decode(t testing.TB, r response, v any) {
	t.Helper()
	if err := jsonUnmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// TestStoreFailureIsNotAMissingSession checks that silent authentication
// reports a database failure as a server error, not as "Session not found",
// which would tell the app to sign the user out.
func TestStoreFailureIsNotAMissingSession(t *testing.T) {
	h := newHarness(t)
	c := h.newClient("Outage", false)
	id := c.mustUser(map[string]any{"email": "o@example.com"})
	sessionID := c.login(id, nil)["session_id"]
	h.store.Close() // the client token and its app stay cached for the call below
	resp := c.call(http.MethodPost, "/cis/v1/auth/session/authenticate", map[string]any{"session_id": sessionID})
	if resp.status < 500 {
		t.Fatalf("session authenticate on a closed store: %d %s; want a 5xx", resp.status, resp.body)
	}
}
