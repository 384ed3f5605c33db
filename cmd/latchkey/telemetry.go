package main

import (
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
	"github.com/latchkeyhq/latchkey/login"
	"github.com/latchkeyhq/latchkey/metrics"
	"github.com/latchkeyhq/latchkey/postgres"
	"github.com/latchkeyhq/latchkey/ratelimit"
	"github.com/latchkeyhq/latchkey/sqlite"
	"github.com/latchkeyhq/latchkey/storehook"
)

// telemetry is what a server reports on itself: Prometheus metrics when
// LATCHKEY_METRICS_ADDR is set. Off, it is nil, and every method gives
// the hook that attaches nothing. Each concern attaches where its hook is
// taken: the store's hooks, the login service's observer, the outbox's
// and the limiter's hooks, and the API's middleware.
type telemetry struct {
	metrics *metrics.Metrics
	// metricsLn is the metrics' own listener.
	metricsLn net.Listener
}

// newTelemetry starts what the configuration turns on: it opens the
// metrics' listener, so that a taken address stops the start-up.
func newTelemetry(cfg config.Config, e env, log *slog.Logger) (*telemetry, error) {
	if cfg.MetricsAddr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", cfg.MetricsAddr)
	if err != nil {
		return nil, fmt.Errorf("LATCHKEY_METRICS_ADDR: %w", err)
	}
	m := metrics.New(metrics.Config{Version: latchkey.Version, Now: e.now, Log: log})
	return &telemetry{metrics: m, metricsLn: ln}, nil
}

// metricsAddr is where the metrics are served; "" when they are not.
func (t *telemetry) metricsAddr() string {
	if t == nil || t.metricsLn == nil {
		return ""
	}
	return t.metricsLn.Addr().String()
}

// storeHooks are the hooks every store call runs through, outside its
// deadline, so that they see the whole wait.
func (t *telemetry) storeHooks() []storehook.Hook {
	if t == nil {
		return nil
	}
	return []storehook.Hook{t.metrics.StoreHook()}
}

// watchStore has the metrics read the store's backlog (through its
// hooks, with their deadline) and its connection pools when scraped.
func (t *telemetry) watchStore(hooked latchkey.Store, store latchkey.Store) {
	if t == nil {
		return
	}
	t.metrics.Watch(hooked.OutboxBacklog, poolsOf(store))
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
	if t == nil {
		return nil
	}
	return t.metrics
}

// recorded is told of every delivery outcome the outbox records.
func (t *telemetry) recorded() func(latchkey.Message) {
	if t == nil {
		return nil
	}
	return t.metrics.Recorded
}

// refused is told of every refusal by a rate limit.
func (t *telemetry) refused() func(appID string, limit ratelimit.Limit) {
	if t == nil {
		return nil
	}
	return func(appID string, limit ratelimit.Limit) { t.metrics.RateLimited(appID, string(limit)) }
}

// busy is told of every request refused over the bound on requests in
// flight, counted as a refusal by that limit.
func (t *telemetry) busy() func(bound string) {
	if t == nil {
		return nil
	}
	return func(bound string) { t.metrics.RateLimited("", bound) }
}

// handler wraps the API's handler in the middleware that observes every
// request.
func (t *telemetry) handler(h http.Handler) http.Handler {
	if t == nil {
		return h
	}
	return t.metrics.HTTP(h)
}

// serveMetrics serves /metrics on its own listener until stop is called.
func (t *telemetry) serveMetrics(log *slog.Logger) (stop func()) {
	if t == nil {
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

// close releases what newTelemetry opened, for a server that did not
// start.
func (t *telemetry) close() {
	if t != nil {
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
