package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// mustUser creates a user through the API and returns its ID.
func (c *client) mustUser(body map[string]any) string {
	c.h.t.Helper()
	return result(c.h.t, c.call(http.MethodPost, "/cis/v1/users", body).wantStatus(http.StatusCreated))["user_id"].(string)
}

func (c *client) sendOTP(body any) response {
	c.h.t.Helper()
	return c.call(http.MethodPost, "/cis/v1/auth/otp/send", body)
}

func (c *client) authOTP(body any) response {
	c.h.t.Helper()
	return c.call(http.MethodPost, "/cis/v1/auth/otp/authenticate", body)
}

func otpBody(identifier, idType, passcode string) map[string]any {
	return map[string]any{"passcode": passcode, "identifier": identifier, "identifier_type": idType}
}

// wantCode checks an error response's Mosaic error_code.
func (r response) wantCode(status int, code string) response {
	r.t.Helper()
	r.wantStatus(status)
	if got := r.json()["error_code"]; got != code {
		r.t.Fatalf("error_code %v, want %q; body %s", got, code, r.body)
	}
	return r
}

// TestSampleAppRequests sends the requests Mosaic's official sample apps
// send, byte for byte (REFERENCE.md §11.5/§12).
func TestSampleAppRequests(t *testing.T) {
	h := newHarness(t)
	c := h.newClient("Sample", false)
	c.call(http.MethodPost, "/cis/v1/users", `{"email":"a@example.com"}`).wantStatus(http.StatusCreated)
	r := c.sendOTP(`{"channel":"email","identifier":"a@example.com","identifier_type":"email"}`).wantStatus(http.StatusOK)
	if string(r.body) != "{\"message\":\"OTP sent\"}\n" {
		t.Fatalf("send body %s; want exactly {\"message\":\"OTP sent\"}", r.body)
	}
	code := h.lastCode("a@example.com")
	r = c.authOTP(`{"passcode":"` + code + `","identifier":"a@example.com","identifier_type":"email"}`).wantStatus(http.StatusOK)
	body := r.json()
	for _, f := range []string{"access_token", "id_token", "refresh_token", "token_type", "expires_in", "session_id"} {
		if body[f] == nil || body[f] == "" {
			t.Errorf("token response lacks %s: %s", f, r.body)
		}
	}
	if body["token_type"] != "Bearer" || body["expires_in"] != float64(3600) {
		t.Errorf("token_type %v expires_in %v", body["token_type"], body["expires_in"])
	}

	c.call(http.MethodPost, "/cis/v1/users", `{"phone_number":"+15555550100"}`).wantStatus(http.StatusCreated)
	c.sendOTP(`{"channel":"sms","identifier":"+15555550100","identifier_type":"phone_number"}`).wantStatus(http.StatusOK)
	code = h.lastCode("+15555550100")
	c.authOTP(`{"passcode":"` + code + `","identifier":"+15555550100","identifier_type":"phone_number"}`).wantStatus(http.StatusOK)

	h.clock.Advance(c.app.Limits.ResendCooldown) // the address was sent a code just now
	r = c.call(http.MethodPost, "/cis/v1/auth/link/email/send", `{"email":"a@example.com","redirect_uri":"http://localhost:8080/complete"}`).wantStatus(http.StatusOK)
	if r.json()["message"] != "Email sent successfully" {
		t.Fatalf("link send body %s", r.body)
	}
	linkCode := linkCodeOf(t, h, h.lastLink("a@example.com"))
	c.call(http.MethodPost, "/cis/v1/auth/link/email/authenticate", `{"code":"`+linkCode+`"}`).wantStatus(http.StatusOK)
}

// linkCodeOf follows a magic link and returns the code the redirect carries.
func linkCodeOf(t testing.TB, h *harness, link string) string {
	t.Helper()
	loc := h.follow(link)
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("code")
}

// follow GETs a link without following the redirect and returns Location.
func (h *harness) follow(link string) string {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, link, nil)
	resp := h.do(req)
	if resp.status != http.StatusFound {
		h.t.Fatalf("GET %s: %d; want 302", link, resp.status)
	}
	if resp.header.Get("Cache-Control") != "no-store" || resp.header.Get("Referrer-Policy") != "no-referrer" {
		h.t.Fatalf("link redirect headers %v; want no-store and no-referrer", resp.header)
	}
	return resp.header.Get("Location")
}

