package webhook_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/delivery"
	"github.com/latchkeyhq/latchkey/webhook"
)

// The Standard Webhooks test vector, published with the specification's
// reference libraries.
const (
	vectorSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTimestamp = "1614265330"
	vectorBody      = `{"test": 2432232314}`
	vectorSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

const rawSecret = "a raw secret string of more than 32 bytes"

var (
	now     = time.Unix(1_741_064_767, 0) // the injected clock
	created = time.Date(2025, 3, 4, 5, 6, 7, 0, time.FixedZone("CET", 3600))
)

// received is one request the test receiver got.
type received struct {
	header http.Header
	body   []byte
}

// receiver is a local webhook endpoint that records requests and answers
// with reply.
type receiver struct {
	t     *testing.T
	reply func(w http.ResponseWriter)

	mu   sync.Mutex
	reqs []received
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		rc.t.Errorf("method %s, want POST", r.Method)
	}
	if r.URL.Path != "/hooks/latchkey" || r.URL.RawQuery != "token=abc" {
		rc.t.Errorf("URL %s, want /hooks/latchkey?token=abc", r.URL)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		rc.t.Errorf("Content-Type %q, want application/json", ct)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		rc.t.Errorf("read body: %v", err)
	}
	rc.mu.Lock()
	rc.reqs = append(rc.reqs, received{header: r.Header.Clone(), body: body})
	rc.mu.Unlock()
	rc.reply(w)
}

func (rc *receiver) only(t *testing.T) received {
	t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(rc.reqs))
	}
	return rc.reqs[0]
}

func status(code int, body string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
	}
}

