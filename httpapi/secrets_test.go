package httpapi_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// TestNoSecretAtRestOrInLogs runs every kind of login, then reads every
// table and the logs: no passcode, link code, refresh token or client secret
// may appear in clear. Delivered messages lose their text.
func TestNoSecretAtRestOrInLogs(t *testing.T) {
	h := newHarness(t)
	c := h.newClient("Vault", false)
	id := c.mustUser(map[string]any{"email": "v@example.com", "phone_number": "+14155550100"})

	c.sendOTP(map[string]any{"channel": "email", "identifier": id, "identifier_type": "user_id"}).wantStatus(http.StatusOK)
	code := h.lastCode("v@example.com")
	tokens := c.authOTP(otpBody(id, "user_id", code)).wantStatus(http.StatusOK).json()
	h.clock.Advance(c.app.Limits.ResendCooldown)
	c.sendLink(map[string]any{"email": "v@example.com", "redirect_uri": redirect}).wantStatus(http.StatusOK)
	linkCode := linkCodeOf(t, h, h.lastLink("v@example.com"))
	pending := c.sendOTP(map[string]any{"channel": "direct", "identifier": id, "identifier_type": "user_id"}).json()["code"].(string)
	c.sendOTP(map[string]any{"channel": "sms", "identifier": id, "identifier_type": "user_id"}).wantStatus(http.StatusOK)
	smsCode := h.lastCode("+14155550100") // delivered: the outbox row is erased

	secrets := map[string]string{"client secret": c.creds.ClientSecret, "email passcode": code, "pending direct code": pending,
		"SMS passcode": smsCode, "refresh token": tokens["refresh_token"].(string), "magic link code": linkCode}
	dump, logs := h.dumpTables(), h.logs.String()
	if !strings.Contains(dump, "v@example.com") {
		t.Fatal("the table dump does not see stored values")
	}
	for what, s := range secrets {
		// A passcode is searched for as a whole number, not as digits
		// inside a timestamp.
		found := regexp.MustCompile(`(^|[^0-9])` + regexp.QuoteMeta(s) + `([^0-9]|$)`)
		if found.MatchString(dump) {
			t.Errorf("the %s is stored in clear", what)
		}
		if found.MatchString(logs) {
			t.Errorf("the %s appears in the logs", what)
		}
	}
	if strings.Contains(logs, "v@example.com") || strings.Contains(logs, "+14155550100") {
		t.Error("an address appears unmasked in the logs")
	}
}
