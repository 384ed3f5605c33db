package httpapi_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func (c *client) sendLink(body any) response {
	c.h.t.Helper()
	return c.call(http.MethodPost, "/cis/v1/auth/link/email/send", body)
}

func (c *client) authLink(body any) response {
	c.h.t.Helper()
	return c.call(http.MethodPost, "/cis/v1/auth/link/email/authenticate", body)
}

// wantLinkError checks the magic-link family's error shape: error_code is
// the status as a string.
func (r response) wantLinkError(status int, message string) {
	r.t.Helper()
	r.wantStatus(status)
	body := r.json()
	if body["error_code"] != fmt.Sprint(status) || (message != "" && body["message"] != message) {
		r.t.Fatalf("body %s; want error_code %q and message %q", r.body, fmt.Sprint(status), message)
	}
}

const redirect = "http://localhost:8080/complete"

func TestMagicLinkFlow(t *testing.T) {
	h := newHarness(t)
	c := h.newClient("Links", false)
	id := c.mustUser(map[string]any{"email": "m@example.com", "username": "em"})
	c.sendLink(map[string]any{"identifier": "em", "identifier_type": "username", "redirect_uri": redirect,
		"state": "xyz 1&2"}).wantStatus(http.StatusOK)
	link := h.lastLink("m@example.com")
	if !strings.HasPrefix(link, h.srv.URL+"/magic-link?code=") {
		t.Fatalf("link %s; want one to Latchkey's public URL", link)
	}
	html := h.inbox()[0]["html"].(string)
	if !strings.Contains(html, "href=\""+strings.ReplaceAll(link, "&", "&amp;")+"\"") {
		t.Fatalf("the email has no button to the link")
	}
	// Opening the link (GET or HEAD, any number of times) consumes nothing.
	var code string
	for range 5 {
		loc := h.follow(link)
		u, _ := url.Parse(loc)
		if u.Scheme+"://"+u.Host+u.Path != redirect || u.Query().Get("state") != "xyz 1&2" {
			t.Fatalf("redirect to %s; want %s with the state", loc, redirect)
		}
		code = u.Query().Get("code")
		head, _ := http.NewRequest(http.MethodHead, link, nil)
		if resp := h.do(head); resp.status != http.StatusFound {
			t.Fatalf("HEAD on the link: %d", resp.status)
		}
	}
	tokens := c.authLink(map[string]any{"code": code}).wantStatus(http.StatusOK).json()
	claims := decodeClaims(t, tokens["id_token"].(string))
	if claims["sub"] != id || fmt.Sprint(claims["amr"]) != "[eml]" || claims["email_verified"] != true {
		t.Fatalf("ID token after a magic link: %v", claims)
	}
	// Used: authenticating again, or opening the link, fails.
	c.authLink(map[string]any{"code": code}).wantLinkError(400, "Invalid magic link code")
	used, _ := http.NewRequest(http.MethodGet, link, nil)
	if resp := h.do(used); resp.status != http.StatusBadRequest || !strings.HasPrefix(resp.header.Get("Content-Type"), "text/html") {
		t.Fatalf("a used link answers %d %s; want a 400 page", resp.status, resp.header.Get("Content-Type"))
	}
}

func TestMagicLinkErrors(t *testing.T) {
	h := newHarness(t)
	c := h.newClient("Links", false).withoutSendLimits()
	other := h.newClient("Other", false)
	c.mustUser(map[string]any{"email": "m@example.com"})
	phoneOnly := c.mustUser(map[string]any{"phone_number": "+14155550100"})
	base := func(extra map[string]any) map[string]any {
		b := map[string]any{"email": "m@example.com", "redirect_uri": redirect}
		for k, v := range extra {
			b[k] = v
		}
		return b
	}
	const redirectMessage = "redirect_uri is not one of the allowed redirect URIs configured for this app"
	for _, uri := range []string{redirect + "/", "http://LOCALHOST:8080/complete", redirect + "?x=1", redirect + "#f",
		"http://localhost:8081/complete", "https://evil.example/complete", "http://localhost:8080/complete/../complete"} {
		c.sendLink(base(map[string]any{"redirect_uri": uri})).wantLinkError(400, redirectMessage)
	}
	c.sendLink(base(map[string]any{"redirect_uri": ""})).wantLinkError(400, "")
	c.sendLink(map[string]any{"redirect_uri": redirect}).wantLinkError(400, "")
	c.sendLink(base(map[string]any{"email": "nobody@example.com"})).wantLinkError(404, "User not found")
	c.sendLink(map[string]any{"identifier": phoneOnly, "identifier_type": "user_id", "redirect_uri": redirect}).wantLinkError(404, "")
	c.sendLink(base(map[string]any{"channel": "sms"})).wantLinkError(400, "")
	c.sendLink(base(map[string]any{"email_content": map[string]any{"subject": "x", "base64logo": strings.Repeat("A", 20001)}})).wantLinkError(400, "")
	c.sendLink(base(map[string]any{"email_expiration": -1})).wantLinkError(400, "")
	if n := len(h.inbox()); n != 0 {
		t.Fatalf("refused link sends delivered %d messages", n)
	}

	// Unknown, foreign and expired codes.
	c.authLink(map[string]any{"code": "nope"}).wantLinkError(400, "Invalid magic link code")
	c.authLink(map[string]any{}).wantLinkError(400, "Invalid magic link code")
	r := c.sendLink(base(map[string]any{"channel": "direct"})).wantStatus(http.StatusOK).json()
	code, link := r["code"].(string), r["link"].(string)
	if r["message"] == nil || !strings.HasPrefix(link, h.srv.URL+"/magic-link?code=") || len(code) < 43 {
		t.Fatalf("direct link send %v; want message, code and link", r)
	}
	if n := len(h.inbox()); n != 0 {
		t.Fatal("a direct link was delivered")
	}
	other.authLink(map[string]any{"code": code}).wantLinkError(400, "Invalid magic link code")
	c.sendLink(base(map[string]any{"channel": "direct", "email_expiration": 2})).wantStatus(http.StatusOK)
	// The new link replaced the old one.
	c.authLink(map[string]any{"code": code}).wantLinkError(400, "Invalid magic link code")

	r = c.sendLink(base(map[string]any{"channel": "direct"})).wantStatus(http.StatusOK).json()
	h.clock.Advance(15 * time.Minute)
	c.authLink(map[string]any{"code": r["code"]}).wantLinkError(400, "Invalid magic link code")
}

