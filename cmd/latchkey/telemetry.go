package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/config"
	"github.com/latchkeyhq/latchkey/delivery"
	"github.com/latchkeyhq/latchkey/login"
	"github.com/latchkeyhq/latchkey/metrics"
	"github.com/latchkeyhq/latchkey/postgres"
	"github.com/latchkeyhq/latchkey/ratelimit"
	"github.com/latchkeyhq/latchkey/sqlite"
	"github.com/latchkeyhq/latchkey/storehook"
	"github.com/latchkeyhq/latchkey/tracing"
)

// telemetry is what a server reports on itself: Prometheus metrics when
// LATCHKEY_METRICS_ADDR is set, traces when an OTLP endpoint is. Each is
// nil when off, and so is the telemetry of the other commands; every
// method then gives the hook that attaches nothing. Each concern attaches
// where its hook is taken: the store's hooks, the login service's
// observer, the outbox's and the limiter's hooks, the providers' wrapper
// and the API's middleware.
type telemetry struct {
	metrics *metrics.Metrics
	// metricsLn is the metrics' own listener.
	metricsLn net.Listener
	tracing   *tracing.Tracing
}

// newTelemetry starts what the configuration turns on. It opens the
// metrics' listener, so that a taken address stops the start-up; but
// `latchkey dev` (dev), which chose the address itself, goes on without
// metrics, saying so.
func newTelemetry(ctx context.Context, cfg config.Config, e env, log *slog.Logger, dev bool) (*telemetry, error) {
	t := &telemetry{}
	if cfg.Tracing.Endpoint != "" {
		tr, err := tracing.Start(ctx, tracing.Config{Endpoint: cfg.Tracing.Endpoint, ServiceName: cfg.Tracing.ServiceName,
			Version: latchkey.Version, Sampler: cfg.Tracing.Sampler, SamplerArg: cfg.Tracing.SamplerArg,
			Database: dbSystem[cfg.Database.Driver], Log: log})
		if err != nil {
			return nil, err
		}
		t.tracing = tr
	}
	if cfg.MetricsAddr != "" {
		ln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil && dev && e.getenv("LATCHKEY_METRICS_ADDR") == "" {
			log.Warn("no metrics: the address latchkey dev chose for them is taken; set LATCHKEY_METRICS_ADDR", "err", err)
			return t, nil
		}
		if err != nil {
			t.close(log)
			return nil, fmt.Errorf("LATCHKEY_METRICS_ADDR: %w", err)
		}
		t.metrics, t.metricsLn = metrics.New(metrics.Config{Version: latchkey.Version, Now: e.now, Log: log}), ln
	}
	return t, nil
}

// dbSystem is each database's name in traces (db.system.name).
var dbSystem = map[string]string{"sqlite": "sqlite", "postgres": "postgresql"}

func (t *telemetry) measured() bool { return t != nil && t.metrics != nil }
func (t *telemetry) traced() bool   { return t != nil && t.tracing != nil }

// metricsAddr is where the metrics are served; "" when they are not.
func (t *telemetry) metricsAddr() string {
	if !t.measured() {
		return ""
	}
	return t.metricsLn.Addr().String()
}

// storeHooks are the hooks every store call runs through, outside its
// deadline, so that they see the whole wait: its span, then its time.
func (t *telemetry) storeHooks() []storehook.Hook {
	var hooks []storehook.Hook
	if t.traced() {
		hooks = append(hooks, t.tracing.StoreHook())
	}
	if t.measured() {
		hooks = append(hooks, t.metrics.StoreHook())
	}
	return hooks
}

// watchStore has the metrics read the store's backlog (through its
// hooks, with their deadline) and its connection pools when scraped.
func (t *telemetry) watchStore(hooked latchkey.Store, store latchkey.Store) {
	if t.measured() {
		t.metrics.Watch(hooked.OutboxBacklog, poolsOf(store))
	}
}

