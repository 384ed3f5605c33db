package metrics

import (
	"net/http"
	"strconv"
	"strings"
	"sync"

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
	h.recorders.New = func() any { return &statusRecorder{} }
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
		rec := m.http.recorders.Get().(*statusRecorder)
		rec.ResponseWriter, rec.status, rec.wrote = w, http.StatusOK, false
		defer func() {
			m.http.inFlight.Dec()
			c := m.http.children.get(requestKey{route: route(r.Pattern), method: method(r.Method), status: rec.status})
			c.count.Inc()
			c.duration.Observe(m.now().Sub(start).Seconds())
			rec.ResponseWriter = nil
			m.http.recorders.Put(rec)
		}()
		next.ServeHTTP(rec, r)
	})
}

// route is the path of a route pattern ("POST /cis/v1/auth/otp/send"
// gives "/cis/v1/auth/otp/send"); "unmatched" for a request no route
// served.
func route(pattern string) string {
	if pattern == "" {
		return "unmatched"
	}
	if _, path, ok := strings.Cut(pattern, " "); ok {
		return path
	}
	return pattern
}

// method is a request's method, or "other" for one that HTTP does not
// define: a client may send any word.
func method(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete,
		http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	default:
		return "other"
	}
}

// statusRecorder remembers the status of a response.
type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