func TestEmailOTPFlowUpdatesTheUser(t *testing.T) {
	h := newHarness(t)
	c := h.newClient("Shop", false)
	id := c.mustUser(map[string]any{"email": "Ada@Example.com"})
	approval := map[string]any{"transaction_id": "tx-1", "sum": "200"}
	r := c.sendOTP(map[string]any{"channel": "email", "identifier": "ada@example.com", "identifier_type": "email",
		"approval_data": approval}).wantStatus(http.StatusOK)
	if r.json()["approval_data"].(map[string]any)["sum"] != "200" {
		t.Fatalf("approval_data not echoed: %s", r.body)
	}
	msgs := h.inbox()
	if len(msgs) != 1 || msgs[0]["to"] != "Ada@Example.com" || msgs[0]["channel"] != "email" ||
		!strings.Contains(msgs[0]["subject"].(string), "Shop") || !strings.Contains(msgs[0]["html"].(string), "<html") {
		t.Fatalf("inbox %v; want one email to the user's address naming the app", msgs)
	}
	code := h.lastCode("Ada@Example.com")
	h.clock.Advance(time.Minute)
	tokens := c.authOTP(otpBody("ADA@example.com", "email", code)).wantStatus(http.StatusOK).json()
	id_ := decodeClaims(t, tokens["id_token"].(string))
	if id_["sub"] != id || id_["email"] != "Ada@Example.com" || id_["email_verified"] != true || id_["new_user"] != true ||
		fmt.Sprint(id_["amr"]) != "[eotp]" || id_["sid"] != tokens["session_id"] || id_["aud"] != c.creds.ClientID {
		t.Fatalf("ID token claims %v", id_)
	}
	if id_["approval_data"].(map[string]any)["transaction_id"] != "tx-1" {
		t.Fatalf("approval_data missing from the ID token: %v", id_)
	}
	access := decodeClaims(t, tokens["access_token"].(string))
	if access["sub"] != id || access["aud"] != "userid-api" || access["sid"] != tokens["session_id"] ||
		access["client_id"] != c.creds.ClientID || access["app_id"] != c.app.ID || access["tid"] == nil || access["scope"] == nil {
		t.Fatalf("access token claims %v", access)
	}
	u := result(t, c.call(http.MethodGet, "/cis/v1/users/"+id, nil).wantStatus(http.StatusOK))
	if u["status"] != "Active" || u["email"].(map[string]any)["email_verified"] != true || u["last_auth"] == nil {
		t.Fatalf("user after login %v; want Active, email verified, last_auth set", u)
	}
	ids := u["identities"].([]any)
	if len(ids) != 1 || ids[0].(map[string]any)["auth_type"] != "email_otp" {
		t.Fatalf("identities %v; want one email_otp identity", ids)
	}
	// A second login is not a new user.
	c.sendOTP(map[string]any{"channel": "email", "identifier": id, "identifier_type": "user_id"}).wantStatus(http.StatusOK)
	again := c.authOTP(otpBody(id, "user_id", h.lastCode("Ada@Example.com"))).wantStatus(http.StatusOK).json()
	if decodeClaims(t, again["id_token"].(string))["new_user"] != false {
		t.Fatal("second login reported as a new user")
	}
}

