// Package metrics defines every Prometheus metric Latchkey exports, in its
// own registry, and the hooks through which the rest of the server feeds
// them, each concern attaching in one place:
//
//   - HTTP requests: HTTP, a middleware around the API's handler (http.go);
//   - sends and logins: Sent and Authenticated, the login service's
//     observer (login.go);
//   - deliveries: Recorded, the outbox worker's hook (login.go);
//   - refusals: RateLimited, the rate limiter's and admission control's
//     hook (login.go);
//   - the database: StoreHook, a hook of the store wrapper, and the
//     connection pools and the outbox's backlog, read when scraped
//     (store.go);
//   - the Go runtime and the process: client_golang's collectors.
//
// No label holds a user, an address, a number, a code or a token: labels
// are route patterns, methods, statuses, app IDs (apps are few and made by
// the operator, so their number is bounded), channels, providers,
// outcomes, limits and store operations, each from a fixed set, and a
// value outside the set (a channel a request made up) is counted as
// "other".
//
// The hot path neither allocates nor hashes label values once a
// combination has been seen: each hook keeps the metrics it has resolved
// by their label values (children).
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config configures the metrics.
type Config struct {
	// Version is the build's, exported as latchkey_build_info.
	Version string
	Log     *slog.Logger
	Now     func() time.Time
}

// BacklogTTL is how long a reading of the outbox's backlog serves
// scrapes: however often and by however many servers Latchkey is scraped,
// its database answers at most one backlog query in that time.
const BacklogTTL = 5 * time.Second

// Metrics holds every metric and the registry that exports them.
type Metrics struct {
	registry *prometheus.Registry
	now      func() time.Time
	log      *slog.Logger
	http     *httpMetrics
	logins   *loginMetrics
	store    *storeMetrics
}

// New returns the metrics, registered in a registry of their own (never
// Prometheus' global one), with the Go runtime's and the process's.
func New(cfg Config) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{registry: reg, now: cfg.Now, log: cfg.Log, http: newHTTPMetrics(reg), logins: newLoginMetrics(reg),
		store: newStoreMetrics(reg)}
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "latchkey_build_info",
		Help: "Always 1; its label is the version of the running build."}, []string{"version"})
	build.WithLabelValues(cfg.Version).Set(1)
	reg.MustRegister(build, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Watch has the metrics read the database when scraped: the outbox's
// backlog through backlog, which must bound its call by the database's
// deadline, at most once per BacklogTTL; the connection pools through
// pools, when not nil. It is called once, when the store is open.
func (m *Metrics) Watch(backlog func(context.Context) (latchkey.OutboxBacklog, error), pools func() []Pool) {
	m.registry.MustRegister(newBacklogCollector(backlog, m.now, m.log))
	if pools != nil {
		m.registry.MustRegister(poolCollector{read: pools})
	}
}

// Handler serves the metrics at GET /metrics, in Prometheus' text or
// OpenMetrics format as the scraper asks, and nothing else.
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{
		Registry:          m.registry, // counts its own errors there
		EnableOpenMetrics: true,
	}))
	return mux
}

// Registry returns the registry, for tests that gather from it.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }
