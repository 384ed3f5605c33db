package metrics_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/fake"
	"github.com/latchkeyhq/latchkey/login"
	"github.com/latchkeyhq/latchkey/metrics"
	dto "github.com/prometheus/client_model/go"
)

var t0 = time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)

// value returns the value of the counter, gauge or histogram count named
// name whose labels are exactly labels ("k=v" each), or -1 when there is
// none.
func value(t *testing.T, m *metrics.Metrics, name string, labels ...string) float64 {
	t.Helper()
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, s := range f.GetMetric() {
			if labelsOf(s) != strings.Join(labels, ",") {
				continue
			}
			switch {
			case s.Counter != nil:
				return s.Counter.GetValue()
			case s.Gauge != nil:
				return s.Gauge.GetValue()
			case s.Histogram != nil:
				return float64(s.Histogram.GetSampleCount())
			}
		}
	}
	return -1
}

func labelsOf(s *dto.Metric) string {
	var parts []string
	for _, l := range s.GetLabel() {
		parts = append(parts, l.GetName()+"="+l.GetValue())
	}
	return strings.Join(parts, ",")
}

func newMetrics(clock *fake.Clock) *metrics.Metrics {
	return metrics.New(metrics.Config{Version: "test", Now: clock.Now, Log: slog.New(slog.DiscardHandler)})
}

func TestHooksCountByTheirLabels(t *testing.T) {
	clock := fake.NewClock(t0)
	m := newMetrics(clock)
	app := latchkey.App{ID: "app1"}
	m.Sent(app, latchkey.KindOTP, latchkey.ChannelEmail, login.OutcomeSuccess)
	m.Sent(app, latchkey.KindOTP, "pigeon", login.OutcomeRejected)
	m.Sent(app, latchkey.KindLink, latchkey.ChannelEmail, login.OutcomeRateLimited)
	m.Authenticated(app, latchkey.KindOTP, latchkey.ChannelSMS, login.OutcomeSuccess)
	m.Authenticated(app, latchkey.KindLink, "", login.OutcomeInvalid)
	m.Recorded(latchkey.Message{Channel: latchkey.ChannelSMS, Status: latchkey.MessageQueued})
	m.Recorded(latchkey.Message{Channel: latchkey.ChannelSMS, Provider: "twilio", Status: latchkey.MessageSent,
		CreatedAt: t0, SentAt: t0.Add(3 * time.Second)})
	m.Recorded(latchkey.Message{Channel: latchkey.ChannelEmail, Status: latchkey.MessageFailed})
	m.RateLimited("app1", "resend_cooldown")
	m.RateLimited("", "max_in_flight")

	for _, c := range []struct {
		name   string
		labels []string
	}{
		{"latchkey_otp_sends_total", []string{"app=app1", "channel=email", "outcome=success"}},
		{"latchkey_otp_sends_total", []string{"app=app1", "channel=other", "outcome=rejected"}},
		{"latchkey_link_sends_total", []string{"app=app1", "channel=email", "outcome=rate_limited"}},
		{"latchkey_logins_total", []string{"app=app1", "channel=sms", "method=otp", "outcome=success"}},
		{"latchkey_logins_total", []string{"app=app1", "channel=none", "method=magic_link", "outcome=invalid"}},
		{"latchkey_message_retries_total", []string{"channel=sms"}},
		{"latchkey_messages_total", []string{"channel=sms", "provider=twilio", "status=sent"}},
		{"latchkey_messages_total", []string{"channel=email", "provider=none", "status=failed"}},
		{"latchkey_message_delivery_seconds", []string{"channel=sms", "provider=twilio"}},
		{"latchkey_rate_limited_total", []string{"app=app1", "limit=resend_cooldown"}},
		{"latchkey_rate_limited_total", []string{"app=", "limit=max_in_flight"}},
	} {
		if got := value(t, m, c.name, c.labels...); got != 1 {
			t.Errorf("%s{%s} = %v; want 1", c.name, strings.Join(c.labels, ","), got)
		}
	}
}