func TestSMSAndDirectChannels(t *testing.T) {
	h := newHarness(t)
	c := h.newClient("Texts", false)
	id := c.mustUser(map[string]any{"phone_number": "+14155550100", "username": "tex"})
	c.sendOTP(map[string]any{"channel": "sms", "identifier": "+1 (415) 555-0100", "identifier_type": "phone_number"}).wantStatus(http.StatusOK)
	msgs := h.inbox()
	if len(msgs) != 1 || msgs[0]["channel"] != "sms" || !strings.Contains(msgs[0]["text"].(string), "Texts") {
		t.Fatalf("sms %v; want one message naming the app", msgs)
	}
	tokens := c.authOTP(otpBody("tex", "username", h.lastCode("+14155550100"))).wantStatus(http.StatusOK).json()
	claims := decodeClaims(t, tokens["id_token"].(string))
	if fmt.Sprint(claims["amr"]) != "[sms]" || claims["phone_number_verified"] != true || claims["phone_number"] != "+14155550100" {
		t.Fatalf("ID token after SMS login: %v", claims)
	}

	r := c.sendOTP(map[string]any{"channel": "direct", "identifier": id, "identifier_type": "user_id"}).wantStatus(http.StatusOK)
	code, _ := r.json()["code"].(string)
	if r.json()["message"] != "OTP sent" || len(code) != 6 {
		t.Fatalf("direct send %s; want message and a 6-digit code", r.body)
	}
	if n := len(h.inbox()); n != 1 {
		t.Fatalf("a direct code was delivered (%d messages)", n)
	}
	tokens = c.authOTP(otpBody(id, "user_id", code)).wantStatus(http.StatusOK).json()
	if fmt.Sprint(decodeClaims(t, tokens["id_token"].(string))["amr"]) != "[otp]" {
		t.Fatal("a direct code's amr is not otp")
	}

	// Custom SMS text and sender ID, once the resend cooldown is over.
	h.clock.Advance(c.app.Limits.ResendCooldown)
	c.sendOTP(map[string]any{"channel": "sms", "identifier": id, "identifier_type": "user_id",
		"custom_sms_input": map[string]any{"custom_message": "Code {otp} for {app}", "sender_id": "ACME"}}).wantStatus(http.StatusOK)
	text := h.inbox()[0]["text"].(string)
	if !strings.HasPrefix(text, "Code ") || !strings.HasSuffix(text, " for Texts") {
		t.Fatalf("custom SMS %q", text)
	}
}

// TestCustomSMSIsLimitedAsSent sends a custom_message within 140 characters
// that {app} makes four SMS long: 400 system_invalid_input naming the limit
// and the length, for a known and a hidden unknown number alike, and
// nothing delivered; a message within three SMS is delivered as composed.
func TestCustomSMSIsLimitedAsSent(t *testing.T) {
	h := newHarness(t)
	c := h.newClient("Shopping Centre Mall", false)
	if _, err := h.apps.Update(context.Background(), c.app.ID, func(a *appT) { a.Policy.HideUnknownUsers = true }); err != nil {
		t.Fatal(err)
	}
	c.mustUser(map[string]any{"phone_number": "+14155550100"})
	send := func(number, message string) response {
		return c.sendOTP(map[string]any{"channel": "sms", "identifier": number, "identifier_type": "phone_number",
			"custom_sms_input": map[string]any{"custom_message": message}})
	}
	tooLong := "{otp}" + strings.Repeat("{app}", 27)
	for _, number := range []string{"+14155550100", "+14155550199"} {
		msg := send(number, tooLong).wantCode(http.StatusBadRequest, "system_invalid_input").json()["message"].(string)
		for _, want := range []string{"4 SMS", "546 GSM-7 units", "the limit is 3"} {
			if !strings.Contains(msg, want) {
				t.Errorf("send to %s: message %q does not say %q", number, msg, want)
			}
		}
	}
	if n := len(h.inbox()); n != 0 {
		t.Fatalf("refused sends delivered %d messages", n)
	}
	send("+14155550100", "🔑 {otp} is your {app} code").wantStatus(http.StatusOK)
	if text := h.inbox()[0]["text"].(string); !strings.HasSuffix(text, " is your Shopping Centre Mall code") {
		t.Fatalf("delivered SMS %q", text)
	}
}

