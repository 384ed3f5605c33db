package bench

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// runner is one run: its workers and what it measured besides them.
type runner struct {
	s       *settings
	c       *client
	workers []*worker
	ceiling *ceilingResult
	seeding *SeedReport

	// smtp and sms are the sinks the flows receive their messages at, nil
	// when no flow needs one.
	smtp *SMTPSink
	sms  *SMSSink

	inFlight atomic.Int64
	// started and dropped count an open loop's measured arrivals: flows
	// that started, and flows that could not start for the cap.
	started, dropped atomic.Uint64

	// The measured period, and the processes' state at its ends.
	begin              sync.Once  // the measured period starts once
	mu                 sync.Mutex // guards what the watcher sets
	measuring          bool
	measureStart       time.Time
	measureEnd         time.Time
	serverStart        procSample
	serverEnd          procSample
	serverPeakRSS      int64
	serverErr          error
	selfStart, selfEnd time.Duration
	selfOK             bool
	dbStart, dbEnd     time.Duration
	dbErr              error
	sinkStart, sinkEnd sinkSample
	interrupted        bool
}

func newRunner(s *settings, c *client) *runner {
	r := &runner{s: s, c: c}
	for i := range s.workers {
		r.workers = append(r.workers, newWorker(r, i))
	}
	return r
}

// progressf writes a progress line, when progress is wanted.
func (r *runner) progressf(format string, args ...any) {
	if r.s.Progress != nil {
		fmt.Fprintf(r.s.Progress, "bench: "+format+"\n", args...)
	}
}

// seed creates the users with the run's concurrency; a user that exists
// already is as good as a new one.
func (r *runner) seed(ctx context.Context) error {
	n := r.s.Users
	var next, created, existing, failed atomic.Int64
	var (
		firstMu  sync.Mutex
		firstErr string
	)
	start := r.s.Now()
	stop := r.every(time.Second, func() {
		r.progressf("seeding users: %d/%d", created.Load()+existing.Load(), n)
	})
	var wg sync.WaitGroup
	for range min(r.s.Concurrency, n) {
		wg.Go(func() {
			q := requester{c: r.c}
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				status, body, ferr := r.createUser(ctx, &q, i)
				switch {
				case ferr == nil && status == http.StatusCreated:
					created.Add(1)
				case ferr == nil:
					existing.Add(1)
				default:
					failed.Add(1)
					firstMu.Lock()
					if firstErr == "" {
						firstErr = fmt.Sprintf("%s for %s", ferr, userEmail(i))
						if status != 0 {
							firstErr += ": " + errorText("", "", body)
						}
					}
					firstMu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	stop()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("bench: interrupted while seeding users: %w", err)
	}
	if failed.Load() > 0 {
		return fmt.Errorf("bench: could not seed %d of %d users; the first: %s", failed.Load(), n, firstErr)
	}
	elapsed := r.s.Now().Sub(start)
	r.seeding = &SeedReport{Users: n, Created: int(created.Load()), Existing: int(existing.Load()),
		Seconds: elapsed.Seconds()}
	r.progressf("seeded %d users (%d new) in %s", n, created.Load(), elapsed.Round(time.Millisecond))
	return nil
}

// seedRetries bounds the tries of one user's creation that the server
// refuses (503, a bound on requests in flight); seedPause is the wait
// between them.
const (
	seedRetries = 50
	seedPause   = 100 * time.Millisecond
)

// createUser creates user i, with its email address and, for the first
// maxPhoneUsers, its phone number, trying again after a pause while the
// server refuses the request for being busy.
func (r *runner) createUser(ctx context.Context, q *requester, i int) (int, []byte, *flowError) {
	user := jsonObject("email", userEmail(i))
	if phone := userPhone(i); phone != "" {
		user = jsonObject("email", userEmail(i), "phone_number", phone)
	}
	for try := 1; ; try++ {
		var (
			status int
			body   []byte
			ferr   *flowError
		)
		if r.s.supabase() {
			status, body, ferr = r.createSupabaseUser(ctx, q, i)
		} else {
			status, body, _, ferr = q.call(ctx, nil, epCreateUser, "", user, http.StatusCreated, http.StatusConflict)
		}
		if ferr == nil || !ferr.refused || try == seedRetries {
			return status, body, ferr
		}
		t := time.NewTimer(seedPause)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return status, body, ferr
		}
	}
}

// prepare does the refresh flow's untimed logins before the load, so that
// a refresh flow is only ever a rotation.
func (r *runner) prepare(ctx context.Context) error {
	if !r.s.uses(kindRefresh) {
		return nil
	}
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for range min(r.s.Concurrency, len(r.workers)) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(r.workers) {
					return
				}
				if ferr := r.workers[i].setupRefresh(ctx); ferr != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("bench: the %s flow logs each virtual user in first, and that failed for %s: %w "+
							"(are the users seeded?)", FlowRefresh, userEmail(r.workers[i].user(0)), ferr)
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("bench: interrupted: %w", err)
	}
	return firstErr
}

// load runs the flows: the warm-up, then the measured period.
func (r *runner) load(ctx context.Context) {
	start := r.s.Now()
	warmEnd := start.Add(r.s.Warmup)
	end := warmEnd.Add(r.s.Duration)
	stopWatch := r.watch(ctx, start)
	if r.s.open {
		r.openLoop(ctx, start, warmEnd, end)
	} else {
		r.closedLoop(ctx, warmEnd, end)
	}
	stopWatch()
	r.interrupted = ctx.Err() != nil
	r.endMeasure()
}

// closedLoop runs every worker's flows back to back.
func (r *runner) closedLoop(ctx context.Context, warmEnd, end time.Time) {
	var tickets atomic.Int64
	var wg sync.WaitGroup
	for _, w := range r.workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				t := r.s.Now()
				measured := !t.Before(warmEnd)
				if measured {
					r.startMeasuring()
					if r.s.Count > 0 {
						if tickets.Add(1) > int64(r.s.Count) {
							return
						}
					} else if !t.Before(end) {
						return
					}
				}
				r.inFlight.Add(1)
				w.next(ctx, w.roundRobin(), time.Time{}, measured)
				r.inFlight.Add(-1)
			}
		})
	}
	wg.Wait()
}

