package bench

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

// exactQuantile is the nearest-rank quantile of sorted samples: what
// Histogram.Quantile approximates.
func exactQuantile(sorted []time.Duration, q float64) time.Duration {
	rank := int(math.Ceil(q * float64(len(sorted))))
	rank = max(rank, 1)
	return sorted[rank-1]
}

var quantiles = []float64{0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1}

// checkQuantiles compares every quantile of h with the exact one, within
// 1% (the histogram's promise from 10µs up).
func checkQuantiles(t *testing.T, h *Histogram, samples []time.Duration) {
	t.Helper()
	sorted := slices.Clone(samples)
	slices.Sort(sorted)
	for _, q := range quantiles {
		got, want := h.Quantile(q), exactQuantile(sorted, q)
		if rel := math.Abs(float64(got-want)) / float64(want); rel > 0.01 {
			t.Errorf("q%v = %v; exactly %v (off by %.2f%%)", q, got, want, 100*rel)
		}
	}
	if h.Count() != uint64(len(samples)) || h.Max() != sorted[len(sorted)-1] || h.Min() != sorted[0] {
		t.Errorf("count %d, min %v, max %v; want %d, %v, %v", h.Count(), h.Min(), h.Max(), len(samples), sorted[0], sorted[len(sorted)-1])
	}
	var sum time.Duration
	for _, s := range samples {
		sum += s
	}
	if mean := sum / time.Duration(len(samples)); h.Mean() != mean {
		t.Errorf("mean %v; want %v", h.Mean(), mean)
	}
}

func record(samples []time.Duration) *Histogram {
	h := NewHistogram()
	for _, s := range samples {
		h.Record(s)
	}
	return h
}

func TestHistogramUniform(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	samples := make([]time.Duration, 200_000)
	for i := range samples {
		samples[i] = 10*time.Microsecond + time.Duration(rng.Int64N(int64(2*time.Second)))
	}
	checkQuantiles(t, record(samples), samples)
}

func TestHistogramBimodal(t *testing.T) {
	// A fast path around 2ms and a slow one around 300ms, one sample in
	// ten: the p90 to p99 region straddles the gap, where a coarse
	// histogram would be far off.
	rng := rand.New(rand.NewPCG(3, 4))
	samples := make([]time.Duration, 100_000)
	for i := range samples {
		mean, sd := 2e6, 2e5
		if i%10 == 0 {
			mean, sd = 3e8, 3e7
		}
		samples[i] = time.Duration(max(mean+sd*rng.NormFloat64(), 1e4))
	}
	h := record(samples)
	checkQuantiles(t, h, samples)
	if p50, p95 := h.Quantile(0.5), h.Quantile(0.95); p50 > 5*time.Millisecond || p95 < 100*time.Millisecond {
		t.Errorf("p50 %v, p95 %v; want one in each mode", p50, p95)
	}
}

func TestHistogramExactValues(t *testing.T) {
	// Values spanning the whole range, each power of two and its
	// neighbours.
	var samples []time.Duration
	for d := 10 * time.Microsecond; d < 60*time.Second; d = d * 2 {
		samples = append(samples, d-1, d, d+1, d+d/3)
	}
	checkQuantiles(t, record(samples), samples)
}

func TestHistogramMerge(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var all []time.Duration
	parts := []*Histogram{NewHistogram(), NewHistogram(), NewHistogram(), NewHistogram()}
	for i := range 40_000 {
		d := 10*time.Microsecond + time.Duration(rng.ExpFloat64()*float64(20*time.Millisecond))
		all = append(all, d)
		parts[i%3].Record(d) // parts[3] stays empty, and merges as nothing
	}
	merged := NewHistogram()
	for _, p := range parts {
		merged.Merge(p)
	}
	merged.Merge(nil)
	single := record(all)
	for _, q := range quantiles {
		if merged.Quantile(q) != single.Quantile(q) {
			t.Errorf("merged q%v = %v; one histogram says %v", q, merged.Quantile(q), single.Quantile(q))
		}
	}
	checkQuantiles(t, merged, all)

	// Merging into a histogram with samples keeps its extremes right.
	h := record([]time.Duration{time.Second})
	h.Merge(record([]time.Duration{time.Millisecond}))
	if h.Min() != time.Millisecond || h.Max() != time.Second || h.Count() != 2 {
		t.Errorf("after merge: min %v max %v count %d", h.Min(), h.Max(), h.Count())
	}
}