// TestHTTPNamesTheRouteByItsPattern serves requests through the
// middleware around a mux: each is counted under its route pattern,
// method and status, never its raw path.
func TestHTTPNamesTheRouteByItsPattern(t *testing.T) {
	clock := fake.NewClock(t0)
	m := newMetrics(clock)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{email}", func(w http.ResponseWriter, r *http.Request) {
		clock.Advance(30 * time.Millisecond)
		w.WriteHeader(http.StatusNotFound)
	})
	mux.HandleFunc("POST /send", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	h := m.HTTP(mux)
	for _, req := range []*http.Request{
		httptest.NewRequest(http.MethodGet, "/users/ada@example.com", nil),
		httptest.NewRequest(http.MethodPost, "/send", nil),
		httptest.NewRequest("BREW", "/coffee/ada@example.com", nil),
	} {
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"latchkey_http_requests_total", []string{"method=GET", "route=/users/{email}", "status=404"}, 1},
		{"latchkey_http_requests_total", []string{"method=POST", "route=/send", "status=200"}, 1},
		{"latchkey_http_requests_total", []string{"method=other", "route=unmatched", "status=404"}, 1},
		{"latchkey_http_request_duration_seconds", []string{"method=GET", "route=/users/{email}"}, 1},
		{"latchkey_http_requests_in_flight", nil, 0},
	} {
		if got := value(t, m, c.name, c.labels...); got != c.want {
			t.Errorf("%s{%s} = %v; want %v", c.name, strings.Join(c.labels, ","), got, c.want)
		}
	}
}