// poolsOf reads the connection pools of the database under store.
func poolsOf(store latchkey.Store) func() []metrics.Pool {
	switch s := store.(type) {
	case *postgres.Store:
		return func() []metrics.Pool {
			st := s.PoolStat()
			return []metrics.Pool{{Name: "postgres", Max: int(st.MaxConns()), InUse: int(st.AcquiredConns()),
				Idle: int(st.IdleConns()), Waits: st.EmptyAcquireCount(), WaitTime: st.EmptyAcquireWaitTime()}}
		}
	case *sqlite.Store:
		return func() []metrics.Pool {
			write, read := s.PoolStats()
			return []metrics.Pool{sqlPool("write", write), sqlPool("read", read)}
		}
	default:
		return nil
	}
}

// sqlPool is a database/sql pool's state.
func sqlPool(name string, st sql.DBStats) metrics.Pool {
	return metrics.Pool{Name: name, Max: st.MaxOpenConnections, InUse: st.InUse, Idle: st.Idle, Waits: st.WaitCount,
		WaitTime: st.WaitDuration}
}

// loginObserver is told how every send and authentication ended.
func (t *telemetry) loginObserver() login.Observer {
	if !t.measured() {
		return nil
	}
	return t.metrics
}

// recorded is told of every delivery outcome the outbox records.
func (t *telemetry) recorded() func(latchkey.Message) {
	if !t.measured() {
		return nil
	}
	return t.metrics.Recorded
}

// carry takes a request's span into the delivery of the message it
// queued, so that the provider's call joins the send's trace.
func (t *telemetry) carry() func(from, into context.Context) context.Context {
	if !t.traced() {
		return nil
	}
	return tracing.Carry
}

// refused is told of every refusal by a rate limit.
func (t *telemetry) refused() func(appID string, limit ratelimit.Limit) {
	if !t.measured() {
		return nil
	}
	return func(appID string, limit ratelimit.Limit) { t.metrics.RateLimited(appID, string(limit)) }
}

// busy is told of every request refused over the bound on requests in
// flight, counted as a refusal by that limit.
func (t *telemetry) busy() func(bound string) {
	if !t.measured() {
		return nil
	}
	return func(bound string) { t.metrics.RateLimited("", bound) }
}

// senders wraps every provider so that each call is a span.
func (t *telemetry) senders(senders map[latchkey.Channel][]delivery.Sender) map[latchkey.Channel][]delivery.Sender {
	if !t.traced() {
		return senders
	}
	out := make(map[latchkey.Channel][]delivery.Sender, len(senders))
	for ch, list := range senders {
		for _, s := range list {
			out[ch] = append(out[ch], t.tracing.Sender(s))
		}
	}
	return out
}

// handler wraps the API's handler in the middleware that observe every
// request: its span outermost, so that everything the request does,
// its log lines included, is within it.
func (t *telemetry) handler(h http.Handler) http.Handler {
	if t.measured() {
		h = t.metrics.HTTP(h)
	}
	if t.traced() {
		h = t.tracing.Middleware(h)
	}
	return h
}

// serveMetrics serves /metrics on its own listener until stop is called.
func (t *telemetry) serveMetrics(log *slog.Logger) (stop func()) {
	if !t.measured() {
		return func() {}
	}
	srv := &http.Server{Handler: t.metrics.Handler(), ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second}
	go func() {
		if err := srv.Serve(t.metricsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "err", err)
		}
	}()
	return func() { _ = srv.Close() }
}

// traceFlushTimeout bounds the export of the last spans when the server
// stops.
const traceFlushTimeout = 5 * time.Second

// close exports the spans not yet exported and releases the metrics'
// listener, once the server has stopped (or did not start).
func (t *telemetry) close(log *slog.Logger) {
	if t.traced() {
		ctx, cancel := context.WithTimeout(context.Background(), traceFlushTimeout)
		defer cancel()
		if err := t.tracing.Shutdown(ctx); err != nil {
			log.Warn("traces: export the last spans", "err", err)
		}
	}
	if t.measured() {
		_ = t.metricsLn.Close()
	}
}

// devMetricsAddr is where `latchkey dev` serves metrics: beside the API,
// on the next port (or a port of the system's choosing when the API's is
// too). "" when the API's address does not parse, which its own check
// reports.
func devMetricsAddr(apiAddr string) string {
	host, port, err := net.SplitHostPort(apiAddr)
	if err != nil {
		return ""
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		return ""
	}
	if n != 0 {
		n++
	}
	return net.JoinHostPort(host, strconv.Itoa(n))
}
