package sendgrid_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/delivery"
	"github.com/latchkeyhq/latchkey/sendgrid"
)

const apiKey = "SG.test_key_id.very-secret-key-material"

// fakeSendGrid is a local stand-in for the Mail Send API: it checks each
// request as SendGrid would and answers with reply.
type fakeSendGrid struct {
	t     *testing.T
	reply func(w http.ResponseWriter)

	mu       sync.Mutex
	requests []map[string]any // decoded bodies of the requests it received
}

func (f *fakeSendGrid) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		f.t.Errorf("read body: %v", err)
	}
	if r.Method != http.MethodPost {
		f.t.Errorf("method %s, want POST", r.Method)
	}
	if r.URL.Path != "/v3/mail/send" {
		f.t.Errorf("path %s, want /v3/mail/send", r.URL.Path)
	}
	if r.Header.Get("Authorization") != "Bearer "+apiKey {
		f.t.Errorf("Authorization %q, want Bearer <key>", r.Header.Get("Authorization"))
	}
	if r.Header.Get("Content-Type") != "application/json" {
		f.t.Errorf("Content-Type %q, want application/json", r.Header.Get("Content-Type"))
	}
	var decoded map[string]any
	if err := json.Unmarshal(body, &decoded); err != nil {
		f.t.Errorf("body is not JSON: %v: %s", err, body)
	}
	f.mu.Lock()
	f.requests = append(f.requests, decoded)
	f.mu.Unlock()
	f.reply(w)
}

func (f *fakeSendGrid) bodies() []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]map[string]any(nil), f.requests...)
}

// start serves the fake on loopback and returns a Sender pointed at it.
func start(t *testing.T, reply func(w http.ResponseWriter)) (*fakeSendGrid, *sendgrid.Sender) {
	t.Helper()
	f := &fakeSendGrid{t: t, reply: reply}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	s, err := sendgrid.New(sendgrid.Config{APIKey: apiKey, APIURL: srv.URL + "/", From: "Latchkey <login@latchkey.test>",
		HTTPClient: srv.Client()})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return f, s
}

func accepted(w http.ResponseWriter) {
	w.Header().Set("X-Message-Id", "abcdefghijklmnop")
	w.WriteHeader(http.StatusAccepted) // SendGrid's success has an empty body
}

func jsonReply(status int, body string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

func message() latchkey.Message {
	return latchkey.Message{
		ID:        "msg_1",
		AppID:     "app_1",
		Channel:   latchkey.ChannelEmail,
		To:        "alice@example.com",
		Subject:   "Your Acme code is 123456 — ✓",
		Text:      "Your code is 123456.",
		HTML:      "<p>Your code is <b>123456</b> &amp; it expires soon.</p>",
		From:      "Acme",
		CreatedAt: time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC),
	}
}

func TestName(t *testing.T) {
	_, s := start(t, accepted)
	if s.Name() != "sendgrid" {
		t.Errorf("Name() = %q", s.Name())
	}
}

func TestSendRequest(t *testing.T) {
	f, s := start(t, accepted)
	m := message()
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	want := map[string]any{
		"personalizations": []any{map[string]any{"to": []any{map[string]any{"email": m.To}}}},
		"from":             map[string]any{"email": "login@latchkey.test", "name": "Acme"},
		"subject":          m.Subject,
		"content": []any{
			map[string]any{"type": "text/plain", "value": m.Text},
			map[string]any{"type": "text/html", "value": m.HTML},
		},
	}
	got := f.bodies()
	if len(got) != 1 {
		t.Fatalf("%d requests, want 1", len(got))
	}
	if !reflect.DeepEqual(got[0], want) {
		gotJSON, _ := json.MarshalIndent(got[0], "", "  ")
		wantJSON, _ := json.MarshalIndent(want, "", "  ")
		t.Errorf("body:\n%s\nwant:\n%s", gotJSON, wantJSON)
	}
}

func TestSendUsesConfiguredNameWhenMessageHasNone(t *testing.T) {
	f, s := start(t, accepted)
	m := message()
	m.From = ""
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	from := f.bodies()[0]["from"]
	if want := map[string]any{"email": "login@latchkey.test", "name": "Latchkey"}; !reflect.DeepEqual(from, want) {
		t.Errorf("from = %v, want %v", from, want)
	}
}

