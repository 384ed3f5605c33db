package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/metrics"
	"github.com/latchkeyhq/latchkey/ratelimit"
	"github.com/latchkeyhq/latchkey/storehook"
	"github.com/latchkeyhq/latchkey/tracing"
)

// BenchmarkOTPFlow measures one whole passcode login in process, through
// the real HTTP handler and store: a direct send, then the authentication
// that issues tokens. It runs on SQLite, or on PostgreSQL with
// LATCHKEY_TEST_STORE=postgres. The limits run on every flow without
// refusing any: the clock moves 10 ms a flow, so each user's next login
// comes 2.56 s (fake time) after the last, past a 1 s resend cooldown and
// far under the hourly and daily caps of 1000.
func BenchmarkOTPFlow(b *testing.B) { otpFlows(b, newHarness(b)) }

// otpFlows runs whole passcode logins against h until the benchmark ends.
func otpFlows(b *testing.B, h *harness) {
	c := h.newClient("Bench", false)
	c.update(func(a *appT) {
		a.Limits.ResendCooldown, a.Limits.SendsPerHour, a.Limits.SendsPerDay = time.Second, 1000, 1000
	})
	const users = 256
	ids := make([]string, users)
	for i := range ids {
		ids[i] = c.mustUser(map[string]any{"email": fmt.Sprintf("bench%d@example.com", i)})
	}
	i := 0
	for b.Loop() {
		id := ids[i%users]
		i++
		h.clock.Advance(10 * time.Millisecond)
		r := c.sendOTP(map[string]any{"channel": "direct", "identifier": id, "identifier_type": "user_id"}).wantStatus(http.StatusOK)
		c.authOTP(otpBody(id, "user_id", r.json()["code"].(string))).wantStatus(http.StatusOK)
	}
}

// BenchmarkRefusal measures what a request over the bound on requests in
// flight costs the server, through the real handler in process (the HTTP
// parsing aside): the cost of shedding load, which an overloaded server
// pays for every request it refuses.
func BenchmarkRefusal(b *testing.B) {
	h := newHarnessWith(b, harnessOptions{maxInFlight: 1})
	c := h.newClient("Bench", false)
	release := holdTheOnlySlot(b, h, c)
	defer release()
	handler := h.srv.Config.Handler
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/cis/v1/auth/otp/send", strings.NewReader(`{"channel":"direct"}`))
		req.Header.Set("Authorization", "Bearer "+c.token)
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusServiceUnavailable {
			b.Fatalf("status %d; want the request refused", rec.Code)
		}
	}
}

// BenchmarkOTPFlowObserved is BenchmarkOTPFlow with metrics and traces
// attached at every seam, as a server with LATCHKEY_METRICS_ADDR and an
// OTLP endpoint runs: every request, store call and outcome counted and
// timed, every request and store call a span, all sampled and exported in
// batches by OTLP over HTTP to a receiver that discards them. The
// difference from BenchmarkOTPFlow is what observing a login costs.
func BenchmarkOTPFlowObserved(b *testing.B) {
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer sink.Close()
	m := metrics.New(metrics.Config{Version: "bench", Now: time.Now, Log: slog.New(slog.DiscardHandler)})
	tr, err := tracing.Start(context.Background(), tracing.Config{Endpoint: sink.URL + "/v1/traces", ServiceName: "latchkey",
		Sampler: "always_on", Database: "sqlite"})
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Shutdown(context.Background())
	otpFlows(b, newHarnessWith(b, harnessOptions{telemetry: &telemetry{
		storeHooks: []storehook.Hook{tr.StoreHook(), m.StoreHook()},
		observer:   m, recorded: m.Recorded, sender: tr.Sender,
		refused:    func(app string, limit ratelimit.Limit) { m.RateLimited(app, string(limit)) },
		busy:       func(bound string) { m.RateLimited("", bound) },
		middleware: func(h http.Handler) http.Handler { return tr.Middleware(m.HTTP(h)) },
	}}))
}