func TestHistogramConcurrentRecordAndMerge(t *testing.T) {
	// Workers record while a reader merges, as the progress lines do; the
	// race detector checks the lock-free claim.
	workers := make([]*Histogram, 4)
	var wg sync.WaitGroup
	for i := range workers {
		workers[i] = NewHistogram()
		wg.Go(func() {
			for j := range 5000 {
				workers[i].Record(time.Duration(j+1) * time.Microsecond)
			}
		})
	}
	for range 20 {
		m := NewHistogram()
		for _, w := range workers {
			m.Merge(w)
		}
		_ = m.Quantile(0.99)
	}
	wg.Wait()
	m := NewHistogram()
	for _, w := range workers {
		m.Merge(w)
	}
	if m.Count() != 20000 || m.Max() != 5000*time.Microsecond || m.Min() != time.Microsecond {
		t.Fatalf("count %d, min %v, max %v", m.Count(), m.Min(), m.Max())
	}
}

func TestHistogramEdges(t *testing.T) {
	h := NewHistogram()
	if h.Quantile(0.5) != 0 || h.Max() != 0 || h.Min() != 0 || h.Mean() != 0 || h.Count() != 0 {
		t.Fatal("an empty histogram must answer zeros")
	}

	h.Record(-time.Second) // a clock step backwards counts as zero
	if h.Count() != 1 || h.Max() != 0 || h.Quantile(1) != 0 {
		t.Fatalf("negative sample: count %d max %v", h.Count(), h.Max())
	}

	h = NewHistogram()
	h.Record(42 * time.Millisecond)
	for _, q := range []float64{-1, 0, 0.5, 1, 2, math.NaN()} {
		if got := h.Quantile(q); got != 42*time.Millisecond {
			t.Errorf("one sample: q%v = %v; want the sample, exactly", q, got)
		}
	}

	// Beyond the range: the last bucket, but the maximum stays exact and
	// quantiles never exceed it.
	h = NewHistogram()
	h.Record(time.Millisecond)
	h.Record(5 * time.Minute)
	h.Record(10 * time.Minute)
	if h.Max() != 10*time.Minute || h.Quantile(0.99) != 10*time.Minute {
		t.Errorf("max %v, p99 %v; want 10m", h.Max(), h.Quantile(0.99))
	}
	if got := h.Quantile(0.5); got < time.Minute || got > 10*time.Minute {
		t.Errorf("p50 of an out-of-range value = %v", got)
	}
	if got := h.Quantile(0.2); got < time.Millisecond || got > 1010*time.Microsecond {
		t.Errorf("p20 = %v; want 1ms, within 1%%", got)
	}

	h.Reset()
	if h.Count() != 0 || h.Quantile(0.5) != 0 || h.Max() != 0 {
		t.Fatal("Reset left samples")
	}
}

func TestBucketsCoverEveryValue(t *testing.T) {
	prev := -1
	check := func(ns int64) {
		i := bucketOf(ns)
		low, width := bucketBounds(i)
		if i < prev || ns < low || ns >= low+width {
			t.Fatalf("%dns in bucket %d [%d, %d); previous bucket %d", ns, i, low, low+width, prev)
		}
		if ns >= int64(10*time.Microsecond) && float64(width)/float64(low) > 1.0/128+1e-9 {
			t.Fatalf("bucket %d is %d wide at %d: coarser than 1/128", i, width, low)
		}
		prev = i
	}
	for ns := int64(0); ns < 1<<20; ns += 7 {
		check(ns)
	}
	for ns := int64(1 << 20); ns < int64(68*time.Second); ns = ns + ns/1000 + 1 {
		check(ns)
	}
	if bucketOf(math.MaxInt64) != numBuckets-1 || bucketOf(-5) != 0 {
		t.Fatal("out-of-range values must land in the end buckets")
	}
}
