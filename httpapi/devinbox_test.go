package httpapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkeyhq/latchkey/httpapi"
)

// TestDevInboxOffersCodesOnlyWhereTheyAreCodes checks the code and link the
// dev inbox finds in each message: an OTP email's and an SMS's passcode, a
// magic-link email's link and the code it carries, and never the digits of
// a port, a path or a query.
func TestDevInboxOffersCodesOnlyWhereTheyAreCodes(t *testing.T) {
	h := newHarness(t)
	c := h.newClient("Shop 2026", false).withoutSendLimits()
	c.mustUser(map[string]any{"email": "codes@example.com", "phone_number": "+14155550133"})
	c.sendOTP(map[string]any{"channel": "email", "identifier": "codes@example.com", "identifier_type": "email"}).wantStatus(http.StatusOK)
	otp := h.inboxTo("codes@example.com")[0]
	if code := otp["code"]; code == nil || !strings.Contains(otp["text"].(string), "    "+code.(string)+"\n") || otp["link"] != nil {
		t.Fatalf("OTP email: code %v link %v; want the passcode the text sets apart, no link:\n%s", code, otp["link"], otp["text"])
	}
	c.sendOTP(map[string]any{"channel": "sms", "identifier": "+14155550133", "identifier_type": "phone_number"}).wantStatus(http.StatusOK)
	sms := h.inboxTo("+14155550133")[0]
	if code, _ := sms["code"].(string); len(code) != 6 || !strings.HasPrefix(sms["text"].(string), code+" ") {
		t.Fatalf("SMS: code %v; want the passcode of %q", sms["code"], sms["text"])
	}

	// The server's port has four digits or more, and so may the link's code.
	c.sendLink(map[string]any{"identifier": "codes@example.com", "identifier_type": "email",
		"redirect_uri": "http://localhost:8080/complete"}).wantStatus(http.StatusOK)
	link := h.inboxTo("codes@example.com")[0]
	u, err := url.Parse(link["link"].(string))
	if err != nil || u.Query().Get("code") == "" || link["code"] != u.Query().Get("code") {
		t.Fatalf("magic-link email: link %v code %v; want the link and the code it carries", link["link"], link["code"])
	}
	page := string(h.callWith("", http.MethodGet, "/dev/inbox", nil).wantStatus(http.StatusOK).body)
	article := page[strings.Index(page, "<article"):]
	article = article[:strings.Index(article, "</article>")]
	if strings.Contains(article, "Copy code") || !strings.Contains(article, "Open link") {
		t.Fatalf("the page offers a code for a magic-link email, or no link:\n%s", article)
	}
	if !strings.Contains(page, "Copy code <code>"+otp["code"].(string)+"</code>") || strings.Contains(page, "Copy code <code>2026</code>") {
		t.Fatal("the page does not offer the OTP's code, or offers the digits of the app's name in a link")
	}
}

// TestDevInboxClear checks that DELETE /dev/inbox/messages empties the dev
// inbox, and that the route exists only in dev mode.
func TestDevInboxClear(t *testing.T) {
	h := newHarness(t)
	c := h.newClient("Clear", false)
	c.sendOTP(map[string]any{"channel": "email", "identifier": "clear@example.com", "identifier_type": "email"})
	c.mustUser(map[string]any{"email": "clear@example.com"})
	c.sendOTP(map[string]any{"channel": "email", "identifier": "clear@example.com", "identifier_type": "email"}).wantStatus(http.StatusOK)
	if len(h.inbox()) != 1 {
		t.Fatal("no message to clear")
	}
	if r := h.callWith("", http.MethodDelete, "/dev/inbox/messages", nil); r.status != http.StatusNoContent {
		t.Fatalf("clear: %d %s", r.status, r.body)
	}
	if left := h.inbox(); len(left) != 0 {
		t.Fatalf("after clear: %v", left)
	}
	prod := newHarnessWith(t, harnessOptions{noDelivery: true})
	prod.callWith("", http.MethodDelete, "/dev/inbox/messages", nil).wantStatus(http.StatusNotFound)
}

// TestDevCompletePage follows a demo app's magic link to the dev complete
// page, which shows the code and the backend call, then presses its button:
// the server exchanges the code as the demo app and shows the tokens. The
// page is never cached, sends no referrer and runs no script; the code and
// tokens never reach the log.
func TestDevCompletePage(t *testing.T) {
	h := newHarnessWith(t, harnessOptions{demoApp: true})
	c := h.demo
	c.mustUser(map[string]any{"email": "landing@example.com"})
	c.sendLink(map[string]any{"identifier": "landing@example.com", "identifier_type": "email",
		"redirect_uri": h.srv.URL + httpapi.DevCompletePath, "state": `<s&"t>`}).wantStatus(http.StatusOK)
	target := h.follow(h.lastLink("landing@example.com"))
	if !strings.HasPrefix(target, h.srv.URL+httpapi.DevCompletePath+"?") {
		t.Fatalf("the magic link leads to %s; want the dev complete page", target)
	}
	code := linkCodeOf(t, h, h.lastLink("landing@example.com"))

	req, _ := http.NewRequest(http.MethodGet, target, nil)
	page := h.do(req).wantStatus(http.StatusOK)
	body := string(page.body)
	for _, want := range []string{code, "/cis/v1/auth/link/email/authenticate", `{"code":"` + code + `"}`,
		c.creds.ClientID, "&lt;s&amp;&#34;t&gt;", `action="/dev/complete"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(body, c.creds.ClientSecret) || strings.Contains(body, `<s&"t>`) || strings.Contains(body, "<script") {
		t.Error("the page shows the client secret, an unescaped value, or a script")
	}
	checkDevPageHeaders(t, page)

	// Another site's form cannot make the exchange.
	form := url.Values{"code": {code}}
	foreign := h.postForm(httpapi.DevCompletePath, form, func(r *http.Request) { r.Header.Set("Origin", "https://evil.example") })
	foreign.wantStatus(http.StatusForbidden)

	done := h.postForm(httpapi.DevCompletePath, form, func(r *http.Request) { r.Header.Set("Origin", h.srv.URL) })
	done.wantStatus(http.StatusOK)
	checkDevPageHeaders(t, done)
	for _, want := range []string{`id="tokens"`, `&#34;amr&#34;: [`, "landing@example.com", "refresh_token"} {
		if !strings.Contains(string(done.body), want) {
			t.Errorf("the exchange's page lacks %q:\n%s", want, done.body)
		}
	}
	again := h.postForm(httpapi.DevCompletePath, form, func(r *http.Request) { r.Header.Set("Origin", h.srv.URL) })
	if again.status != http.StatusBadRequest || !strings.Contains(string(again.body), "Invalid magic link code") {
		t.Fatalf("a second exchange: %d %s; want 400 Invalid magic link code", again.status, again.body)
	}
	if logs := h.logs.String(); strings.Contains(logs, code) || strings.Contains(logs, "eyJ") {
		t.Fatal("the code or a token reached the log")
	}
	prod := newHarness(t)
	prod.callWith("", http.MethodGet, httpapi.DevCompletePath+"?code=x", nil).wantStatus(http.StatusNotFound)
}

func checkDevPageHeaders(t *testing.T, r response) {
	t.Helper()
	csp := r.header.Get("Content-Security-Policy")
	if r.header.Get("Cache-Control") != "no-store" || r.header.Get("Referrer-Policy") != "no-referrer" ||
		!strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
		t.Errorf("headers %v; want no-store, no referrer and a policy that runs no script", r.header)
	}
}
