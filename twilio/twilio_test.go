package twilio_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/delivery"
	"github.com/latchkeyhq/latchkey/twilio"
)

const (
	accountSID = "AC0123456789abcdef0123456789abcdef"
	authToken  = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
	number     = "+15005550006"
	serviceSID = "MG0123456789abcdef0123456789abcdef"
)

// created is Twilio's answer to a queued message (abridged from the API
// reference).
const created = `{"account_sid":"` + accountSID + `","api_version":"2010-04-01","body":"Your code is 123456","date_created":"Thu, 24 Aug 2023 05:01:45 +0000","direction":"outbound-api","error_code":null,"error_message":null,"from":"+15005550006","messaging_service_sid":null,"num_segments":"0","price":null,"sid":"SM1234567890abcdef1234567890abcdef","status":"queued","to":"+15558675310","uri":"/2010-04-01/Accounts/` + accountSID + `/Messages/SM1234567890abcdef1234567890abcdef.json"}`

// fakeTwilio is a local stand-in for the Messages resource: it checks each
// request as Twilio would and answers with reply.
type fakeTwilio struct {
	t     *testing.T
	reply func(w http.ResponseWriter)

	mu    sync.Mutex
	forms []url.Values // the parameters of each request
}

func (f *fakeTwilio) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		f.t.Errorf("method %s, want POST", r.Method)
	}
	if want := "/2010-04-01/Accounts/" + accountSID + "/Messages.json"; r.URL.Path != want {
		f.t.Errorf("path %s, want %s", r.URL.Path, want)
	}
	if user, pass, ok := r.BasicAuth(); !ok || user != accountSID || pass != authToken {
		f.t.Errorf("basic auth %q:%q (%v), want the account SID and auth token", user, pass, ok)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		f.t.Errorf("Content-Type %q, want application/x-www-form-urlencoded", ct)
	}
	if r.URL.RawQuery != "" {
		f.t.Errorf("query %q: parameters belong in the body", r.URL.RawQuery)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		f.t.Errorf("read body: %v", err)
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		f.t.Errorf("body is not a form: %v", err)
	}
	f.mu.Lock()
	f.forms = append(f.forms, form)
	f.mu.Unlock()
	f.reply(w)
}

func (f *fakeTwilio) requests() []url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]url.Values(nil), f.forms...)
}

