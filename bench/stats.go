package bench

import (
	"math"
	"math/bits"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The histogram is log-linear, in the style of HdrHistogram: durations are
// counted in units of 64ns; below 2^subBits units every unit has its own
// bucket, and each power of two above is split into 2^subBits equal
// buckets. A bucket is thus at most 1/128 of its lower bound wide, and the
// midpoint a percentile reports is within 0.4% of any value in it (plus
// half a unit, 32ns): about 1% precision from 10µs, which is what latency
// percentiles need, in a fixed 24 KiB with no per-sample allocation.
const (
	unitShift = 6 // one unit is 2^6 = 64ns
	subBits   = 7 // 128 buckets per power of two
	subCount  = 1 << subBits
	// maxExp is the highest power of two counted: 2^30 units is about 68.7s,
	// above the 60s that any single flow may reasonably take; longer
	// durations land in the last bucket (Max stays exact).
	maxExp     = 29
	numBuckets = subCount + (maxExp-subBits+1)*subCount
)

// Histogram counts durations in log-linear buckets so that percentiles are
// accurate to about 1% without storing samples. Every method is safe for
// concurrent use and lock-free: Record is a few atomic adds, so each worker
// can own a histogram that a progress reporter reads while it records, and
// histograms are merged at the end.
type Histogram struct {
	counts [numBuckets]atomic.Uint64
	total  atomic.Uint64
	sum    atomic.Int64 // nanoseconds, for the mean
	min    atomic.Int64 // nanoseconds; meaningful only when total > 0
	max    atomic.Int64
}

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram {
	h := &Histogram{}
	h.min.Store(math.MaxInt64)
	return h
}

// bucketOf returns the bucket index of a duration in nanoseconds.
func bucketOf(ns int64) int {
	if ns < 0 {
		ns = 0
	}
	u := uint64(ns) >> unitShift
	if u < subCount {
		return int(u)
	}
	e := bits.Len64(u) - 1 // u is in [2^e, 2^(e+1))
	if e > maxExp {
		return numBuckets - 1
	}
	mantissa := int(u>>(e-subBits)) - subCount // in [0, subCount)
	return subCount + (e-subBits)*subCount + mantissa
}

// bucketBounds returns the lowest value a bucket holds and its width, in
// nanoseconds.
func bucketBounds(i int) (low, width int64) {
	if i < subCount {
		return int64(i) << unitShift, 1 << unitShift
	}
	e := (i-subCount)/subCount + subBits
	mantissa := (i - subCount) % subCount
	shift := e - subBits + unitShift
	return int64(subCount+mantissa) << shift, 1 << shift
}

// Record counts one duration. Negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	ns := int64(d)
	if ns < 0 {
		ns = 0
	}
	h.counts[bucketOf(ns)].Add(1)
	h.total.Add(1)
	h.sum.Add(ns)
	lower(&h.min, ns)
	raise(&h.max, ns)
}

// lower sets a to v if v is smaller, without a lock.
func lower(a *atomic.Int64, v int64) {
	for {
		m := a.Load()
		if v >= m || a.CompareAndSwap(m, v) {
			return
		}
	}
}

// raise sets a to v if v is larger, without a lock.
func raise(a *atomic.Int64, v int64) {
	for {
		m := a.Load()
		if v <= m || a.CompareAndSwap(m, v) {
			return
		}
	}
}

// Merge adds every count of o to h. o may be recording meanwhile; the merge
// then includes some of its newest samples and not others.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil || o.total.Load() == 0 {
		return
	}
	for i := range o.counts {
		if c := o.counts[i].Load(); c != 0 {
			h.counts[i].Add(c)
		}
	}
	h.total.Add(o.total.Load())
	h.sum.Add(o.sum.Load())
	lower(&h.min, o.min.Load())
	raise(&h.max, o.max.Load())
}

// Reset empties h. It must not race with Record on the same histogram.
func (h *Histogram) Reset() {
	for i := range h.counts {
		h.counts[i].Store(0)
	}
	h.total.Store(0)
	h.sum.Store(0)
	h.min.Store(math.MaxInt64)
	h.max.Store(0)
}

// Count returns how many durations were recorded.
func (h *Histogram) Count() uint64 { return h.total.Load() }

// Max returns the longest duration recorded, exactly; zero when empty.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Min returns the shortest duration recorded, exactly; zero when empty.
func (h *Histogram) Min() time.Duration {
	if h.total.Load() == 0 {
		return 0
	}
	return time.Duration(h.min.Load())
}

// Mean returns the mean duration; zero when empty.
func (h *Histogram) Mean() time.Duration {
	n := h.total.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load() / int64(n))
}