// arrival is an open loop's flow start, as scheduled.
type arrival struct {
	kind     flowKind
	at       time.Time
	measured bool
}

// openLoop starts flows on a fixed schedule, whatever the server's speed.
// A flow starts only on an idle worker, which caps the flows in flight;
// when none is idle the flow is dropped, and counted. The flows take turns
// by arrival, not per worker: whichever worker is idle takes an arrival,
// so only this keeps the mix as configured.
func (r *runner) openLoop(ctx context.Context, start, warmEnd, end time.Time) {
	arrivals := make(chan arrival) // unbuffered: a send succeeds only on an idle worker
	var wg sync.WaitGroup
	for _, w := range r.workers {
		wg.Go(func() {
			for a := range arrivals {
				w.next(ctx, a.kind, a.at, a.measured)
				r.inFlight.Add(-1)
			}
		})
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	interval := float64(time.Second) / r.s.Rate
	measuredArrivals := 0
schedule:
	for i := 0; ; i++ {
		at := start.Add(time.Duration(float64(i) * interval))
		measured := !at.Before(warmEnd)
		if measured {
			if r.s.Count > 0 && measuredArrivals >= r.s.Count || r.s.Count == 0 && !at.Before(end) {
				break
			}
			measuredArrivals++
			r.startMeasuring()
		}
		if wait := at.Sub(r.s.Now()); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				timer.Stop()
				break schedule
			}
		}
		if ctx.Err() != nil {
			break
		}
		r.inFlight.Add(1)
		select {
		case arrivals <- arrival{kind: r.s.kinds[i%len(r.s.kinds)], at: at, measured: measured}:
			if measured {
				r.started.Add(1)
			}
		default:
			r.inFlight.Add(-1)
			if measured {
				r.dropped.Add(1)
			}
		}
	}
	close(arrivals)
	wg.Wait()
}

// watch starts what runs beside the load: the start of the measured period
// after the warm-up, the server's memory samples and the progress lines.
// It returns a function that stops them.
func (r *runner) watch(ctx context.Context, start time.Time) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	if r.s.Warmup <= 0 {
		r.startMeasuring()
	} else {
		wg.Go(func() {
			t := time.NewTimer(r.s.Warmup)
			defer t.Stop()
			select {
			case <-t.C:
				r.startMeasuring()
			case <-done:
			}
		})
	}
	if r.s.ServerPID > 0 {
		wg.Go(func() {
			tick := time.NewTicker(rssInterval)
			defer tick.Stop()
			for {
				select {
				case <-tick.C:
					r.sampleRSS()
				case <-done:
					return
				}
			}
		})
	}
	if r.s.Progress != nil {
		wg.Go(func() {
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			last, lastAt := uint64(0), start
			for {
				select {
				case <-tick.C:
					last, lastAt = r.progress(start, last, lastAt)
				case <-done:
					return
				}
			}
		})
	}
	return func() {
		close(done)
		wg.Wait()
	}
}