func TestSendOTPErrors(t *testing.T) {
	h := newHarness(t)
	c := h.newClient("Errors", false)
	c.mustUser(map[string]any{"email": "mail@example.com"})
	c.mustUser(map[string]any{"phone_number": "+14155550111"})
	disabled := c.mustUser(map[string]any{"email": "off@example.com"})
	c.call(http.MethodPut, "/cis/v1/users/"+disabled, map[string]any{"status": "Disabled"}).wantStatus(http.StatusOK)
	email := func(extra map[string]any) map[string]any {
		b := map[string]any{"channel": "email", "identifier": "mail@example.com", "identifier_type": "email"}
		for k, v := range extra {
			b[k] = v
		}
		return b
	}
	long := strings.Repeat("x", 141)
	cases := []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"missing channel", map[string]any{"identifier": "mail@example.com", "identifier_type": "email"}, 400, "system_invalid_input"},
		{"unknown channel", email(map[string]any{"channel": "pigeon"}), 400, "system_invalid_input"},
		{"unknown identifier type", email(map[string]any{"identifier_type": "ssn"}), 400, "system_invalid_input"},
		{"email that is not one", email(map[string]any{"identifier": "mail"}), 400, "system_invalid_input"},
		{"phone in an email", email(map[string]any{"identifier_type": "phone_number"}), 400, "system_invalid_input"},
		{"CRLF identifier", email(map[string]any{"identifier": "mail@example.com\r\nBcc: x@evil.tld"}), 400, "system_invalid_input"},
		{"unknown user", email(map[string]any{"identifier": "nobody@example.com"}), 404, "user_not_found"},
		{"no email", map[string]any{"channel": "email", "identifier": "+14155550111", "identifier_type": "phone_number"}, 404, "user_email_address_missing"},
		{"no phone", email(map[string]any{"channel": "sms"}), 404, "user_phone_number_missing"},
		{"disabled", email(map[string]any{"identifier": "off@example.com"}), 403, "user_not_active"},
		{"expires_in zero", email(map[string]any{"expires_in": 0}), 400, "system_invalid_input"},
		{"expires_in as string", email(map[string]any{"expires_in": "5"}), 400, "system_invalid_input"},
		{"no subject", email(map[string]any{"email_content": map[string]any{"headerText": "Hi"}}), 400, "system_invalid_input"},
		{"CRLF subject", email(map[string]any{"email_content": map[string]any{"subject": "Hi\r\nBcc: x@evil.tld"}}), 400, "system_invalid_input"},
		{"CRLF sender", email(map[string]any{"email_content": map[string]any{"subject": "Hi", "senderName": "A\nB"}}), 400, "system_invalid_input"},
		{"bad colour", email(map[string]any{"email_content": map[string]any{"subject": "Hi", "primaryColor": "red;x:expression(1)"}}), 400, "system_invalid_input"},
		{"oversized logo", email(map[string]any{"email_content": map[string]any{"subject": "Hi", "base64logo": strings.Repeat("A", 20004)}}), 400, "system_invalid_input"},
		{"logo not an image", email(map[string]any{"email_content": map[string]any{"subject": "Hi", "base64logo": "PHN2Zz48L3N2Zz4="}}), 400, "system_invalid_input"},
		{"sms without {otp}", email(map[string]any{"channel": "sms", "identifier": "+14155550111", "identifier_type": "phone_number",
			"custom_sms_input": map[string]any{"custom_message": "Hello {app}"}}), 400, "system_invalid_input"},
		{"sms without {app}", email(map[string]any{"custom_sms_input": map[string]any{"custom_message": "Code {otp}"}}), 400, "system_invalid_input"},
		{"sms too long", email(map[string]any{"custom_sms_input": map[string]any{"custom_message": "{otp}{app}" + long}}), 400, "system_invalid_input"},
		{"sender id too long", email(map[string]any{"custom_sms_input": map[string]any{"sender_id": "ABCDEFGHIJKL"}}), 400, "system_invalid_input"},
		{"approval data too big", email(map[string]any{"approval_data": elevenKeys()}), 400, "system_invalid_input"},
		{"approval data bad key", email(map[string]any{"approval_data": map[string]any{"a b": "x"}}), 400, "system_invalid_input"},
		{"approval data nested", email(map[string]any{"approval_data": map[string]any{"a": map[string]any{"b": 1}}}), 400, "system_invalid_input"},
		{"malformed JSON", `{"channel":`, 400, "system_invalid_input"},
		{"oversized body", `{"channel":"email","x":"` + strings.Repeat("a", 70<<10) + `"}`, 413, "system_invalid_input"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c.sendOTP(tc.body).wantCode(tc.status, tc.code)
		})
	}
	if n := len(h.inbox()); n != 0 {
		t.Fatalf("refused sends delivered %d messages", n)
	}
	h.callWith("", http.MethodGet, "/dev/inbox/messages?limit=0", nil).wantStatus(http.StatusBadRequest)
	// Valid email_content is rendered as text, never markup.
	c.sendOTP(email(map[string]any{"email_content": map[string]any{"subject": "Your code", "bodyText": "<script>alert(1)</script>",
		"primaryColor": "#6981FF", "base64logo": tinyPNG}})).wantStatus(http.StatusOK)
	html := h.inbox()[0]["html"].(string)
	if strings.Contains(html, "<script>alert") || !strings.Contains(html, "&lt;script&gt;") || !strings.Contains(html, "#6981FF") ||
		!strings.Contains(html, "data:image/png;base64,") {
		t.Fatalf("custom email not rendered safely: %s", html)
	}
}

