package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// hiddenCase is one way hide-unknown-users hides an identifier: it names no
// user, a disabled one, or one without the address the channel needs. Every
// one must answer, at every count, exactly as a real send to a user who has
// that address, reached the same way.
type hiddenCase struct {
	name    string
	channel string // email, sms, or link (a magic link)
	idType  string
	// hidden makes what the identifier names (if anything) and returns it.
	hidden func(c *client, n int) string
	// app, when set, changes the app's settings for the case.
	app func(*appT)
}

// identity is the n-th test identity's email, phone and username; the
// phones differ in all but their last digits, so no two identities share
// an SMS prefix count.
func identity(n int) (email, phone, username string) {
	return fmt.Sprintf("id%d@example.com", n), fmt.Sprintf("+1415%03d0123", 200+n), fmt.Sprintf("id%d", n)
}

// identifierOf returns the identifier of idType for a user made from the
// n-th identity, whose ID is userID.
func identifierOf(idType, userID string, n int) string {
	email, phone, username := identity(n)
	return map[string]string{"email": email, "phone_number": phone, "username": username, "user_id": userID}[idType]
}

// userWith creates a user from the n-th identity with the named parts and
// returns the identifier of idType.
func userWith(c *client, n int, idType string, parts ...string) string {
	email, phone, username := identity(n)
	all := map[string]any{"email": email, "phone_number": phone, "username": username}
	body := map[string]any{}
	for _, p := range parts {
		body[p] = all[p]
	}
	return identifierOf(idType, c.mustUser(body), n)
}

func unknownUser(idType string) func(*client, int) string {
	return func(_ *client, n int) string {
		if idType == "user_id" {
			return fmt.Sprintf("nosuchuser%016d", n)
		}
		return identifierOf(idType, "", n)
	}
}

func userWithout(idType string, parts ...string) func(*client, int) string {
	return func(c *client, n int) string { return userWith(c, n, idType, parts...) }
}

func disabledUser(idType string) func(*client, int) string {
	return func(c *client, n int) string {
		id := userWith(c, n, "user_id", "email", "phone_number", "username")
		c.call(http.MethodPut, "/cis/v1/users/"+id, map[string]any{"status": "Disabled"}).wantStatus(http.StatusOK)
		return identifierOf(idType, id, n)
	}
}

var hiddenCases = []hiddenCase{
	{"unknown email by email", "email", "email", unknownUser("email"), nil},
	{"unknown email by SMS", "sms", "email", unknownUser("email"), nil},
	{"unknown email by link", "link", "email", unknownUser("email"), nil},
	{"unknown phone by SMS", "sms", "phone_number", unknownUser("phone_number"), nil},
	{"unknown phone by email", "email", "phone_number", unknownUser("phone_number"), nil},
	{"unknown user ID by email", "email", "user_id", unknownUser("user_id"), nil},
	{"unknown user ID by SMS", "sms", "user_id", unknownUser("user_id"), nil},
	{"unknown username by link", "link", "username", unknownUser("username"), nil},
	{"disabled user by email", "email", "email", disabledUser("email"), nil},
	{"disabled user by SMS", "sms", "phone_number", disabledUser("phone_number"), nil},
	{"disabled user by link", "link", "user_id", disabledUser("user_id"), nil},
	{"user without a phone, by email, by SMS", "sms", "email", userWithout("email", "email"), nil},
	{"user without a phone, by username, by SMS", "sms", "username", userWithout("username", "email", "username"), nil},
	{"user without an email, by phone, by email", "email", "phone_number", userWithout("phone_number", "phone_number"), nil},
	{"user without an email, by phone, by link", "link", "phone_number", userWithout("phone_number", "phone_number"), nil},
	{"user without an email, by user ID, by link", "link", "user_id", userWithout("user_id", "phone_number", "username"), nil},
	{"user whose phone is in a country the app does not send to, by email, by SMS", "sms", "email", userInFrance,
		func(a *appT) { a.Limits.SMSCountries = []string{"+1"} }},
}

// userInFrance is a user whose phone number is French.
func userInFrance(c *client, n int) string {
	email, _, _ := identity(n)
	c.mustUser(map[string]any{"email": email, "phone_number": fmt.Sprintf("+3314268%04d", n)})
	return email
}