// start runs a receiver on loopback and returns a Sender posting to it.
func start(t *testing.T, secret string, reply func(w http.ResponseWriter)) (*receiver, *webhook.Sender) {
	t.Helper()
	rc := &receiver{t: t, reply: reply}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	s, err := webhook.New(webhook.Config{URL: srv.URL + "/hooks/latchkey?token=abc", Secret: secret,
		HTTPClient: srv.Client(), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return rc, s
}

func email() latchkey.Message {
	return latchkey.Message{
		ID: "msg_1", AppID: "app_1", Channel: latchkey.ChannelEmail, To: "alice@example.com",
		Subject: "Your code is 123456", Text: "Your code is 123456.", HTML: "<p>Your code is <b>123456</b> & more</p>",
		From: "Acme", CreatedAt: created,
	}
}

func sms() latchkey.Message {
	return latchkey.Message{
		ID: "msg_2", AppID: "app_1", Channel: latchkey.ChannelSMS, To: "+15555550100",
		Text: "Your Acme code is 123456", CreatedAt: created,
	}
}

// independentSignature computes the signature from the specification,
// without the package's code.
func independentSignature(key []byte, id, ts string, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "." + string(body)))
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func vectorKey(t *testing.T) []byte {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(vectorSecret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func TestName(t *testing.T) {
	_, s := start(t, vectorSecret, status(204, ""))
	if s.Name() != "webhook" {
		t.Errorf("Name() = %q", s.Name())
	}
}

func TestSendEmail(t *testing.T) {
	rc, s := start(t, vectorSecret, status(204, ""))
	m := email()
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := rc.only(t)
	if id := got.header.Get("webhook-id"); id != m.ID {
		t.Errorf("webhook-id %q, want %q", id, m.ID)
	}
	ts := got.header.Get("webhook-timestamp")
	if ts != strconv.FormatInt(now.Unix(), 10) {
		t.Errorf("webhook-timestamp %q, want %d (the injected clock)", ts, now.Unix())
	}
	if sig, want := got.header.Get("webhook-signature"), independentSignature(vectorKey(t), m.ID, ts, got.body); sig != want {
		t.Errorf("webhook-signature %q, want %q", sig, want)
	}
	if err := webhook.Verify(vectorSecret, got.header, got.body, now, time.Minute); err != nil {
		t.Errorf("Verify: %v", err)
	}
	var body map[string]any
	if err := json.Unmarshal(got.body, &body); err != nil {
		t.Fatalf("body: %v", err)
	}
	want := map[string]any{
		"type": "message.send", "id": m.ID, "channel": "email", "to": m.To, "from": "Acme",
		"subject": m.Subject, "text": m.Text, "html": m.HTML, "app_id": m.AppID,
		"created_at": "2025-03-04T04:06:07Z",
	}
	if !reflect.DeepEqual(body, want) {
		t.Errorf("body %v\nwant %v", body, want)
	}
}

func TestSendSMSOmitsEmailFields(t *testing.T) {
	rc, s := start(t, rawSecret, status(200, "ok"))
	m := sms()
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := rc.only(t)
	var body map[string]any
	if err := json.Unmarshal(got.body, &body); err != nil {
		t.Fatalf("body: %v", err)
	}
	want := map[string]any{
		"type": "message.send", "id": m.ID, "channel": "sms", "to": m.To, "text": m.Text,
		"app_id": m.AppID, "created_at": "2025-03-04T04:06:07Z",
	}
	if !reflect.DeepEqual(body, want) {
		t.Errorf("body %v\nwant %v", body, want)
	}
	// A raw secret is the key as it is.
	ts := got.header.Get("webhook-timestamp")
	if sig, want := got.header.Get("webhook-signature"), independentSignature([]byte(rawSecret), m.ID, ts, got.body); sig != want {
		t.Errorf("webhook-signature %q, want %q", sig, want)
	}
	if err := webhook.Verify(rawSecret, got.header, got.body, now, 0); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

func TestSendSMSWithSenderID(t *testing.T) {
	rc, s := start(t, rawSecret, status(202, ""))
	m := sms()
	m.From = "Acme"
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	var body map[string]any
	if err := json.Unmarshal(rc.only(t).body, &body); err != nil {
		t.Fatal(err)
	}
	if body["from"] != "Acme" {
		t.Errorf("from = %v, want Acme", body["from"])
	}
}

func TestVerifyStandardWebhooksVector(t *testing.T) {
	h := http.Header{}
	h.Set("webhook-id", vectorID)
	h.Set("webhook-timestamp", vectorTimestamp)
	h.Set("webhook-signature", vectorSignature)
	at := time.Unix(1614265330, 0)
	if err := webhook.Verify(vectorSecret, h, []byte(vectorBody), at, time.Minute); err != nil {
		t.Fatalf("Verify rejected the published vector: %v", err)
	}
	if got := independentSignature(vectorKey(t), vectorID, vectorTimestamp, []byte(vectorBody)); got != vectorSignature {
		t.Fatalf("the test's own signing is off: %q", got)
	}
}

// signed returns the headers and body of a request the Sender made.
func signed(t *testing.T) (http.Header, []byte) {
	t.Helper()
	rc, s := start(t, vectorSecret, status(204, ""))
	if err := s.Send(context.Background(), email()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := rc.only(t)
	return got.header, got.body
}

func TestVerifyRejects(t *testing.T) {
	header, body := signed(t)
	tests := []struct {
		name   string
		secret string
		header func() http.Header
		body   []byte
		now    time.Time
		want   error
	}{
		{"tampered body", vectorSecret, header.Clone, bytes.Replace(body, []byte("123456"), []byte("654321"), 1), now, webhook.ErrBadSignature},
		{"other id", vectorSecret, func() http.Header { h := header.Clone(); h.Set("webhook-id", "msg_other"); return h }, body, now, webhook.ErrBadSignature},
		{"other timestamp", vectorSecret, func() http.Header {
			h := header.Clone()
			h.Set("webhook-timestamp", strconv.FormatInt(now.Unix()+1, 10))
			return h
		}, body, now, webhook.ErrBadSignature},
		{"wrong secret", rawSecret, header.Clone, body, now, webhook.ErrBadSignature},
		{"old timestamp", vectorSecret, header.Clone, body, now.Add(6 * time.Minute), webhook.ErrBadTimestamp},
		{"timestamp from the future", vectorSecret, header.Clone, body, now.Add(-6 * time.Minute), webhook.ErrBadTimestamp},
		{"malformed timestamp", vectorSecret, func() http.Header { h := header.Clone(); h.Set("webhook-timestamp", "soon"); return h }, body, now, webhook.ErrBadTimestamp},
		{"no signature", vectorSecret, func() http.Header { h := header.Clone(); h.Del("webhook-signature"); return h }, body, now, webhook.ErrMissingHeaders},
		{"no id", vectorSecret, func() http.Header { h := header.Clone(); h.Del("webhook-id"); return h }, body, now, webhook.ErrMissingHeaders},
		{"unknown scheme only", vectorSecret, func() http.Header {
			h := header.Clone()
			h.Set("webhook-signature", strings.Replace(h.Get("webhook-signature"), "v1,", "v1a,", 1))
			return h
		}, body, now, webhook.ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := webhook.Verify(tt.secret, tt.header(), tt.body, tt.now, 5*time.Minute)
			if !errors.Is(err, tt.want) {
				t.Errorf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestVerifyAccepts(t *testing.T) {
	header, body := signed(t)
	// Within tolerance either way.
	for _, at := range []time.Time{now.Add(5 * time.Minute), now.Add(-5 * time.Minute)} {
		if err := webhook.Verify(vectorSecret, header, body, at, 5*time.Minute); err != nil {
			t.Errorf("Verify at %v: %v", at, err)
		}
	}
	// Several signatures, as during a secret rotation: one match is enough.
	h := header.Clone()
	h.Set("webhook-signature", "v1,bm9wZQ== v1a,c29tZXRoaW5n "+header.Get("webhook-signature"))
	if err := webhook.Verify(vectorSecret, h, body, now, time.Minute); err != nil {
		t.Errorf("Verify with several signatures: %v", err)
	}
}

func TestSendClassifiesAnswers(t *testing.T) {
	tests := []struct {
		name      string
		reply     func(http.ResponseWriter)
		permanent bool
		want      string
	}{
		{"400", status(400, `{"error":"invalid number"}`), true, `400 Bad Request: {"error":"invalid number"}`},
		{"401", status(401, "bad signature"), true, "401"},
		{"404", status(404, ""), true, "404"},
		{"410", status(410, "gone"), true, "410"},
		{"422", status(422, "unprocessable"), true, "422"},
		{"408", status(408, ""), false, "408"},
		{"429", status(429, "slow down"), false, "429 Too Many Requests: slow down"},
		{"500", status(500, "boom"), false, "500"},
		{"503", status(503, ""), false, "503"},
		{"304", status(304, ""), false, "304"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, s := start(t, vectorSecret, tt.reply)
			err := s.Send(context.Background(), email())
			if err == nil {
				t.Fatal("Send succeeded")
			}
			if got := delivery.IsPermanent(err); got != tt.permanent {
				t.Errorf("IsPermanent = %v, want %v: %v", got, tt.permanent, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q lacks %q", err, tt.want)
			}
		})
	}
}

func TestSendNetworkErrorIsTemporaryAndHidesURLSecrets(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := strings.Replace(srv.URL, "http://", "http://user:url-password@", 1)
	srv.Close()
	s, err := webhook.New(webhook.Config{URL: base + "/hook?token=query-secret", Secret: vectorSecret,
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(context.Background(), email())
	if err == nil || delivery.IsPermanent(err) {
		t.Fatalf("Send = %v, want a temporary error", err)
	}
	for _, secret := range []string{"url-password", "query-secret", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q contains %q", err, secret)
		}
	}
	if !strings.Contains(err.Error(), "/hook") {
		t.Errorf("error %q should still name the URL", err)
	}
}

func TestSendHonoursContext(t *testing.T) {
	_, s := start(t, vectorSecret, func(w http.ResponseWriter) { t.Error("a cancelled Send reached the receiver") })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Send(ctx, email())
	if !errors.Is(err, context.Canceled) || delivery.IsPermanent(err) {
		t.Fatalf("Send = %v, want a temporary context.Canceled", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	clock := func() time.Time { return now }
	short := base64.StdEncoding.EncodeToString([]byte("sixteen byte key"))
	tests := []struct {
		name string
		cfg  webhook.Config
		want string
	}{
		{"no URL", webhook.Config{Secret: vectorSecret, Now: clock}, "URL"},
		{"bad scheme", webhook.Config{URL: "ftp://example.com/x", Secret: vectorSecret, Now: clock}, "URL"},
		{"no host", webhook.Config{URL: "https:///x", Secret: vectorSecret, Now: clock}, "URL"},
		{"no secret", webhook.Config{URL: "https://example.com/x", Now: clock}, "at least 32"},
		{"short raw secret", webhook.Config{URL: "https://example.com/x", Secret: "too-short-secret", Now: clock}, "at least 32"},
		{"bad base64", webhook.Config{URL: "https://example.com/x", Secret: "whsec_not*base64!", Now: clock}, "base64"},
		{"short whsec key", webhook.Config{URL: "https://example.com/x", Secret: "whsec_" + short, Now: clock}, "16 bytes"},
		{"no clock", webhook.Config{URL: "https://example.com/x", Secret: vectorSecret}, "Now"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := webhook.New(tt.cfg)
			if err == nil {
				t.Fatal("New accepted it")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
			if tt.cfg.Secret != "" && strings.Contains(err.Error(), strings.TrimPrefix(tt.cfg.Secret, "whsec_")) {
				t.Errorf("error %q contains the secret", err)
			}
		})
	}
}