func TestSendClassifiesAnswers(t *testing.T) {
	tests := []struct {
		name      string
		reply     func(http.ResponseWriter)
		permanent bool
		want      []string // fragments of the error
	}{
		{"400 bad request", jsonReply(400, `{"errors":[{"message":"The from address does not match a verified Sender Identity.","field":"from","help":null},{"message":"Invalid type. Expected: string","field":"subject","help":"http://sendgrid.com/docs"}]}`),
			true, []string{"400", "The from address does not match a verified Sender Identity. (field from)", "Invalid type. Expected: string (field subject)"}},
		{"401 bad key", jsonReply(401, `{"errors":[{"field":null,"message":"The provided authorization grant is invalid, expired, or revoked","help":null}]}`),
			true, []string{"401", "The provided authorization grant is invalid, expired, or revoked"}},
		{"403 forbidden", jsonReply(403, `{"errors":[{"field":null,"message":"access forbidden","help":null}]}`),
			true, []string{"403", "access forbidden"}},
		{"413 too large", jsonReply(413, `{"errors":[{"field":null,"message":"payload too large","help":null}]}`),
			true, []string{"413", "payload too large"}},
		{"404 wrong URL", jsonReply(404, `{"errors":[{"field":null,"message":"not found","help":null}]}`),
			true, []string{"404", "not found"}},
		{"408 timeout", jsonReply(408, ``), false, []string{"408"}},
		{"429 rate limit", jsonReply(429, `{"errors":[{"field":null,"message":"too many requests","help":null}]}`),
			false, []string{"429", "too many requests"}},
		{"500", jsonReply(500, `{"errors":[{"field":null,"message":"internal error","help":null}]}`),
			false, []string{"500", "internal error"}},
		{"502 from a proxy", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(502)
			_, _ = io.WriteString(w, "<html>\n<body>  Bad   gateway </body></html>")
		}, false, []string{"502", "<html> <body> Bad gateway </body></html>"}},
		{"200 is not SendGrid's success", jsonReply(200, `{}`), false, []string{"200"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, s := start(t, tt.reply)
			err := s.Send(context.Background(), message())
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
			if strings.Contains(err.Error(), apiKey) {
				t.Errorf("error contains the API key: %v", err)
			}
		})
	}
}

func TestSendScrubsKeyQuotedByServer(t *testing.T) {
	_, s := start(t, jsonReply(401, `{"errors":[{"field":null,"message":"key Bearer `+apiKey+` is revoked","help":null}]}`))
	err := s.Send(context.Background(), message())
	if err == nil || strings.Contains(err.Error(), apiKey) {
		t.Fatalf("Send = %v, want an error without the key", err)
	}
	if !strings.Contains(err.Error(), "key Bearer [redacted] is revoked") {
		t.Errorf("error %q lost the rest of the message", err)
	}
}

func TestSendNetworkErrorIsTemporary(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	s, err := sendgrid.New(sendgrid.Config{APIKey: apiKey, APIURL: url, From: "login@latchkey.test"})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(context.Background(), message())
	if err == nil || delivery.IsPermanent(err) {
		t.Fatalf("Send = %v, want a temporary error", err)
	}
	if strings.Contains(err.Error(), apiKey) {
		t.Errorf("error contains the API key: %v", err)
	}
}

func TestSendHonoursContext(t *testing.T) {
	_, s := start(t, func(w http.ResponseWriter) { t.Error("a cancelled Send reached the server") })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Send(ctx, message())
	if !errors.Is(err, context.Canceled) || delivery.IsPermanent(err) {
		t.Fatalf("Send = %v, want a temporary context.Canceled", err)
	}
}

func TestSendRejectsSMS(t *testing.T) {
	_, s := start(t, func(w http.ResponseWriter) { t.Error("an SMS reached SendGrid") })
	m := message()
	m.Channel, m.To = latchkey.ChannelSMS, "+15555550100"
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
		return &http.Response{StatusCode: http.StatusAccepted, Body: io.NopCloser(bytes.NewReader(nil)), Header: http.Header{}}, nil
	})}
	s, err := sendgrid.New(sendgrid.Config{APIKey: apiKey, From: "login@latchkey.test", HTTPClient: client})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), message()); err != nil {
		t.Fatal(err)
	}
	if got != "https://api.sendgrid.com/v3/mail/send" {
		t.Errorf("URL %q, want https://api.sendgrid.com/v3/mail/send", got)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	good := sendgrid.Config{APIKey: apiKey, From: "Latchkey <login@latchkey.test>"}
	tests := []struct {
		name string
		edit func(*sendgrid.Config)
		want string
	}{
		{"no key", func(c *sendgrid.Config) { c.APIKey = "" }, "API key is empty"},
		{"key with newline", func(c *sendgrid.Config) { c.APIKey = apiKey + "\n" }, "trailing newline"},
		{"no sender", func(c *sendgrid.Config) { c.From = "" }, "sender is empty"},
		{"bad sender", func(c *sendgrid.Config) { c.From = "Latchkey" }, "sender"},
		{"bad scheme", func(c *sendgrid.Config) { c.APIURL = "ftp://api.sendgrid.com" }, "http(s)"},
		{"no host", func(c *sendgrid.Config) { c.APIURL = "https://" }, "http(s)"},
		{"query", func(c *sendgrid.Config) { c.APIURL = "https://api.sendgrid.com/?x=1" }, "query"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.edit(&cfg)
			_, err := sendgrid.New(cfg)
			if err == nil {
				t.Fatal("New accepted it")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
			if strings.Contains(err.Error(), apiKey) {
				t.Errorf("error contains the API key: %v", err)
			}
		})
	}
}