// enumerationSteps is what a prober does to one identifier: sends and wrong
// passcodes, spaced so that the sequence crosses the resend cooldown, the
// hourly send cap, the lockout and its end, and a second lockout.
var enumerationSteps = []struct {
	advance time.Duration
	// send; other (a passcode by the other channel: email for SMS, SMS
	// otherwise); auth (a wrong passcode); link (a wrong magic-link code).
	action string
}{
	{0, "auth"}, // before any code: invalid, and nothing counted
	{0, "send"},
	{0, "other"},                          // another channel has limits of its own
	{0, "auth"}, {0, "auth"}, {0, "auth"}, // the third failure locks
	{0, "auth"},
	{0, "link"},
	{5 * time.Second, "send"}, // within the cooldown
	{25 * time.Second, "send"},
	{0, "auth"},
	{15 * time.Minute, "send"}, // the first lockout is over
	{0, "auth"}, {0, "auth"}, {0, "auth"},
	{0, "auth"},
	{30 * time.Second, "send"},
	{30 * time.Second, "send"}, // past the hourly cap
	{16 * time.Minute, "auth"},
	{15 * time.Minute, "send"},
	{0, "auth"},
}

// probe runs enumerationSteps against one identifier and returns every
// answer as the prober sees it: status, Retry-After, content type and body.
// codeOf returns the newest passcode delivered by a channel ("" when none
// is), so that the wrong passcodes are wrong.
func probe(c *client, hc hiddenCase, identifier string, codeOf func(channel string) string) []string {
	other := "sms"
	if hc.channel == "sms" {
		other = "email"
	}
	codes := map[string]string{}
	wrong := "000000"
	var answers []string
	for i, step := range enumerationSteps {
		c.h.clock.Advance(step.advance)
		var r response
		switch step.action {
		case "send", "other":
			channel := hc.channel
			if step.action == "other" {
				channel = other
			}
			if channel == "link" {
				r = c.sendLink(map[string]any{"identifier": identifier, "identifier_type": hc.idType, "redirect_uri": redirect})
				break
			}
			r = c.sendOTP(map[string]any{"channel": channel, "identifier": identifier, "identifier_type": hc.idType})
			if r.status == http.StatusOK {
				codes[channel] = codeOf(channel)
				wrong = wrongFor(codes)
			}
		case "auth":
			r = c.authOTP(otpBody(identifier, hc.idType, wrong))
		case "link":
			r = c.authLink(map[string]any{"code": "not-a-link-code-" + wrong})
		}
		answers = append(answers, fmt.Sprintf("%d %s: %d Retry-After=%q Content-Type=%q %s", i, step.action, r.status,
			r.header.Get("Retry-After"), r.header.Get("Content-Type"), strings.TrimSpace(string(r.body))))
	}
	return answers
}

// wrongFor returns a passcode that is none of codes.
func wrongFor(codes map[string]string) string {
	for _, guess := range []string{"000000", "111111", "222222"} {
		taken := false
		for _, code := range codes {
			taken = taken || code == guess
		}
		if !taken {
			return guess
		}
	}
	panic("unreachable")
}

// TestHiddenIdentifiersAnswerAsRealOnes runs the same probe against a real
// user and against every hidden case, for each channel and identifier
// type: every answer of send and authenticate, at every count, through
// lockouts and send limits, must be the same.
func TestHiddenIdentifiersAnswerAsRealOnes(t *testing.T) {
	h := newHarness(t)
	n := 0
	for _, hc := range hiddenCases {
		t.Run(hc.name, func(t *testing.T) {
			c := h.newClient("Hidden "+hc.name, false)
			c.update(func(a *appT) {
				a.Policy.HideUnknownUsers, a.Limits.SendsPerHour = true, 4
				if hc.app != nil {
					hc.app(a)
				}
			})
			n += 2
			realN, hiddenN := n-1, n
			real := userWith(c, realN, hc.idType, "email", "phone_number", "username")
			hidden := hc.hidden(c, hiddenN)
			start := h.clock.Now()
			email, phone, _ := identity(realN)
			to := map[string]string{"email": email, "sms": phone}
			want := probe(c, hc, real, func(channel string) string { return h.lastCode(to[channel]) })
			h.clock.Set(start)
			got := probe(c, hc, hidden, func(string) string { return "" })
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("answers differ:\nreal   %s\nhidden %s", want[i], got[i])
				}
			}
			all := strings.Join(want, "\n")
			if !strings.Contains(all, "sends_per_hour") || (hc.channel != "link" && !strings.Contains(all, "auth_locked")) {
				t.Fatalf("the probe did not reach the send cap and a lockout:\n%s", all)
			}
		})
	}
}

