package main

import (
	"context"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/internal/smtptest"
	"golang.org/x/oauth2/clientcredentials"
)

// mimeParts parses a received email and returns its text and HTML parts
// and its headers.
func mimeParts(t *testing.T, raw []byte) (text, html string, header mail.Header) {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatalf("received mail is not RFC 5322: %v", err)
	}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(mediaType, "multipart/") {
		t.Fatalf("received mail is %q; want multipart", mediaType)
	}
	r := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(p) // the reader undoes quoted-printable

		switch ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); ct {
		case "text/plain":
			text = string(body)
		case "text/html":
			html = string(body)
		}
	}
	return text, html, msg.Header
}

// serverWithApp starts `latchkey serve` with extra variables and an app, and
// returns the URL and an API client.
func serverWithApp(t *testing.T, te *testEnv) (string, api) {
	t.Helper()
	creds := te.createApp("--name", "Mailer", "--redirect-uri", "http://localhost:8080/complete")
	te.noResendCooldown(creds.AppID)
	base := te.serve("serve")
	cc := clientcredentials.Config{ClientID: creds.ClientID, ClientSecret: creds.ClientSecret, TokenURL: base + "/oidc/token"}
	return base, api{t: t, base: base, http: cc.Client(context.Background())}
}

// TestSMTPDeliveryEndToEnd sends a passcode and a magic link through a real
// SMTP server over TCP, reads them from the received MIME messages, and
// logs in with each.
func TestSMTPDeliveryEndToEnd(t *testing.T) {
	smtpd := smtptest.Start(t)
	te := newTestEnv(t)
	te.vars["LATCHKEY_EMAIL_PROVIDER"] = "smtp"
	te.vars["LATCHKEY_SMTP_URL"] = "smtp://" + smtpd.Addr + "?starttls=off"
	te.vars["LATCHKEY_EMAIL_FROM"] = "Latchkey <login@latchkey.example>"
	_, a := serverWithApp(t, te)

	a.mustPost("/cis/v1/users", map[string]any{"email": "mail@example.com"}, http.StatusCreated)
	a.mustPost("/cis/v1/auth/otp/send", map[string]any{"channel": "email", "identifier": "mail@example.com", "identifier_type": "email"}, http.StatusOK)
	msgs := smtpd.Wait(t, 1, 15*time.Second)
	if msgs[0].From != "login@latchkey.example" || len(msgs[0].To) != 1 || msgs[0].To[0] != "mail@example.com" {
		t.Fatalf("envelope from %q to %v", msgs[0].From, msgs[0].To)
	}
	text, html, header := mimeParts(t, msgs[0].Data)
	from, err := mail.ParseAddress(header.Get("From"))
	if err != nil || from.Name != "Mailer" || from.Address != "login@latchkey.example" {
		t.Fatalf("From header %q; want the app's name and the configured address", header.Get("From"))
	}
	if header.Get("Subject") != "Your Mailer sign-in code" || header.Get("Message-Id") == "" || header.Get("Date") == "" {
		t.Fatalf("headers %v", header)
	}
	code := regexp.MustCompile(`\b\d{6}\b`).FindString(text)
	if code == "" || !strings.Contains(html, code) {
		t.Fatalf("no code in the text part %q, or not in the HTML part", text)
	}
	a.mustPost("/cis/v1/auth/otp/authenticate", map[string]any{"passcode": code, "identifier": "mail@example.com", "identifier_type": "email"}, http.StatusOK)

	a.mustPost("/cis/v1/auth/link/email/send", map[string]any{"email": "mail@example.com", "redirect_uri": "http://localhost:8080/complete"}, http.StatusOK)
	msgs = smtpd.Wait(t, 2, 15*time.Second)
	_, html, _ = mimeParts(t, msgs[1].Data)
	link := regexp.MustCompile(`href="([^"]+)"`).FindStringSubmatch(html)
	if link == nil {
		t.Fatal("no link in the magic-link email")
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(strings.ReplaceAll(link[1], "&amp;", "&"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	a.mustPost("/cis/v1/auth/link/email/authenticate", map[string]any{"code": loc.Query().Get("code")}, http.StatusOK)
}

// TestUndeliveredMessageSurvivesRestart answers a send while the mail server
// is unreachable, stops the process, and starts another on the same database
// with a working mail server: the message arrives and its code works.
func TestUndeliveredMessageSurvivesRestart(t *testing.T) {
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close() // nothing listens there: connections are refused

	te := newTestEnv(t)
	te.vars["LATCHKEY_EMAIL_PROVIDER"] = "smtp"
	te.vars["LATCHKEY_SMTP_URL"] = "smtp://" + deadAddr + "?starttls=off"
	te.vars["LATCHKEY_EMAIL_FROM"] = "login@latchkey.example"
	creds := te.createApp("--name", "Restart")
	first := &testEnv{t: t, vars: te.vars, stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	base, stop := first.start("serve")
	t.Cleanup(stop)
	cc := clientcredentials.Config{ClientID: creds.ClientID, ClientSecret: creds.ClientSecret, TokenURL: base + "/oidc/token"}
	a := api{t: t, base: base, http: cc.Client(context.Background())}
	a.mustPost("/cis/v1/users", map[string]any{"email": "later@example.com"}, http.StatusCreated)
	a.mustPost("/cis/v1/auth/otp/send", map[string]any{"channel": "email", "identifier": "later@example.com", "identifier_type": "email"}, http.StatusOK)
	// Wait until the first delivery attempt has failed, then stop.
	failedOnce := false
	for range 400 {
		_, out, _ := te.runCmd("messages", "list", "--json")
		if strings.Contains(out, `"attempts": 1`) && strings.Contains(out, `"status": "queued"`) {
			failedOnce = true
			break
		}
		sleepShort()
	}
	if !failedOnce {
		t.Fatalf("the first delivery attempt was not recorded as failed and queued again: %s", first.stderr.String())
	}
	stop()

	smtpd := smtptest.Start(t)
	te.vars["LATCHKEY_SMTP_URL"] = "smtp://" + smtpd.Addr + "?starttls=off"
	base = te.serve("serve")
	msgs := smtpd.Wait(t, 1, 30*time.Second)
	text, _, _ := mimeParts(t, msgs[0].Data)
	code := regexp.MustCompile(`\b\d{6}\b`).FindString(text)
	cc.TokenURL = base + "/oidc/token"
	a = api{t: t, base: base, http: cc.Client(context.Background())}
	a.mustPost("/cis/v1/auth/otp/authenticate", map[string]any{"passcode": code, "identifier": "later@example.com", "identifier_type": "email"}, http.StatusOK)
	// The worker records "sent" after the mail server has the message, so
	// a busy machine may show it queued for a while yet: wait for it.
	var out string
	for deadline := time.Now().Add(30 * time.Second); ; sleepShort() {
		_, out, _ = te.runCmd("messages", "list", "--json")
		var list []map[string]any
		if json.Unmarshal([]byte(out), &list) == nil && len(list) == 1 && list[0]["status"] == "sent" {
			if list[0]["attempts"] != float64(2) {
				t.Fatalf("outbox after the restart: %s; want the message sent on the second attempt", out)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox after the restart: %s; want the message recorded as sent", out)
		}
	}
}

// TestTwilioCompatibleEndpoint sends an SMS passcode through a local
// endpoint that speaks Twilio's Messages API, and logs in with it.
func TestTwilioCompatibleEndpoint(t *testing.T) {
	var (
		mu     sync.Mutex
		bodies []url.Values
	)
	sid := "AC" + strings.Repeat("0", 32)
	twilio := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if r.URL.Path != "/2010-04-01/Accounts/"+sid+"/Messages.json" || !ok || user != sid || pass != "token" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_ = r.ParseForm()
		mu.Lock()
		bodies = append(bodies, r.PostForm)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"sid":"SM`+strings.Repeat("1", 32)+`","status":"queued"}`)
	}))
	defer twilio.Close()
	te := newTestEnv(t)
	te.vars["LATCHKEY_SMS_PROVIDER"] = "twilio"
	te.vars["LATCHKEY_TWILIO_ACCOUNT_SID"] = sid
	te.vars["LATCHKEY_TWILIO_AUTH_TOKEN"] = "token"
	te.vars["LATCHKEY_TWILIO_FROM"] = "+14155550000"
	te.vars["LATCHKEY_TWILIO_API_URL"] = twilio.URL
	_, a := serverWithApp(t, te)
	a.mustPost("/cis/v1/users", map[string]any{"phone_number": "+14155550123"}, http.StatusCreated)
	a.mustPost("/cis/v1/auth/otp/send", map[string]any{"channel": "sms", "identifier": "+14155550123", "identifier_type": "phone_number"}, http.StatusOK)
	var sms url.Values
	for range 400 {
		mu.Lock()
		if len(bodies) > 0 {
			sms = bodies[0]
		}
		mu.Unlock()
		if sms != nil {
			break
		}
		sleepShort()
	}
	if sms == nil || sms.Get("To") != "+14155550123" || sms.Get("From") != "+14155550000" || !strings.Contains(sms.Get("Body"), "Mailer") {
		t.Fatalf("Twilio received %v", sms)
	}
	code := regexp.MustCompile(`\b\d{6}\b`).FindString(sms.Get("Body"))
	a.mustPost("/cis/v1/auth/otp/authenticate", map[string]any{"passcode": code, "identifier": "+14155550123", "identifier_type": "phone_number"}, http.StatusOK)
}

// TestProviderMisconfigurationStopsStartUp checks that a bad provider
// setting is found at start-up, naming the variable, not at the first send.
func TestProviderMisconfigurationStopsStartUp(t *testing.T) {
	te := newTestEnv(t)
	te.vars["LATCHKEY_EMAIL_PROVIDER"] = "smtp"
	te.vars["LATCHKEY_SMTP_URL"] = "smtp://user:hunter2@mail.example:25?starttls=off"
	te.vars["LATCHKEY_EMAIL_FROM"] = "login@latchkey.example"
	code, _, errOut := te.runCmd("serve")
	if code == exitOK || !strings.Contains(errOut, "LATCHKEY_SMTP_URL") || strings.Contains(errOut, "hunter2") {
		t.Fatalf("exit %d, stderr %q; want a refusal naming LATCHKEY_SMTP_URL without the password", code, errOut)
	}
}

// TestServeWarnsOfChannelsWithoutAProvider checks that a server started
// without providers says so at start-up, naming each variable, and that a
// send then names the variable too instead of blaming the application.
func TestServeWarnsOfChannelsWithoutAProvider(t *testing.T) {
	te := newTestEnv(t)
	_, a := serverWithApp(t, te)
	logs := te.stderr.String()
	for _, variable := range []string{"LATCHKEY_EMAIL_PROVIDER", "LATCHKEY_SMS_PROVIDER"} {
		if !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, variable) {
			t.Errorf("start-up log does not warn about %s:\n%s", variable, logs)
		}
	}
	a.mustPost("/cis/v1/users", map[string]any{"email": "nowhere@example.com"}, http.StatusCreated)
	_, out := a.post("/cis/v1/auth/otp/send", map[string]any{"channel": "email", "identifier": "nowhere@example.com", "identifier_type": "email"})
	if out["error_code"] != "external_provider_configuration_error" || !strings.Contains(out["message"].(string), "LATCHKEY_EMAIL_PROVIDER") {
		t.Fatalf("send without a provider: %v; want external_provider_configuration_error naming LATCHKEY_EMAIL_PROVIDER", out)
	}

	// With a provider for each channel, no warning.
	te2 := newTestEnv(t)
	te2.vars["LATCHKEY_EMAIL_PROVIDER"], te2.vars["LATCHKEY_SMS_PROVIDER"] = "webhook", "webhook"
	te2.vars["LATCHKEY_WEBHOOK_URL"], te2.vars["LATCHKEY_WEBHOOK_SECRET"] = "http://127.0.0.1:9/hook", strings.Repeat("w", 32)
	te2.serve("serve")
	if logs := te2.stderr.String(); strings.Contains(logs, "_PROVIDER") {
		t.Errorf("a server with both providers warns:\n%s", logs)
	}
}

// TestSMTPSessionReusedAndEndedAtShutdown sends two passcodes through one
// SMTP connection, which the server ends with QUIT when it stops.
func TestSMTPSessionReusedAndEndedAtShutdown(t *testing.T) {
	smtpd := smtptest.Start(t)
	proxy := startConnCounter(t, smtpd.Addr)
	te := newTestEnv(t)
	te.vars["LATCHKEY_EMAIL_PROVIDER"] = "smtp"
	te.vars["LATCHKEY_SMTP_URL"] = "smtp://" + proxy.addr + "?starttls=off"
	te.vars["LATCHKEY_EMAIL_FROM"] = "Latchkey <login@latchkey.example>"
	// One session at most: the second send must wait for the first's
	// session, however soon after the first message reached the mail
	// server it comes (with more, the pool may dial while the first
	// session is still resetting).
	te.vars["LATCHKEY_SMTP_MAX_CONNECTIONS"] = "1"
	creds := te.createApp("--name", "Mailer", "--redirect-uri", "http://localhost:8080/complete")
	te.noResendCooldown(creds.AppID)
	base, stop := te.start("serve")
	cc := clientcredentials.Config{ClientID: creds.ClientID, ClientSecret: creds.ClientSecret, TokenURL: base + "/oidc/token"}
	a := api{t: t, base: base, http: cc.Client(context.Background())}
	for i, email := range []string{"one@example.com", "two@example.com"} {
		a.mustPost("/cis/v1/users", map[string]any{"email": email}, http.StatusCreated)
		a.mustPost("/cis/v1/auth/otp/send", map[string]any{"channel": "email", "identifier": email, "identifier_type": "email"}, http.StatusOK)
		smtpd.Wait(t, i+1, 15*time.Second)
	}
	if n := proxy.accepted(); n != 1 {
		t.Errorf("the mail server saw %d connections for 2 messages, want 1", n)
	}
	stop()
	// Shutdown waits for the mail server's answer to QUIT, which the
	// proxy saw go by first.
	if !proxy.saidQUIT() {
		t.Error("the server stopped without ending its SMTP session with QUIT")
	}
	select {
	case <-proxy.clientDone:
	case <-time.After(30 * time.Second):
		t.Fatal("the SMTP connection was still open after the server stopped")
	}
}

// connCounter is a TCP proxy that counts the connections made through it
// and keeps what clients send.
type connCounter struct {
	addr       string
	clientDone chan struct{} // one token per client that hung up
	mu         sync.Mutex
	n          int
	sent       strings.Builder
}

func startConnCounter(t *testing.T, target string) *connCounter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	p := &connCounter{addr: ln.Addr().String(), clientDone: make(chan struct{}, 100)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			p.n++
			p.mu.Unlock()
			go p.relay(c, target)
		}
	}()
	return p
}

// relay copies both ways between a client and the target until the client
// hangs up.
func (p *connCounter) relay(c net.Conn, target string) {
	defer c.Close()
	up, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer up.Close()
	go func() { _, _ = io.Copy(c, up) }()
	_, _ = io.Copy(io.MultiWriter(p, up), c) // p first: kept before the server can answer
	p.clientDone <- struct{}{}
}

// Write keeps what a client sent.
func (p *connCounter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sent.Write(b)
}

func (p *connCounter) accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

func (p *connCounter) saidQUIT() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Contains(p.sent.String(), "QUIT\r\n")
}
