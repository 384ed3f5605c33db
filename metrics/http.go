package metrics

import (
	"net/http"
	"strconv"
	"sync"

	"github.com/latchkeyhq/latchkey/internal/httpobs"
	"github.com/prometheus/client_golang/prometheus"
)

// httpMetrics count the API's requests, per route pattern, method and
// status, and time them per route and method.
type httpMetrics struct {
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	inFlight  prometheus.Gauge
	children  *children[requestKey, requestChildren]
	recorders sync.Pool
}

// requestKey is a request's label values.
type requestKey struct {
	route, method string
	status        int
}

// requestChildren are the metrics one requestKey counts in.
type requestChildren struct {
	count    prometheus.Counter
	duration prometheus.Observer
}

// latencyBuckets suit requests that take milliseconds, and show those that
// wait on a slow database up to its deadline.
var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	h := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "latchkey_http_requests_total",
			Help: "API requests answered, by route pattern, method and status."}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "latchkey_http_request_duration_seconds",
			Help: "Time to answer an API request, by route pattern and method.", Buckets: latencyBuckets},
			[]string{"route", "method"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{Name: "latchkey_http_requests_in_flight",
			Help: "API requests being served, the probes and those refused over LATCHKEY_MAX_IN_FLIGHT included."}),
	}
	h.children = newChildren(func(k requestKey) requestChildren {
		return requestChildren{count: h.requests.WithLabelValues(k.route, k.method, strconv.Itoa(k.status)),
			duration: h.duration.WithLabelValues(k.route, k.method)}
	})
	h.recorders.New = func() any { return &httpobs.Recorder{} }
	reg.MustRegister(h.requests, h.duration, h.inFlight)
	return h
}

// HTTP counts and times every request next serves. It names the route by
// the pattern that served it, which next sets on the request as a
// ServeMux does, never by the raw path: paths hold identifiers.
func (m *Metrics) HTTP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := m.now()
		m.http.inFlight.Inc()
		rec := m.http.recorders.Get().(*httpobs.Recorder)
		rec.Reset(w)
		defer func() {
			m.http.inFlight.Dec()
			c := m.http.children.get(requestKey{route: httpobs.Route(r.Pattern), method: httpobs.Method(r.Method), status: rec.Status})
			c.count.Inc()
			c.duration.Observe(m.now().Sub(start).Seconds())
			rec.Reset(nil)
			m.http.recorders.Put(rec)
		}()
		next.ServeHTTP(rec, r)
	})
}
