package metrics

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/prometheus/client_golang/prometheus"
)

// storeMetrics time every store call by operation, and count those that
// found the database unavailable.
type storeMetrics struct {
	ops *children[string, opChildren]
}

// opChildren are the metrics of one store operation.
type opChildren struct {
	duration    prometheus.Observer
	unavailable prometheus.Counter
}

// storeBuckets suit calls that take a fraction of a millisecond on SQLite
// and a few on PostgreSQL, up to the longest deadline.
var storeBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

func newStoreMetrics(reg prometheus.Registerer) *storeMetrics {
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "latchkey_store_duration_seconds",
		Help: "Time of a database call, by store operation, its deadline included.", Buckets: storeBuckets}, []string{"op"})
	unavailable := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "latchkey_store_unavailable_total",
		Help: "Database calls that failed as unavailable (no answer within LATCHKEY_DB_TIMEOUT, or no connection), by store operation."},
		[]string{"op"})
	reg.MustRegister(duration, unavailable)
	return &storeMetrics{ops: newChildren(func(op string) opChildren {
		return opChildren{duration: duration.WithLabelValues(op), unavailable: unavailable.WithLabelValues(op)}
	})}
}

// StoreHook times every store call (a storehook.Hook). op is the Store
// method's name, a fixed set.
func (m *Metrics) StoreHook() func(ctx context.Context, op string, call func(context.Context) error) error {
	return func(ctx context.Context, op string, call func(context.Context) error) error {
		start := m.now()
		err := call(ctx)
		c := m.store.ops.get(op)
		c.duration.Observe(m.now().Sub(start).Seconds())
		if err != nil && errors.Is(err, latchkey.ErrUnavailable) {
			c.unavailable.Inc()
		}
		return err
	}
}

// Pool is the state of one of the database's connection pools.
type Pool struct {
	// Name tells the pool apart: "postgres", or SQLite's "write" and
	// "read".
	Name             string
	Max, InUse, Idle int
	// Waits counts the connections taken, since start, that had to wait
	// for one to be free; WaitTime is their total wait.
	Waits    int64
	WaitTime time.Duration
}

// poolCollector reads the connection pools when scraped.
type poolCollector struct {
	read func() []Pool
}

var (
	poolConnections = prometheus.NewDesc("latchkey_db_connections",
		"Database connections open, by pool and state (in_use or idle).", []string{"pool", "state"}, nil)
	poolMax = prometheus.NewDesc("latchkey_db_connections_max",
		"The most connections the pool may open.", []string{"pool"}, nil)
	poolWaits = prometheus.NewDesc("latchkey_db_connection_waits_total",
		"Connections taken from the pool that had to wait for one to be free.", []string{"pool"}, nil)
	poolWaitTime = prometheus.NewDesc("latchkey_db_connection_wait_seconds_total",
		"Total time waited for a free connection.", []string{"pool"}, nil)
)

func (c poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{poolConnections, poolMax, poolWaits, poolWaitTime} {
		ch <- d
	}
}

func (c poolCollector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range c.read() {
		ch <- prometheus.MustNewConstMetric(poolConnections, prometheus.GaugeValue, float64(p.InUse), p.Name, "in_use")
		ch <- prometheus.MustNewConstMetric(poolConnections, prometheus.GaugeValue, float64(p.Idle), p.Name, "idle")
		ch <- prometheus.MustNewConstMetric(poolMax, prometheus.GaugeValue, float64(p.Max), p.Name)
		ch <- prometheus.MustNewConstMetric(poolWaits, prometheus.CounterValue, float64(p.Waits), p.Name)
		ch <- prometheus.MustNewConstMetric(poolWaitTime, prometheus.CounterValue, p.WaitTime.Seconds(), p.Name)
	}
}

// backlogCollector reports the outbox's backlog, read from the database
// at most once per BacklogTTL: a reading, or the failure to get one, serves
// every scrape until then. The age of the oldest message is taken at each
// scrape from the reading's creation time.
type backlogCollector struct {
	read func(context.Context) (latchkey.OutboxBacklog, error)
	now  func() time.Time
	log  *slog.Logger

	mu      sync.Mutex // one reading at a time; scrapes meanwhile wait for it
	readAt  time.Time
	backlog latchkey.OutboxBacklog
	err     error
}

var (
	outboxQueued = prometheus.NewDesc("latchkey_outbox_queued",
		"Messages queued in the outbox (due, being delivered, or waiting to be retried), across every node.", nil, nil)
	outboxOldestAge = prometheus.NewDesc("latchkey_outbox_oldest_age_seconds",
		"Age of the oldest queued message, from its send's acknowledgement; 0 when none is queued.", nil, nil)
)

func newBacklogCollector(read func(context.Context) (latchkey.OutboxBacklog, error), now func() time.Time, log *slog.Logger) *backlogCollector {
	return &backlogCollector{read: read, now: now, log: log}
}

func (c *backlogCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- outboxQueued
	ch <- outboxOldestAge
}

// Collect reports the backlog, or nothing when the database could not
// say: a gauge that disappears is an alert's cue, a stale one is not.
func (c *backlogCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	now := c.now()
	if c.readAt.IsZero() || now.Sub(c.readAt) >= BacklogTTL {
		c.backlog, c.err = c.read(context.Background())
		c.readAt = now
		if c.err != nil {
			c.log.Warn("metrics: read the outbox's backlog", "err", c.err)
		}
	}
	b, err := c.backlog, c.err
	c.mu.Unlock()
	if err != nil {
		return
	}
	age := 0.0
	if b.Queued > 0 {
		age = max(0, now.Sub(b.Oldest).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(outboxQueued, prometheus.GaugeValue, float64(b.Queued))
	ch <- prometheus.MustNewConstMetric(outboxOldestAge, prometheus.GaugeValue, age)
}