func reply(status int, body string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

// start serves the fake on loopback and returns a Sender from from,
// pointed at it.
func start(t *testing.T, from string, answer func(w http.ResponseWriter)) (*fakeTwilio, *twilio.Sender) {
	t.Helper()
	f := &fakeTwilio{t: t, reply: answer}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	s, err := twilio.New(twilio.Config{AccountSID: accountSID, AuthToken: authToken, From: from,
		APIURL: srv.URL, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return f, s
}

func sms() latchkey.Message {
	return latchkey.Message{
		ID:        "msg_1",
		AppID:     "app_1",
		Channel:   latchkey.ChannelSMS,
		To:        "+15558675310",
		Text:      "Your Acme code is 123456 & expires in 10 min. @acme.example #123456",
		CreatedAt: time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC),
	}
}

func sendOne(t *testing.T, from string, m latchkey.Message) url.Values {
	t.Helper()
	f, s := start(t, from, reply(201, created))
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	forms := f.requests()
	if len(forms) != 1 {
		t.Fatalf("%d requests, want 1", len(forms))
	}
	return forms[0]
}

func TestName(t *testing.T) {
	_, s := start(t, number, reply(201, created))
	if s.Name() != "twilio" {
		t.Errorf("Name() = %q", s.Name())
	}
}

func TestSendFromNumber(t *testing.T) {
	m := sms()
	got := sendOne(t, number, m)
	want := url.Values{"To": {m.To}, "Body": {m.Text}, "From": {number}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("form %v, want %v", got, want)
	}
}

func TestSendFromMessagingService(t *testing.T) {
	m := sms()
	got := sendOne(t, serviceSID, m)
	want := url.Values{"To": {m.To}, "Body": {m.Text}, "MessagingServiceSid": {serviceSID}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("form %v, want %v", got, want)
	}
}

func TestSendAlphanumericSenderID(t *testing.T) {
	m := sms()
	m.From = "Acme Login"
	got := sendOne(t, number, m)
	want := url.Values{"To": {m.To}, "Body": {m.Text}, "From": {"Acme Login"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("form %v, want %v", got, want)
	}
}

func TestSendMessagingServiceKeepsItsOwnSender(t *testing.T) {
	m := sms()
	m.From = "Acme"
	got := sendOne(t, serviceSID, m)
	want := url.Values{"To": {m.To}, "Body": {m.Text}, "MessagingServiceSid": {serviceSID}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("form %v, want %v", got, want)
	}
}

func TestSendClassifiesAnswers(t *testing.T) {
	twilioError := func(status, code int, msg string) func(http.ResponseWriter) {
		return reply(status, `{"code":`+strconv.Itoa(code)+`,"message":"`+msg+`","more_info":"https://www.twilio.com/docs/errors/`+strconv.Itoa(code)+`","status":`+strconv.Itoa(status)+`}`)
	}
	tests := []struct {
		name      string
		answer    func(http.ResponseWriter)
		permanent bool
		want      []string
	}{
		{"21211 invalid To", twilioError(400, 21211, "The 'To' number +1555 is not a valid phone number."), true,
			[]string{"400", "error 21211: The 'To' number +1555 is not a valid phone number.", "https://www.twilio.com/docs/errors/21211"}},
		{"21614 not mobile", twilioError(400, 21614, "'To' number is not a valid mobile number"), true, []string{"21614", "not a valid mobile number"}},
		{"21610 unsubscribed", twilioError(400, 21610, "Attempt to send to unsubscribed recipient"), true, []string{"21610", "unsubscribed"}},
		{"21408 region", twilioError(400, 21408, "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: +8613800000000."), true, []string{"21408"}},
		{"20003 bad credentials", twilioError(401, 20003, "Authenticate"), true, []string{"401", "20003", "Authenticate"}},
		{"20404 wrong account", twilioError(404, 20404, "The requested resource was not found"), true, []string{"404", "20404"}},
		{"20429 too many requests", twilioError(429, 20429, "Too Many Requests"), false, []string{"429", "20429"}},
		{"503", twilioError(503, 20500, "Service Unavailable"), false, []string{"503", "Service Unavailable"}},
		{"502 from a proxy", func(w http.ResponseWriter) {
			w.WriteHeader(502)
			_, _ = io.WriteString(w, "<html><body>Bad Gateway</body></html>")
		}, false, []string{"502", "<html><body>Bad Gateway</body></html>"}},
		{"201 without sid", reply(201, `{"status":"queued"}`), false, []string{"201", "without a message sid"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, s := start(t, number, tt.answer)
			err := s.Send(context.Background(), sms())
			if err == nil {
				t.Fatal("Send succeeded")
			}
			if got := delivery.IsPermanent(err); got != tt.permanent {
				t.Errorf("IsPermanent = %v, want %v: %v", got, tt.permanent, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), authToken) {
				t.Errorf("error contains the auth token: %v", err)
			}
		})
	}
}

func TestSendScrubsTokenQuotedByServer(t *testing.T) {
	_, s := start(t, number, reply(401, `{"code":20003,"message":"token `+authToken+` rejected","more_info":"","status":401}`))
	err := s.Send(context.Background(), sms())
	if err == nil || strings.Contains(err.Error(), authToken) {
		t.Fatalf("Send = %v, want an error without the token", err)
	}
	if !strings.Contains(err.Error(), "token [redacted] rejected") {
		t.Errorf("error %q lost the rest of the message", err)
	}
}

func TestSendNetworkErrorIsTemporary(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close()
	s, err := twilio.New(twilio.Config{AccountSID: accountSID, AuthToken: authToken, From: number, APIURL: base})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(context.Background(), sms())
	if err == nil || delivery.IsPermanent(err) {
		t.Fatalf("Send = %v, want a temporary error", err)
	}
	if strings.Contains(err.Error(), authToken) {
		t.Errorf("error contains the auth token: %v", err)
	}
}

func TestSendHonoursContext(t *testing.T) {
	_, s := start(t, number, func(w http.ResponseWriter) { t.Error("a cancelled Send reached the server") })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Send(ctx, sms())
	if !errors.Is(err, context.Canceled) || delivery.IsPermanent(err) {
		t.Fatalf("Send = %v, want a temporary context.Canceled", err)
	}
}

func TestSendRejectsEmail(t *testing.T) {
	_, s := start(t, number, func(w http.ResponseWriter) { t.Error("an email reached Twilio") })
	m := sms()
	m.Channel, m.To = latchkey.ChannelEmail, "alice@example.com"
	if err := s.Send(context.Background(), m); !delivery.IsPermanent(err) {
		t.Fatalf("Send = %v, want a permanent error", err)
	}
}

// roundTripFunc lets a test see a request without any server.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestDefaultAPIURL(t *testing.T) {
	var got string
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		got = r.URL.String()
		return &http.Response{StatusCode: 201, Status: "201 Created", Header: http.Header{},
			Body: io.NopCloser(strings.NewReader(created))}, nil
	})}
	s, err := twilio.New(twilio.Config{AccountSID: accountSID, AuthToken: authToken, From: number, HTTPClient: client})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), sms()); err != nil {
		t.Fatal(err)
	}
	if want := "https://api.twilio.com/2010-04-01/Accounts/" + accountSID + "/Messages.json"; got != want {
		t.Errorf("URL %q, want %q", got, want)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	good := twilio.Config{AccountSID: accountSID, AuthToken: authToken, From: number}
	tests := []struct {
		name string
		edit func(*twilio.Config)
		want string
	}{
		{"no SID", func(c *twilio.Config) { c.AccountSID = "" }, "account SID"},
		{"SID of another kind", func(c *twilio.Config) { c.AccountSID = "SK0123456789abcdef0123456789abcdef" }, "account SID"},
		{"short SID", func(c *twilio.Config) { c.AccountSID = "AC0123" }, "account SID"},
		{"no token", func(c *twilio.Config) { c.AuthToken = "" }, "auth token is empty"},
		{"token with newline", func(c *twilio.Config) { c.AuthToken = authToken + "\n" }, "trailing newline"},
		{"no sender", func(c *twilio.Config) { c.From = "" }, "sender"},
		{"number without +", func(c *twilio.Config) { c.From = "15005550006" }, "E.164"},
		{"number with spaces", func(c *twilio.Config) { c.From = "+1 500 555 0006" }, "E.164"},
		{"number too long", func(c *twilio.Config) { c.From = "+1234567890123456" }, "E.164"},
		{"short service SID", func(c *twilio.Config) { c.From = "MG123" }, "Messaging Service"},
		{"bad API URL", func(c *twilio.Config) { c.APIURL = "api.twilio.com" }, "http(s)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.edit(&cfg)
			_, err := twilio.New(cfg)
			if err == nil {
				t.Fatal("New accepted it")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
			if strings.Contains(err.Error(), authToken) {
				t.Errorf("error contains the auth token: %v", err)
			}
		})
	}
}