// tinyPNG is a 1x1 PNG.
const tinyPNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="

func elevenKeys() map[string]any {
	m := map[string]any{}
	for i := range 11 {
		m[fmt.Sprintf("k%d", i)] = "v"
	}
	return m
}

func TestNoProviderOutsideDevMode(t *testing.T) {
	h := newHarnessWith(t, harnessOptions{noDelivery: true})
	c := h.newClient("Prod", false)
	c.mustUser(map[string]any{"email": "p@example.com"})
	c.mustUser(map[string]any{"phone_number": "+14155550177"})
	for ch, variable := range map[string]string{"email": "LATCHKEY_EMAIL_PROVIDER", "sms": "LATCHKEY_SMS_PROVIDER"} {
		to, idType := "p@example.com", "email"
		if ch == "sms" {
			to, idType = "+14155550177", "phone_number"
		}
		r := c.sendOTP(map[string]any{"channel": ch, "identifier": to, "identifier_type": idType}).
			wantCode(http.StatusBadRequest, "external_provider_configuration_error")
		if msg := r.json()["message"].(string); !strings.Contains(msg, variable) || strings.Contains(msg, "application") {
			t.Errorf("%s send without a provider: %q; want a message naming %s, not blaming the application", ch, msg, variable)
		}
	}
	r := c.sendLink(map[string]any{"identifier": "p@example.com", "identifier_type": "email", "redirect_uri": "http://localhost:8080/complete"})
	if r.wantStatus(http.StatusBadRequest); !strings.Contains(r.json()["message"].(string), "LATCHKEY_EMAIL_PROVIDER") {
		t.Errorf("magic link without a provider: %s; want a message naming LATCHKEY_EMAIL_PROVIDER", r.body)
	}
	c.sendOTP(map[string]any{"channel": "direct", "identifier": "p@example.com", "identifier_type": "email"}).wantStatus(http.StatusOK)
	h.callWith("", http.MethodGet, "/dev/inbox", nil).wantStatus(http.StatusNotFound)
	h.callWith("", http.MethodGet, "/dev/inbox/messages?limit=1", nil).wantStatus(http.StatusNotFound)
	h.callWith("", http.MethodGet, "/dev/inbox/messages", nil).wantStatus(http.StatusNotFound)
}

func TestAuthenticateOTPInputErrors(t *testing.T) {
	h := newHarness(t)
	c := h.newClient("Input", false)
	c.mustUser(map[string]any{"email": "in@example.com"})
	c.sendOTP(map[string]any{"channel": "email", "identifier": "in@example.com", "identifier_type": "email"}).wantStatus(http.StatusOK)
	code := h.lastCode("in@example.com")
	for name, body := range map[string]string{
		"number":       `{"passcode":123456,"identifier":"in@example.com","identifier_type":"email"}`,
		"array":        `{"passcode":["123456","000000"],"identifier":"in@example.com","identifier_type":"email"}`,
		"letters":      `{"passcode":"12a456","identifier":"in@example.com","identifier_type":"email"}`,
		"empty":        `{"passcode":"","identifier":"in@example.com","identifier_type":"email"}`,
		"unicode":      `{"passcode":"１２３４５６","identifier":"in@example.com","identifier_type":"email"}`,
		"huge":         `{"passcode":"` + strings.Repeat("1", 100) + `","identifier":"in@example.com","identifier_type":"email"}`,
		"wrong type":   `{"passcode":"123456","identifier":"in@example.com","identifier_type":"phone_number"}`,
		"no type":      `{"passcode":"123456","identifier":"in@example.com"}`,
		"org_id":       `{"passcode":"123456","identifier":"in@example.com","identifier_type":"email","org_id":"o"}`,
		"bad resource": `{"passcode":"` + code + `","identifier":"in@example.com","identifier_type":"email","resource":"https://other"}`,
		"bad claims":   `{"passcode":"` + code + `","identifier":"in@example.com","identifier_type":"email","claims":"all"}`,
	} {
		t.Run(name, func(t *testing.T) {
			c.authOTP(body).wantCode(http.StatusBadRequest, "system_invalid_input")
		})
	}
	// None of that cost the user their code or an attempt.
	for _, wrong := range []string{"12345", "1234567"} {
		c.authOTP(otpBody("in@example.com", "email", wrong)).wantCode(http.StatusBadRequest, "auth_invalid_credentials")
	}
	c.authOTP(otpBody("in@example.com", "email", code)).wantStatus(http.StatusOK)
	c.authOTP(otpBody("in@example.com", "email", code)).wantCode(http.StatusBadRequest, "auth_invalid_credentials")
	c.authOTP(otpBody("ghost@example.com", "email", code)).wantCode(http.StatusBadRequest, "auth_invalid_credentials")
}