func TestMagicLinkIsSingleUseUnderConcurrency(t *testing.T) {
	h := newHarness(t)
	c := h.newClient("Links", false)
	c.mustUser(map[string]any{"email": "m@example.com"})
	code := c.sendLink(map[string]any{"email": "m@example.com", "redirect_uri": redirect, "channel": "direct"}).
		wantStatus(http.StatusOK).json()["code"]
	statuses := raceCalls(t, 20, func() response { return c.authLink(map[string]any{"code": code}) })
	if statuses[http.StatusOK] != 1 || statuses[http.StatusBadRequest] != 19 {
		t.Fatalf("20 concurrent link authentications gave %v; want exactly one success", statuses)
	}
}

func TestLinkHostComesFromConfiguration(t *testing.T) {
	h := newHarness(t)
	c := h.newClient("Links", false)
	c.mustUser(map[string]any{"email": "m@example.com"})
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/cis/v1/auth/link/email/send",
		strings.NewReader(`{"email":"m@example.com","redirect_uri":"`+redirect+`"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Host = "evil.example"
	req.Header.Set("X-Forwarded-Host", "evil.example")
	req.Header.Set("Authorization", "Bearer "+c.token)
	h.do(req).wantStatus(http.StatusOK)
	if link := h.lastLink("m@example.com"); strings.Contains(link, "evil") {
		t.Fatalf("link %s follows the request's Host", link)
	}
}

func TestHideUnknownUsers(t *testing.T) {
	h := newHarness(t)
	c := h.newClient("Quiet", false)
	c.mustUser(map[string]any{"email": "known@example.com"})
	if _, err := h.apps.Update(t.Context(), c.app.ID, func(a *appT) { a.Policy.HideUnknownUsers = true }); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(appChangeDelay)
	for _, channel := range []string{"email", "sms", "direct"} {
		known := c.sendOTP(map[string]any{"channel": channel, "identifier": "known@example.com", "identifier_type": "email"})
		unknown := c.sendOTP(map[string]any{"channel": channel, "identifier": "ghost@example.com", "identifier_type": "email"})
		if known.status != unknown.status || len(known.json()) != len(unknown.json()) || known.json()["message"] != unknown.json()["message"] {
			t.Fatalf("%s: known %d %s vs unknown %d %s; want the same answer", channel, known.status, known.body, unknown.status, unknown.body)
		}
		if channel == "direct" {
			c.authOTP(otpBody("ghost@example.com", "email", unknown.json()["code"].(string))).wantCode(400, "auth_invalid_credentials")
		}
	}
	known := c.sendLink(map[string]any{"email": "known@example.com", "redirect_uri": redirect})
	unknown := c.sendLink(map[string]any{"email": "ghost@example.com", "redirect_uri": redirect})
	if known.status != unknown.status || string(known.body) != string(unknown.body) {
		t.Fatalf("link: known %s vs unknown %s", known.body, unknown.body)
	}
	for _, m := range h.inbox() {
		if m["to"] == "ghost@example.com" {
			t.Fatal("a message was delivered to an unknown identifier")
		}
	}
	// A disabled user gets the same answer too, and nothing.
	off := c.mustUser(map[string]any{"email": "off@example.com"})
	c.call(http.MethodPut, "/cis/v1/users/"+off, map[string]any{"status": "Disabled"}).wantStatus(http.StatusOK)
	c.sendOTP(map[string]any{"channel": "email", "identifier": "off@example.com", "identifier_type": "email"}).wantStatus(http.StatusOK)
	for _, m := range h.inbox() {
		if m["to"] == "off@example.com" {
			t.Fatal("a message was delivered to a disabled user")
		}
	}
	// The user is still not there: no account was created.
	c.call(http.MethodGet, "/cis/v1/users/email/ghost@example.com", nil).wantStatus(http.StatusNotFound)
}

func TestPublicSignup(t *testing.T) {
	h := newHarness(t)
	c := h.newClient("Open", false)
	if _, err := h.apps.Update(t.Context(), c.app.ID, func(a *appT) { a.Policy.PublicSignup = true }); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(appChangeDelay)
	c.sendOTP(map[string]any{"channel": "email", "identifier": "new@example.com", "identifier_type": "email"}).wantStatus(http.StatusOK)
	u := result(t, c.call(http.MethodGet, "/cis/v1/users/email/new@example.com", nil).wantStatus(http.StatusOK))
	if u["status"] != "Pending" {
		t.Fatalf("signed-up user %v; want Pending until the first login", u)
	}
	tokens := c.authOTP(otpBody("new@example.com", "email", h.lastCode("new@example.com"))).wantStatus(http.StatusOK).json()
	if decodeClaims(t, tokens["id_token"].(string))["new_user"] != true {
		t.Fatal("first login after signup is not new_user")
	}
	// Only email and phone identifiers can sign up.
	c.sendOTP(map[string]any{"channel": "direct", "identifier": "someone", "identifier_type": "username"}).wantCode(404, "user_not_found")
}
