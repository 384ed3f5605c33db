package httpapi_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/delivery"
	"github.com/latchkeyhq/latchkey/login"
	"github.com/latchkeyhq/latchkey/twilio"
)

// fakeTwilio stands in for Twilio's Messages resource: it checks each
// request as Twilio documents it (a form POST with HTTP Basic credentials
// to /2010-04-01/Accounts/{SID}/Messages.json) and counts them by number.
type fakeTwilio struct {
	t  testing.TB
	mu sync.Mutex
	to map[string]int
}

const (
	twilioSID   = "AC0123456789abcdef0123456789abcdef"
	twilioToken = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
)

func (f *fakeTwilio) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	user, pass, _ := r.BasicAuth()
	body, _ := io.ReadAll(r.Body)
	form, err := url.ParseQuery(string(body))
	if r.Method != http.MethodPost || r.URL.Path != "/2010-04-01/Accounts/"+twilioSID+"/Messages.json" ||
		user != twilioSID || pass != twilioToken || err != nil || form.Get("To") == "" || form.Get("Body") == "" {
		f.t.Errorf("not a Twilio Messages request: %s %s %q", r.Method, r.URL.Path, body)
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.to[form.Get("To")]++
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, `{"sid":"SM%032d","status":"queued","to":%q}`, 1, form.Get("To"))
}

func (f *fakeTwilio) calls(to string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.to[to]
}

func (f *fakeTwilio) total() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.to {
		n += c
	}
	return n
}