// TestHotPathDoesNotAllocate checks that counting a combination of labels
// already seen allocates nothing: the hooks run on every request.
func TestHotPathDoesNotAllocate(t *testing.T) {
	clock := fake.NewClock(t0)
	m := newMetrics(clock)
	app := latchkey.App{ID: "app1"}
	msg := latchkey.Message{Channel: latchkey.ChannelEmail, Provider: "smtp", Status: latchkey.MessageSent, CreatedAt: t0, SentAt: t0}
	hook := m.StoreHook()
	call := func(context.Context) error { return nil }
	mux := http.NewServeMux()
	mux.HandleFunc("POST /send", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	h := m.HTTP(mux)
	w, req := httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/send", nil)
	for name, fn := range map[string]func(){
		"Sent":          func() { m.Sent(app, latchkey.KindOTP, latchkey.ChannelEmail, login.OutcomeSuccess) },
		"Authenticated": func() { m.Authenticated(app, latchkey.KindOTP, latchkey.ChannelEmail, login.OutcomeInvalid) },
		"Recorded":      func() { m.Recorded(msg) },
		"RateLimited":   func() { m.RateLimited("app1", "resend_cooldown") },
		"StoreHook":     func() { _ = hook(context.Background(), "GetApp", call) },
		"HTTP":          func() { h.ServeHTTP(w, req) },
	} {
		fn() // the first time resolves the labels
		if n := testing.AllocsPerRun(100, fn); n > 0 {
			t.Errorf("%s allocates %v times per call once its labels are known; want none", name, n)
		}
	}
}

func TestStoreHookTimesEveryCallAndCountsUnavailable(t *testing.T) {
	clock := fake.NewClock(t0)
	m := newMetrics(clock)
	hook := m.StoreHook()
	slow := func(context.Context) error { clock.Advance(2 * time.Second); return nil }
	down := func(context.Context) error { return errors.Join(latchkey.ErrUnavailable, errors.New("no answer")) }
	missing := func(context.Context) error { return latchkey.ErrNotFound }
	_ = hook(context.Background(), "GetApp", slow)
	if err := hook(context.Background(), "GetApp", down); !errors.Is(err, latchkey.ErrUnavailable) {
		t.Fatalf("the hook returned %v; want the call's own error", err)
	}
	_ = hook(context.Background(), "GetUser", missing)
	if got := value(t, m, "latchkey_store_duration_seconds", "op=GetApp"); got != 2 {
		t.Errorf("GetApp timed %v times; want 2", got)
	}
	if got := value(t, m, "latchkey_store_unavailable_total", "op=GetApp"); got != 1 {
		t.Errorf("GetApp unavailable %v times; want 1", got)
	}
	if got := value(t, m, "latchkey_store_unavailable_total", "op=GetUser"); got != 0 {
		t.Errorf("a missing row counted as the database unavailable (%v); want 0", got)
	}
}

// TestBacklogIsReadAtMostOncePerTTL scrapes the outbox's backlog often:
// the database is asked once per BacklogTTL, the age grows with each
// scrape, and a failed reading leaves the gauges out until the next one.
func TestBacklogIsReadAtMostOncePerTTL(t *testing.T) {
	clock := fake.NewClock(t0)
	reads := 0
	var fail error
	m := newMetrics(clock)
	m.Watch(func(context.Context) (latchkey.OutboxBacklog, error) {
		reads++
		return latchkey.OutboxBacklog{Queued: 3, Oldest: t0.Add(-time.Minute)}, fail
	}, nil)
	if q, age := value(t, m, "latchkey_outbox_queued"), value(t, m, "latchkey_outbox_oldest_age_seconds"); q != 3 || age != 60 {
		t.Fatalf("queued %v, oldest age %v; want 3 and 60", q, age)
	}
	clock.Advance(metrics.BacklogTTL - time.Millisecond)
	value(t, m, "latchkey_outbox_queued")
	if reads != 1 {
		t.Fatalf("%d readings within the TTL; want 1", reads)
	}
	clock.Advance(time.Millisecond)
	fail = latchkey.ErrUnavailable
	if q := value(t, m, "latchkey_outbox_queued"); q != -1 || reads != 2 {
		t.Fatalf("after a failed reading: queued %v, %d readings; want no gauge and 2 readings", q, reads)
	}
	clock.Advance(metrics.BacklogTTL)
	fail = nil
	if age := value(t, m, "latchkey_outbox_oldest_age_seconds"); age != 60+2*metrics.BacklogTTL.Seconds() {
		t.Fatalf("oldest age %v; want it from the oldest message's creation to now", age)
	}
}

func TestPoolsAreReadWhenScraped(t *testing.T) {
	clock := fake.NewClock(t0)
	m := newMetrics(clock)
	m.Watch(func(context.Context) (latchkey.OutboxBacklog, error) { return latchkey.OutboxBacklog{}, nil }, func() []metrics.Pool {
		return []metrics.Pool{{Name: "postgres", Max: 32, InUse: 5, Idle: 3, Waits: 7, WaitTime: 1500 * time.Millisecond}}
	})
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"latchkey_db_connections", []string{"pool=postgres", "state=in_use"}, 5},
		{"latchkey_db_connections", []string{"pool=postgres", "state=idle"}, 3},
		{"latchkey_db_connections_max", []string{"pool=postgres"}, 32},
		{"latchkey_db_connection_waits_total", []string{"pool=postgres"}, 7},
		{"latchkey_db_connection_wait_seconds_total", []string{"pool=postgres"}, 1.5},
		{"latchkey_build_info", []string{"version=test"}, 1},
	} {
		if got := value(t, m, c.name, c.labels...); got != c.want {
			t.Errorf("%s{%s} = %v; want %v", c.name, strings.Join(c.labels, ","), got, c.want)
		}
	}
}

func TestHandlerServesOnlyMetrics(t *testing.T) {
	m := newMetrics(fake.NewClock(t0))
	for path, want := range map[string]int{"/metrics": http.StatusOK, "/": http.StatusNotFound, "/debug/pprof/": http.StatusNotFound} {
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != want {
			t.Errorf("GET %s: %d; want %d", path, rec.Code, want)
		}
		if path == "/metrics" && !strings.Contains(rec.Body.String(), "go_goroutines") {
			t.Errorf("/metrics lacks the Go runtime's metrics")
		}
	}
}