// Quantile returns the q-quantile (q in [0, 1]; 0.99 is the 99th percentile)
// by the nearest-rank definition: the smallest recorded value with at least
// q of all values at or below it, to the histogram's precision. The answer
// is the midpoint of the bucket holding that value, kept within the exact
// minimum and maximum. An empty histogram answers zero.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.total.Load()
	if n == 0 {
		return 0
	}
	if math.IsNaN(q) || q < 0 {
		q = 0
	}
	if q > 1 {
		q = 1
	}
	rank := uint64(math.Ceil(q * float64(n)))
	if rank < 1 {
		rank = 1
	}
	lo, hi := h.Min(), h.Max()
	if rank >= n {
		return hi
	}
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			low, width := bucketBounds(i)
			v := time.Duration(low + width/2)
			return min(max(v, lo), hi)
		}
	}
	// Counts raced ahead of total while recording: the highest value is
	// the best answer.
	return hi
}

// Error keys of an endpoint's errors, besides HTTP status codes.
const (
	errTransport = "transport"        // no response: refused, reset, timed out
	errInvalid   = "invalid_response" // the expected status without a field the flow needs
)

// recorder holds one worker's measurements. Its histograms and counters
// are written only by the worker and read by the progress reporter, so
// recording takes atomic adds and no lock; the error tables, written only
// when something fails, take a lock. A nil recorder records nothing (the
// untimed set-up and warm-up).
type recorder struct {
	flows     [numKinds]*flowStats
	endpoints [numEndpoints]*endpointStats
}

// flowStats is one flow's measurements.
type flowStats struct {
	hist *Histogram // completed flows
	// delivery is, for flows whose message arrives at a sink, the time
	// from the send's answer to the message's arrival.
	delivery *Histogram
	failed   atomic.Uint64
	refused  atomic.Uint64 // flows a request of which the server refused (503)
	mu       sync.Mutex
	why      map[string]uint64 // failed flows by reason
}

// endpointStats is one endpoint's measurements.
type endpointStats struct {
	hist     *Histogram // requests answered, refusals aside
	requests atomic.Uint64
	refused  atomic.Uint64 // requests answered 503: not admitted
	mu       sync.Mutex
	errors   map[string]uint64 // by status code, errTransport or errInvalid
}

// newRecorder returns a recorder for the given flows and the endpoints they
// call.
func newRecorder(s *settings) *recorder {
	r := &recorder{}
	for _, k := range s.kinds {
		if r.flows[k] == nil {
			r.flows[k] = &flowStats{hist: NewHistogram(), why: map[string]uint64{}}
			if k.bySMTP() || k.bySMS() {
				r.flows[k].delivery = NewHistogram()
			}
		}
		for _, ep := range s.flowEndpoints(k) {
			if r.endpoints[ep] == nil {
				r.endpoints[ep] = &endpointStats{hist: NewHistogram(), errors: map[string]uint64{}}
			}
		}
	}
	return r
}

func (r *recorder) endpoint(ep endpoint) *endpointStats {
	if r == nil {
		return nil
	}
	return r.endpoints[ep]
}

// response records an answered request that took d; unless ok, its status
// is an error of the endpoint, or, for a 503, a refusal: the server did
// not admit the request, and its quick answer is kept out of the latency
// of those it served.
func (r *recorder) response(ep endpoint, d time.Duration, status int, ok bool) {
	es := r.endpoint(ep)
	if es == nil {
		return
	}
	es.requests.Add(1)
	switch {
	case !ok && status == http.StatusServiceUnavailable:
		es.refused.Add(1)
	case !ok:
		es.hist.Record(d)
		es.addError(strconv.Itoa(status))
	default:
		es.hist.Record(d)
	}
}

// transport records a request that got no answer.
func (r *recorder) transport(ep endpoint) {
	if es := r.endpoint(ep); es != nil {
		es.requests.Add(1)
		es.addError(errTransport)
	}
}

// invalid records an answer with the expected status that the flow cannot
// use; the request itself was already recorded.
func (r *recorder) invalid(ep endpoint) {
	if es := r.endpoint(ep); es != nil {
		es.addError(errInvalid)
	}
}

func (es *endpointStats) addError(key string) {
	es.mu.Lock()
	es.errors[key]++
	es.mu.Unlock()
}

// completed records a flow that succeeded in d.
func (r *recorder) completed(k flowKind, d time.Duration) {
	if r != nil && r.flows[k] != nil {
		r.flows[k].hist.Record(d)
	}
}

// delivered records a message that arrived d after its send's answer; one
// that arrived sooner (the server delivers as it answers) counts as 0.
func (r *recorder) delivered(k flowKind, d time.Duration) {
	if r != nil && r.flows[k] != nil && r.flows[k].delivery != nil {
		r.flows[k].delivery.Record(max(d, 0))
	}
}

// refused records a flow cut short because the server refused one of its
// requests (503): shed load, not an error.
func (r *recorder) refused(k flowKind) {
	if r != nil && r.flows[k] != nil {
		r.flows[k].refused.Add(1)
	}
}

// failed records a flow that failed, and why.
func (r *recorder) failed(k flowKind, why string) {
	if r == nil || r.flows[k] == nil {
		return
	}
	fs := r.flows[k]
	fs.failed.Add(1)
	fs.mu.Lock()
	fs.why[why]++
	fs.mu.Unlock()
}