func TestExpiryAndOnlyNewestCode(t *testing.T) {
	h := newHarness(t)
	c := h.newClient("Expiry", false).withoutSendLimits()
	c.mustUser(map[string]any{"email": "e@example.com"})
	send := func(extra map[string]any) string {
		b := map[string]any{"channel": "email", "identifier": "e@example.com", "identifier_type": "email"}
		for k, v := range extra {
			b[k] = v
		}
		c.sendOTP(b).wantStatus(http.StatusOK)
		return h.lastCode("e@example.com")
	}
	code := send(nil)
	h.clock.Advance(5*time.Minute - time.Second)
	c.authOTP(otpBody("e@example.com", "email", code)).wantStatus(http.StatusOK)

	code = send(nil)
	h.clock.Advance(5 * time.Minute)
	c.authOTP(otpBody("e@example.com", "email", code)).wantCode(http.StatusBadRequest, "auth_otp_passcode_expired")

	code = send(map[string]any{"expires_in": 1})
	h.clock.Advance(61 * time.Second)
	c.authOTP(otpBody("e@example.com", "email", code)).wantCode(http.StatusBadRequest, "auth_otp_passcode_expired")

	first := send(nil)
	second := send(nil)
	newest := h.callWith("", http.MethodGet, "/dev/inbox/messages?limit=1&to=e%40example.com", nil).wantStatus(http.StatusOK)
	var list []map[string]any
	if err := json.Unmarshal(newest.body, &list); err != nil || len(list) != 1 || !strings.Contains(list[0]["text"].(string), second) {
		t.Fatalf("?limit=1 of five messages = %s (%v); want only the newest, with %s", newest.body, err, second)
	}
	if first != second {
		c.authOTP(otpBody("e@example.com", "email", first)).wantCode(http.StatusBadRequest, "auth_invalid_credentials")
	}
	c.authOTP(otpBody("e@example.com", "email", second)).wantStatus(http.StatusOK)
}

func TestLockout(t *testing.T) {
	h := newHarness(t)
	c := h.newClient("Locks", false).withoutSendLimits()
	c.mustUser(map[string]any{"email": "l@example.com"})
	send := func() string {
		c.sendOTP(map[string]any{"channel": "email", "identifier": "l@example.com", "identifier_type": "email"}).wantStatus(http.StatusOK)
		return h.lastCode("l@example.com")
	}
	wrong := func(code string) string {
		if code == "000000" {
			return "111111"
		}
		return "000000"
	}
	code := send()
	// Two failures, a resend (which does not reset the count), one more.
	c.authOTP(otpBody("l@example.com", "email", wrong(code))).wantCode(400, "auth_invalid_credentials")
	c.authOTP(otpBody("l@example.com", "email", wrong(code))).wantCode(400, "auth_invalid_credentials")
	code = send()
	c.authOTP(otpBody("l@example.com", "email", wrong(code))).wantCode(400, "auth_invalid_credentials")
	// Locked: even the right code fails, and so does a fresh one.
	c.authOTP(otpBody("l@example.com", "email", code)).wantCode(403, "auth_locked")
	code = send()
	h.clock.Advance(15*time.Minute - time.Second)
	c.authOTP(otpBody("l@example.com", "email", code)).wantCode(403, "auth_locked")
	// After the lockout a new code works.
	h.clock.Advance(time.Second)
	code = send()
	c.authOTP(otpBody("l@example.com", "email", code)).wantStatus(http.StatusOK)

	// A success resets the count: two failures, a success, two failures
	// leave the user unlocked.
	for range 2 {
		code = send()
		c.authOTP(otpBody("l@example.com", "email", wrong(code))).wantCode(400, "auth_invalid_credentials")
		c.authOTP(otpBody("l@example.com", "email", wrong(code))).wantCode(400, "auth_invalid_credentials")
		c.authOTP(otpBody("l@example.com", "email", code)).wantStatus(http.StatusOK)
	}

	// The count survives a restart: it lives in the database.
	code = send()
	c.authOTP(otpBody("l@example.com", "email", wrong(code))).wantCode(400, "auth_invalid_credentials")
	var counter latchkey.AttemptCounter
	userID := result(t, c.call(http.MethodGet, "/cis/v1/users/email/l@example.com", nil).wantStatus(200))["user_id"].(string)
	err := h.store.AttemptChallenge(context.Background(), c.app.ID, latchkey.KindOTP, "user:"+userID, h.clock.Now(),
		func(c *latchkey.AttemptCounter, _ *latchkey.Challenge) (latchkey.AttemptResult, error) {
			counter = *c
			return latchkey.AttemptResult{}, nil
		})
	if err != nil || counter.Failures != 1 {
		t.Fatalf("stored counter %+v, %v; want 1 failure", counter, err)
	}
}