// newTwilioHarness is a harness whose SMS go to a fake Twilio.
func newTwilioHarness(t *testing.T) (*harness, *fakeTwilio) {
	t.Helper()
	f := &fakeTwilio{t: t, to: map[string]int{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	sender, err := twilio.New(twilio.Config{AccountSID: twilioSID, AuthToken: twilioToken, From: "+15005550006",
		APIURL: srv.URL, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarnessWith(t, harnessOptions{senders: map[latchkey.Channel][]delivery.Sender{latchkey.ChannelSMS: {sender}}})
	return h, f
}

// wantLimited checks a 429: a Retry-After of exactly wait (whole seconds)
// and a message naming the limit.
func (r response) wantLimited(wait time.Duration, limit string) response {
	r.t.Helper()
	r.wantStatus(http.StatusTooManyRequests)
	if got := r.header.Get("Retry-After"); got != strconv.Itoa(int(wait/time.Second)) {
		r.t.Fatalf("Retry-After %q; want %d seconds; body %s", got, int(wait/time.Second), r.body)
	}
	if msg, _ := r.json()["message"].(string); !strings.Contains(msg, limit) {
		r.t.Fatalf("429 message %q does not name %s", msg, limit)
	}
	return r
}

func smsTo(number string) map[string]any {
	return map[string]any{"channel": "sms", "identifier": number, "identifier_type": "phone_number"}
}

// TestSMSBurstStopsAtTheCap sends a burst of SMS to one number, then one
// send every 30 seconds: Twilio is called once for the burst, and ten times
// in the hour, and every refusal is a 429 with Retry-After.
func TestSMSBurstStopsAtTheCap(t *testing.T) {
	h, tw := newTwilioHarness(t)
	c := h.newClient("Pump", false)
	c.mustUser(map[string]any{"phone_number": "+14155550123"})

	statuses := raceCalls(t, 20, func() response { return c.sendOTP(smsTo("+14155550123")) })
	if statuses[http.StatusOK] != 1 || statuses[http.StatusTooManyRequests] != 19 {
		t.Fatalf("a burst of 20 sends gave %v; want one 200 and nineteen 429", statuses)
	}
	c.sendOTP(smsTo("+14155550123")).wantCode(http.StatusTooManyRequests, "rate_limited")
	h.deliver() // as the outbox worker does at once
	for range 9 {
		h.clock.Advance(30 * time.Second)
		c.sendOTP(smsTo("+14155550123")).wantStatus(http.StatusOK)
		h.deliver()
	}
	h.clock.Advance(30 * time.Second)
	// Ten in the hour: the next is allowed when the first, 5 minutes ago,
	// leaves it.
	c.sendOTP(smsTo("+1 (415) 555-0123")).wantLimited(55*time.Minute, "sends_per_hour")
	h.deliver()
	if n := tw.calls("+14155550123"); n != 10 {
		t.Fatalf("Twilio was called %d times for the number; want exactly the 10 admitted sends", n)
	}
	if logs := h.logs.String(); strings.Count(logs, `"msg":"rate limited"`) != 21 || strings.Contains(logs, "4155550123") {
		t.Fatalf("want one warning per refusal (21), none showing the whole number:\n%s", logs)
	}
}

// TestEmailAndLinkBursts checks both email endpoints: a burst is cut to
// one send, each family answers 429 in its own shape, the previous code
// stays valid, and once the cooldown is over a new send works.
func TestEmailAndLinkBursts(t *testing.T) {
	h := newHarness(t)
	c := h.newClient("Bomb", false)
	c.mustUser(map[string]any{"email": "bomb@example.com"})
	email := map[string]any{"channel": "email", "identifier": "bomb@example.com", "identifier_type": "email"}
	if s := raceCalls(t, 10, func() response { return c.sendOTP(email) }); s[http.StatusOK] != 1 || s[http.StatusTooManyRequests] != 9 {
		t.Fatalf("an email burst gave %v; want one 200 and nine 429", s)
	}
	code := h.lastCode("bomb@example.com")
	h.clock.Advance(10 * time.Second)
	r := c.sendOTP(email).wantLimited(20*time.Second, "resend_cooldown")
	if r.json()["error_code"] != "rate_limited" {
		t.Fatalf("OTP family 429 body %s; want error_code rate_limited", r.body)
	}
	link := map[string]any{"email": "bomb@example.com", "redirect_uri": redirect}
	r = c.sendLink(link).wantLimited(20*time.Second, "resend_cooldown")
	if r.json()["error_code"] != "429" {
		t.Fatalf("magic-link family 429 body %s; want error_code \"429\"", r.body)
	}
	if n := len(h.inboxTo("bomb@example.com")); n != 1 {
		t.Fatalf("%d emails delivered; want the one admitted", n)
	}
	// The refused sends left the first code valid.
	c.authOTP(otpBody("bomb@example.com", "email", code)).wantStatus(http.StatusOK)

	h.clock.Advance(20 * time.Second)
	c.sendLink(link).wantStatus(http.StatusOK)
	h.clock.Advance(10 * time.Second)
	if s := raceCalls(t, 10, func() response { return c.sendLink(link) }); s[http.StatusTooManyRequests] != 10 {
		t.Fatalf("a link burst during the cooldown gave %v; want ten 429", s)
	}
	h.clock.Advance(20 * time.Second)
	c.sendLink(link).wantStatus(http.StatusOK)
	if n := len(h.inboxTo("bomb@example.com")); n != 3 {
		t.Fatalf("%d emails delivered; want 3", n)
	}
}

// TestSequentialNumbersStopAtThePrefixCap walks through consecutive
// numbers with custom_phone_number, as SMS pumping does: the 21st in one
// block of a thousand is refused, and the next block is not.
func TestSequentialNumbersStopAtThePrefixCap(t *testing.T) {
	h, tw := newTwilioHarness(t)
	c := h.newClient("Pumped", false).withoutSendLimits()
	id := c.mustUser(map[string]any{"phone_number": "+447700900000"})
	send := func(number string) response {
		return c.sendOTP(map[string]any{"channel": "sms", "identifier": id, "identifier_type": "user_id", "custom_phone_number": number})
	}
	for i := range 20 {
		send(fmt.Sprintf("+44207946%04d", i)).wantStatus(http.StatusOK)
	}
	send("+442079460999").wantLimited(time.Hour, "sms_prefix_per_hour")
	send("+442079461000").wantStatus(http.StatusOK)
	h.deliver()
	if n := tw.total(); n != 21 {
		t.Fatalf("Twilio was called %d times; want the 21 admitted sends", n)
	}
}

func TestSMSCountryAllowlist(t *testing.T) {
	h, tw := newTwilioHarness(t)
	c := h.newClient("Local", false)
	c.update(func(a *appT) { a.Limits.SMSCountries = []string{"GB", "+1"} })
	c.mustUser(map[string]any{"phone_number": "+33142685300"})
	c.mustUser(map[string]any{"phone_number": "+16135550123"})
	r := c.sendOTP(smsTo("+33142685300")).wantCode(http.StatusBadRequest, "system_invalid_input")
	if msg := r.json()["message"].(string); !strings.Contains(msg, "FR (+33)") || strings.Contains(msg, "142685300") {
		t.Fatalf("country refusal %q; want it to name FR (+33), not the number", msg)
	}
	c.sendOTP(smsTo("+16135550123")).wantStatus(http.StatusOK) // Canada, under +1
	h.deliver()
	if tw.calls("+33142685300") != 0 || tw.calls("+16135550123") != 1 {
		t.Fatalf("Twilio calls %v; want none to France and one to Canada", tw.to)
	}
}

// TestKnownAndUnknownAnswerAlike runs one sequence of sends for a known
// user and for an unknown identifier under hide-unknown-users: every
// status, body and Retry-After is the same (SEC-32).
func TestKnownAndUnknownAnswerAlike(t *testing.T) {
	h := newHarness(t)
	c := h.newClient("Hidden", false)
	c.update(func(a *appT) { a.Policy.HideUnknownUsers, a.Limits.SendsPerHour = true, 3 })
	c.mustUser(map[string]any{"email": "known@example.com", "phone_number": "+14155550111"})
	run := func(email, phone string) []string {
		var seq []string
		record := func(r response) {
			seq = append(seq, fmt.Sprintf("%d %s %s", r.status, r.header.Get("Retry-After"), r.body))
		}
		start := h.clock.Now()
		// Within the hour the client token lives.
		for _, step := range []time.Duration{0, 5 * time.Second, 30 * time.Second, 30 * time.Second, 30 * time.Second, 55 * time.Minute} {
			h.clock.Advance(step)
			record(c.sendOTP(map[string]any{"channel": "email", "identifier": email, "identifier_type": "email"}))
			record(c.sendLink(map[string]any{"email": email, "redirect_uri": redirect}))
			record(c.sendOTP(smsTo(phone)))
		}
		h.clock.Set(start)
		return seq
	}
	known := run("known@example.com", "+14155550111")
	unknown := run("nobody@example.com", "+14155550999")
	for i := range known {
		if known[i] != unknown[i] {
			t.Fatalf("answer %d differs:\nknown   %s\nunknown %s", i, known[i], unknown[i])
		}
	}
	if !strings.HasPrefix(known[1], "429 ") || !strings.HasPrefix(known[0], "200 ") {
		t.Fatalf("the sequence %v does not exercise the limits", known)
	}
}

// TestTestIdentifiers checks that a test identifier's sends are delivered
// nowhere and limited by nothing, and that its fixed code logs in through
// the usual checks: once, and with wrong codes counted.
func TestTestIdentifiers(t *testing.T) {
	h, tw := newTwilioHarness(t)
	c := h.newClient("Review", false)
	c.update(func(a *appT) {
		a.Limits.TestIdentifiers = []latchkey.TestIdentifier{
			login.NewTestIdentifier(h.keyring, a.ID, "review@example.com", "424242"),
			login.NewTestIdentifier(h.keyring, a.ID, "+14155550142", "13579"),
		}
	})
	c.mustUser(map[string]any{"email": "Review@Example.com", "phone_number": "+14155550142"})
	email := map[string]any{"channel": "email", "identifier": "review@example.com", "identifier_type": "email"}
	for range 15 {
		c.sendOTP(email).wantStatus(http.StatusOK)
		c.sendOTP(smsTo("+1 415 555 0142")).wantStatus(http.StatusOK)
	}
	c.sendOTP(email).wantStatus(http.StatusOK) // the newest passcode replaces the SMS one
	h.deliver()
	if n := len(h.inbox()); n != 0 || tw.total() != 0 {
		t.Fatalf("sends to test identifiers reached a provider: %d emails, %d SMS", n, tw.total())
	}
	c.authOTP(otpBody("review@example.com", "email", "000000")).wantCode(http.StatusBadRequest, "auth_invalid_credentials")
	c.authOTP(otpBody("REVIEW@example.com", "email", "424242")).wantStatus(http.StatusOK)
	c.authOTP(otpBody("review@example.com", "email", "424242")).wantCode(http.StatusBadRequest, "auth_invalid_credentials")

	c.sendOTP(smsTo("+14155550142")).wantStatus(http.StatusOK)
	c.authOTP(otpBody("+14155550142", "phone_number", "424242")).wantCode(http.StatusBadRequest, "auth_invalid_credentials")
	c.authOTP(otpBody("+14155550142", "phone_number", "13579")).wantStatus(http.StatusOK)

	// A direct code is returned to the backend, so it stays random.
	r := c.sendOTP(map[string]any{"channel": "direct", "identifier": "review@example.com", "identifier_type": "email"}).wantStatus(http.StatusOK)
	c.authOTP(otpBody("review@example.com", "email", r.json()["code"].(string))).wantStatus(http.StatusOK)

	// The fixed code is subject to the lockout like any other.
	c.sendOTP(email).wantStatus(http.StatusOK)
	for range 3 {
		c.authOTP(otpBody("review@example.com", "email", "111111")).wantCode(http.StatusBadRequest, "auth_invalid_credentials")
	}
	c.sendOTP(email).wantStatus(http.StatusOK)
	c.authOTP(otpBody("review@example.com", "email", "424242")).wantCode(http.StatusForbidden, "auth_locked")
}

// TestEndUserAddress checks the header and the body field a backend
// forwards its end user's address in: they are validated, and sends from
// one address (one /64 for IPv6) are capped.
func TestEndUserAddress(t *testing.T) {
	h := newHarness(t)
	c := h.newClient("Office", false)
	c.update(func(a *appT) { a.Limits.IPSendsPerHour = 2 })
	for i := range 4 {
		c.mustUser(map[string]any{"email": fmt.Sprintf("u%d@example.com", i)})
	}
	send := func(i int, header string, attrs map[string]any) response {
		body := map[string]any{"channel": "email", "identifier": fmt.Sprintf("u%d@example.com", i), "identifier_type": "email"}
		if attrs != nil {
			body["client_attributes"] = attrs
		}
		req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/cis/v1/auth/otp/send", strings.NewReader(mustJSON(t, body)))
		req.Header.Set("Authorization", "Bearer "+c.token)
		req.Header.Set("Content-Type", "application/json")
		if header != "" {
			req.Header.Set("Latchkey-End-User-IP", header)
		}
		return h.do(req)
	}
	send(0, "not-an-ip", nil).wantCode(http.StatusBadRequest, "system_invalid_input")
	send(0, "", map[string]any{"ip_address": "999.1.1.1"}).wantCode(http.StatusBadRequest, "system_invalid_input")
	send(0, "2001:db8:7:7::1", nil).wantStatus(http.StatusOK)
	send(1, "", map[string]any{"ip_address": "2001:db8:7:7:aaaa::2"}).wantStatus(http.StatusOK)
	send(2, "2001:db8:7:7::3", map[string]any{"ip_address": "198.51.100.1"}).wantLimited(time.Hour, "ip_sends_per_hour")
	send(2, "2001:db8:7:8::3", nil).wantStatus(http.StatusOK)
	send(3, "", nil).wantStatus(http.StatusOK) // no address forwarded: no per-address limit
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