// startMeasuring marks the start of the measured period: when the warm-up
// ends, or when the first measured flow starts if that is sooner seen.
func (r *runner) startMeasuring() { r.begin.Do(r.beginMeasure) }

func (r *runner) beginMeasure() {
	sinks := r.sampleSinks()
	now := r.s.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.measureStart, r.measuring, r.sinkStart = now, true, sinks
	if r.s.ServerPID > 0 {
		r.serverStart, r.serverErr = readProc(procPath(r.s.ServerPID))
		r.serverPeakRSS = r.serverStart.rss
	}
	r.selfStart, r.selfOK = readSelfCPU()
	if r.s.DatabasePID > 0 {
		r.dbStart, r.dbErr = r.databaseCPU()
	}
}

// endMeasure marks the end of the measured period, when the last measured
// flow has ended.
func (r *runner) endMeasure() {
	now := r.s.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.measuring {
		return // interrupted during the warm-up
	}
	r.measureEnd = now
	if r.s.ServerPID > 0 && r.serverErr == nil {
		r.serverEnd, r.serverErr = readProc(procPath(r.s.ServerPID))
		r.serverPeakRSS = max(r.serverPeakRSS, r.serverEnd.rss)
	}
	r.sinkEnd = r.sampleSinks()
	var ok bool
	r.selfEnd, ok = readSelfCPU()
	r.selfOK = r.selfOK && ok
	if r.s.DatabasePID > 0 && r.dbErr == nil {
		r.dbEnd, r.dbErr = r.databaseCPU()
	}
}

// sampleRSS keeps the server's peak memory during the measured period.
func (r *runner) sampleRSS() {
	r.mu.Lock()
	measuring := r.measuring && r.serverErr == nil
	r.mu.Unlock()
	if !measuring {
		return
	}
	rss, err := readRSS(procPath(r.s.ServerPID))
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.serverErr = err
		return
	}
	r.serverPeakRSS = max(r.serverPeakRSS, rss)
}

func readSelfCPU() (time.Duration, bool) {
	cpu, err := readCPU(selfProc)
	return cpu, err == nil
}

// progress writes one progress line: flows per second since the last one,
// failures, the 99th percentile of the flows measured so far, and what is
// in flight. It returns the flow count and time of this line.
func (r *runner) progress(start time.Time, last uint64, lastAt time.Time) (uint64, time.Time) {
	now := r.s.Now()
	var done, bad, refused uint64
	all := NewHistogram()
	for _, w := range r.workers {
		done += w.done.Load()
		bad += w.bad.Load()
		refused += w.refused.Load()
		for _, fs := range w.rec.flows {
			if fs != nil {
				all.Merge(fs.hist)
			}
		}
	}
	rate := 0.0
	if secs := now.Sub(lastAt).Seconds(); secs > 0 {
		rate = float64(done-last) / secs
	}
	r.mu.Lock()
	measuring := r.measuring
	r.mu.Unlock()
	phase, p99 := "warm-up", "-"
	if measuring {
		phase = "measuring"
		if all.Count() > 0 {
			p99 = formatDuration(all.Quantile(0.99))
		}
	}
	line := fmt.Sprintf("%4ds %-9s %8.1f flows/s  failed %d  refused %d  p99 %s  in flight %d",
		int(now.Sub(start).Seconds()+0.5), phase, rate, bad, refused, p99, r.inFlight.Load())
	if r.s.open {
		line += fmt.Sprintf("  dropped %d", r.dropped.Load())
	}
	r.progressf("%s", line)
	return done, now
}

// every calls fn every d until the returned function is called, when
// progress is wanted at all.
func (r *runner) every(d time.Duration, fn func()) (stop func()) {
	if r.s.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(d)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				fn()
			case <-done:
				return
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// cleanup ends the sessions the refresh flow kept open, when flows log out.
func (r *runner) cleanup(ctx context.Context) {
	if !r.s.Logout || ctx.Err() != nil {
		return
	}
	for _, w := range r.workers {
		if w.refreshSession != "" {
			_ = w.logout(ctx, nil, w.refreshSession)
			w.refreshSession = ""
		}
	}
}
