package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/delivery"
	"github.com/latchkeyhq/latchkey/webhook"
)

// webhookEndpoint is the operator's webhook receiver: it keeps the text of
// every message posted to it and, while down, answers 503 (which Latchkey
// retries).
type webhookEndpoint struct {
	mu    sync.Mutex
	down  bool
	texts []string
}

func (w *webhookEndpoint) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	var p struct{ Text string }
	body, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(body, &p)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.texts = append(w.texts, p.Text)
	if w.down {
		http.Error(rw, "down for maintenance", http.StatusServiceUnavailable)
	}
}

func (w *webhookEndpoint) setDown(down bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.down = down
}

// received returns every message text posted so far.
func (w *webhookEndpoint) received() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.texts, "\n")
}

// databaseBytes returns what a copy of the database would hold: on SQLite
// every byte of the database file, its WAL and its shared-memory index (as
// `strings` would read them); on PostgreSQL every value of every table.
func (h *harness) databaseBytes() []byte {
	h.t.Helper()
	if postgresURL() != "" {
		return []byte(h.dumpTables())
	}
	var all []byte
	for _, suffix := range []string{"", "-wal", "-shm"} {
		raw, err := os.ReadFile(h.path + suffix)
		if err != nil && !os.IsNotExist(err) {
			h.t.Fatal(err)
		}
		all = append(all, raw...)
	}
	return all
}

// wantNotAtRest fails if the database holds any of secrets.
func (h *harness) wantNotAtRest(when string, secrets ...string) {
	h.t.Helper()
	db := h.databaseBytes()
	for _, s := range secrets {
		if bytes.Contains(db, []byte(s)) {
			h.t.Fatalf("%s the database holds %q", when, s)
		}
	}
}

// TestNoCodeOrLinkAtRest sends an email passcode, an SMS passcode and a
// magic link while the provider is down, so that the messages wait in the
// outbox and are retried, then delivers them: neither while they wait nor
// after does the database hold a code or a link.
func TestNoCodeOrLinkAtRest(t *testing.T) {
	endpoint := &webhookEndpoint{down: true}
	srv := httptest.NewServer(endpoint)
	t.Cleanup(srv.Close)
	var h *harness
	hook, err := webhook.New(webhook.Config{URL: srv.URL, Secret: strings.Repeat("w", 32), HTTPClient: srv.Client(),
		Now: func() time.Time { return h.clock.Now() }})
	if err != nil {
		t.Fatal(err)
	}
	h = newHarnessWith(t, harnessOptions{noDelivery: true,
		senders: map[latchkey.Channel][]delivery.Sender{latchkey.ChannelEmail: {hook}, latchkey.ChannelSMS: {hook}}})
	c := h.newClient("At rest", false).withoutSendLimits()
	// Eight digits: no timestamp or ID in the database holds them by chance.
	c.update(func(a *appT) { a.Policy.OTPLength = 8 })
	c.mustUser(map[string]any{"email": "rest@example.com", "phone_number": "+14155550177"})
	c.sendOTP(map[string]any{"channel": "email", "identifier": "rest@example.com", "identifier_type": "email"}).wantStatus(http.StatusOK)
	c.sendOTP(map[string]any{"channel": "sms", "identifier": "+14155550177", "identifier_type": "phone_number"}).wantStatus(http.StatusOK)
	c.sendLink(map[string]any{"identifier": "rest@example.com", "identifier_type": "email", "redirect_uri": redirect}).wantStatus(http.StatusOK)

	h.deliver() // the endpoint is down: every message is queued again
	sent := endpoint.received()
	codes := regexp.MustCompile(`\b\d{8}\b`).FindAllString(sent, -1)
	link := regexp.MustCompile(`/magic-link\?code=([A-Za-z0-9_-]+)`).FindStringSubmatch(sent)
	if len(codes) < 2 || link == nil {
		t.Fatalf("the endpoint got %q; want two passcodes and a link", sent)
	}
	secrets := append(codes, link[1], link[0])
	list, err := h.store.ListMessages(t.Context(), latchkey.MessageQueued, 10)
	if err != nil || len(list) != 3 || list[0].Attempts != 1 {
		t.Fatalf("outbox %+v, %v; want the 3 messages queued for a retry", list, err)
	}
	h.wantNotAtRest("while the messages wait for a retry,", secrets...)

	endpoint.setDown(false)
	h.clock.Advance(time.Minute)
	h.deliver()
	if sent, _ := h.store.ListMessages(t.Context(), latchkey.MessageSent, 10); len(sent) != 3 {
		t.Fatalf("%d messages sent after the outage; want 3", len(sent))
	}
	h.wantNotAtRest("after delivery,", secrets...)
	// The codes seen were the real ones.
	c.authLink(map[string]any{"code": link[1]}).wantStatus(http.StatusOK)
}