// TestCountryOfAUsersOwnNumber sends an SMS to a user named by email whose
// own number is in a country the app does not send to: the refusal names
// the country, unless the app hides unknown users, when it would tell that
// the user exists, and where; then the send is a decoy.
func TestCountryOfAUsersOwnNumber(t *testing.T) {
	h := newHarness(t)
	c := h.newClient("Countries", false)
	c.update(func(a *appT) { a.Limits.SMSCountries = []string{"GB"} })
	c.mustUser(map[string]any{"email": "fr@example.com", "phone_number": "+33142685300"})
	send := map[string]any{"channel": "sms", "identifier": "fr@example.com", "identifier_type": "email"}
	r := c.sendOTP(send).wantCode(http.StatusBadRequest, "system_invalid_input")
	if !strings.Contains(r.json()["message"].(string), "FR (+33)") {
		t.Fatalf("refusal %s; want it to name FR (+33)", r.body)
	}
	c.update(func(a *appT) { a.Policy.HideUnknownUsers = true })
	c.sendOTP(send).wantStatus(http.StatusOK)
	if got := h.inboxTo("+33142685300"); len(got) != 0 {
		t.Fatalf("the hidden send delivered %v", got)
	}
}

// TestHiddenSessionID names another user's session in an authentication:
// the answer is the same for a known and an unknown identifier.
func TestHiddenSessionID(t *testing.T) {
	h := newHarness(t)
	c := h.newClient("Sessions", false)
	c.update(func(a *appT) { a.Policy.HideUnknownUsers = true })
	c.mustUser(map[string]any{"email": "owner@example.com"})
	c.mustUser(map[string]any{"email": "known@example.com"})
	c.sendOTP(map[string]any{"channel": "email", "identifier": "owner@example.com", "identifier_type": "email"}).wantStatus(http.StatusOK)
	tokens := c.authOTP(otpBody("owner@example.com", "email", h.lastCode("owner@example.com"))).wantStatus(http.StatusOK).json()
	var answers []string
	for _, email := range []string{"known@example.com", "unknown@example.com"} {
		c.sendOTP(map[string]any{"channel": "email", "identifier": email, "identifier_type": "email"}).wantStatus(http.StatusOK)
		body := otpBody(email, "email", "000000")
		body["session_id"] = tokens["session_id"]
		r := c.authOTP(body)
		answers = append(answers, fmt.Sprintf("%d %s", r.status, r.body))
	}
	if answers[0] != answers[1] || !strings.HasPrefix(answers[0], "400 ") {
		t.Fatalf("another user's session_id: known %s, unknown %s; want the same 400", answers[0], answers[1])
	}
}

// TestDecoyMessagesAreSuppressed checks that a decoy composes, seals and
// queues a message as a real send does, and that the worker records it as
// suppressed without handing it to any provider.
func TestDecoyMessagesAreSuppressed(t *testing.T) {
	h, tw := newTwilioHarness(t)
	c := h.newClient("Suppressed", false).withoutSendLimits()
	c.update(func(a *appT) { a.Policy.HideUnknownUsers = true })
	c.mustUser(map[string]any{"email": "real@example.com"})
	c.sendOTP(map[string]any{"channel": "email", "identifier": "real@example.com", "identifier_type": "email"}).wantStatus(http.StatusOK)
	c.sendOTP(map[string]any{"channel": "email", "identifier": "ghost@example.com", "identifier_type": "email"}).wantStatus(http.StatusOK)
	c.sendOTP(smsTo("+14155550166")).wantStatus(http.StatusOK)
	c.sendOTP(map[string]any{"channel": "sms", "identifier": "real@example.com", "identifier_type": "email"}).wantStatus(http.StatusOK)
	c.sendLink(map[string]any{"identifier": "ghost@example.com", "identifier_type": "email", "redirect_uri": redirect}).wantStatus(http.StatusOK)
	queued, err := h.store.ListMessages(t.Context(), latchkey.MessageQueued, 10)
	if err != nil || len(queued) != 5 {
		t.Fatalf("outbox %d messages, %v; want every send's message queued", len(queued), err)
	}
	h.deliver()
	suppressed, _ := h.store.ListMessages(t.Context(), latchkey.MessageSuppressed, 10)
	sent, _ := h.store.ListMessages(t.Context(), latchkey.MessageSent, 10)
	if len(suppressed) != 4 || len(sent) != 1 || sent[0].To != "real@example.com" {
		t.Fatalf("%d suppressed and %d sent; want the 4 decoys suppressed and the real one sent", len(suppressed), len(sent))
	}
	if inbox := h.inbox(); len(inbox) != 1 || tw.total() != 0 {
		t.Fatalf("%d emails and %d SMS delivered; want only the real email", len(inbox), tw.total())
	}
}