// TestConcurrentAuthenticationIsSingleUse releases 20 authenticates of one
// valid code at once: exactly one gets tokens.
func TestConcurrentAuthenticationIsSingleUse(t *testing.T) {
	h := newHarness(t)
	c := h.newClient("Race", false)
	c.mustUser(map[string]any{"email": "race@example.com"})
	c.sendOTP(map[string]any{"channel": "email", "identifier": "race@example.com", "identifier_type": "email"}).wantStatus(http.StatusOK)
	code := h.lastCode("race@example.com")
	statuses := raceCalls(t, 20, func() response { return c.authOTP(otpBody("race@example.com", "email", code)) })
	if statuses[http.StatusOK] != 1 || statuses[http.StatusBadRequest] != 19 {
		t.Fatalf("20 concurrent authenticates gave %v; want one 200 and nineteen 400", statuses)
	}
}

// TestConcurrentGuessesCannotOutrunTheLimit fires 60 wrong guesses at once:
// at most MaxFailures are evaluated, and afterwards even the right code is
// locked out.
func TestConcurrentGuessesCannotOutrunTheLimit(t *testing.T) {
	h := newHarness(t)
	c := h.newClient("Guess", false)
	c.mustUser(map[string]any{"email": "g@example.com"})
	c.sendOTP(map[string]any{"channel": "email", "identifier": "g@example.com", "identifier_type": "email"}).wantStatus(http.StatusOK)
	code := h.lastCode("g@example.com")
	var mu sync.Mutex
	n := 0
	statuses := raceCalls(t, 60, func() response {
		mu.Lock()
		guess := fmt.Sprintf("%06d", n)
		n++
		mu.Unlock()
		if guess == code {
			guess = "999999"
		}
		return c.authOTP(otpBody("g@example.com", "email", guess))
	})
	if statuses[http.StatusBadRequest] != 3 || statuses[http.StatusForbidden] != 57 {
		t.Fatalf("60 concurrent wrong guesses gave %v; want 3 evaluated (400) and 57 locked (403)", statuses)
	}
	c.authOTP(otpBody("g@example.com", "email", code)).wantCode(http.StatusForbidden, "auth_locked")
}

// raceCalls runs n calls released together and counts their statuses.
func raceCalls(t testing.TB, n int, call func() response) map[int]int {
	t.Helper()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[int]int{}
		start    = make(chan struct{})
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r := call()
			mu.Lock()
			statuses[r.status]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	return statuses
}

func TestRequestIDAndResource(t *testing.T) {
	h := newHarness(t)
	c := h.newClient("Bound", false, "https://api.shop.example")
	c.mustUser(map[string]any{"email": "b@example.com"})
	r := c.sendOTP(map[string]any{"channel": "email", "identifier": "b@example.com", "identifier_type": "email",
		"generate_request_id": true}).wantStatus(http.StatusOK)
	rid, _ := r.json()["request_id"].(string)
	if len(rid) < 16 {
		t.Fatalf("send with generate_request_id returned %s", r.body)
	}
	code := h.lastCode("b@example.com")
	c.authOTP(otpBody("b@example.com", "email", code)).wantCode(400, "auth_invalid_credentials")
	body := otpBody("b@example.com", "email", code)
	body["request_id"], body["resource"] = rid, "https://api.shop.example"
	tokens := c.authOTP(body).wantStatus(http.StatusOK).json()
	if aud := decodeClaims(t, tokens["access_token"].(string))["aud"]; aud != "https://api.shop.example" {
		t.Fatalf("access token aud %v; want the resource", aud)
	}
}
