package bench

import (
	"fmt"
	"io"
	"maps"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Report is the result of a run. Rates are per second of the measured
// period, which starts after the warm-up and ends when the last measured
// flow ends; latencies are in milliseconds.
type Report struct {
	Settings Settings `json:"settings"`
	// Interrupted is set when the run was stopped before its end; the
	// report covers what was measured until then.
	Interrupted bool        `json:"interrupted,omitempty"`
	Seeding     *SeedReport `json:"seeding,omitempty"`
	// MeasuredSeconds is the length of the measured period.
	MeasuredSeconds float64 `json:"measured_seconds"`
	// Completed, Failed, Refused and PerSecond are over all flows.
	// PerSecond, completed flows per second, is the goodput; refused flows
	// met a 503 (the server shed them) and are not failures.
	Completed uint64  `json:"completed"`
	Failed    uint64  `json:"failed"`
	Refused   uint64  `json:"refused"`
	PerSecond float64 `json:"per_second"`
	// OpenLoop is set for an open loop (Config.Rate).
	OpenLoop  *OpenLoopReport  `json:"open_loop,omitempty"`
	Flows     []FlowReport     `json:"flows"`
	Endpoints []EndpointReport `json:"endpoints"`
	// Server is set with Config.ServerPID; Tool when /proc/self is
	// readable.
	Server *ProcessReport `json:"server,omitempty"`
	// Database is set with Config.DatabasePID: the database process and
	// its children (no memory figures).
	Database *ProcessReport `json:"database,omitempty"`
	Tool     *ProcessReport `json:"tool,omitempty"`
	Ceiling  *CeilingReport `json:"ceiling,omitempty"`
	// Sinks are the sinks that received the flows' messages, over the
	// measured period.
	Sinks []SinkReport `json:"sinks,omitempty"`
	// Warnings are problems that did not stop the run, such as a server
	// process that could not be sampled.
	Warnings []string `json:"warnings,omitempty"`
}

// Settings are the run's settings, after defaults, and where it ran.
type Settings struct {
	// Target is the server's kind: "latchkey" or "supabase".
	Target string `json:"target"`
	URL    string `json:"url"`
	// Flows are the flows in the order they take turns.
	Flows []string `json:"flows"`
	// Mode is "closed" (Concurrency virtual users back to back) or "open"
	// (Rate flows per second, at most MaxInFlight at once).
	Mode        string  `json:"mode"`
	Concurrency int     `json:"concurrency"`
	Rate        float64 `json:"rate,omitempty"`
	MaxInFlight int     `json:"max_in_flight"`
	// Duration is set for a timed run, Count for a counted one.
	Duration    string `json:"duration,omitempty"`
	Count       int    `json:"count,omitempty"`
	Warmup      string `json:"warmup"`
	Users       int    `json:"users"`
	Seed        bool   `json:"seed"`
	Logout      bool   `json:"logout"`
	RedirectURI string `json:"redirect_uri,omitempty"`
	ServerPID   int    `json:"server_pid,omitempty"`
	DatabasePID int    `json:"database_pid,omitempty"`
	GoVersion   string `json:"go_version"`
	GOMAXPROCS  int    `json:"gomaxprocs"`
	NumCPU      int    `json:"num_cpu"`
}

// SeedReport is how the users were seeded.
type SeedReport struct {
	Users    int     `json:"users"`
	Created  int     `json:"created"`
	Existing int     `json:"existing"`
	Seconds  float64 `json:"seconds"`
}

// OpenLoopReport counts an open loop's measured arrivals.
type OpenLoopReport struct {
	Started uint64 `json:"started"`
	// Dropped flows were due while every flow in flight was taken.
	Dropped uint64 `json:"dropped"`
}

// Latency summarises a latency histogram, in milliseconds.
type Latency struct {
	P50  float64 `json:"p50_ms"`
	P95  float64 `json:"p95_ms"`
	P99  float64 `json:"p99_ms"`
	Max  float64 `json:"max_ms"`
	Mean float64 `json:"mean_ms"`
}

// FlowReport is one flow's results. Latency is that of completed flows,
// from start (an open loop's scheduled start) to the end of the logout.
type FlowReport struct {
	// Flow is the flow's name, such as "otp-direct".
	Flow      string `json:"flow"`
	Completed uint64 `json:"completed"`
	Failed    uint64 `json:"failed"`
	// Refused counts flows that a 503 cut short.
	Refused uint64 `json:"refused"`
	// PerSecond is completed flows per second.
	PerSecond float64 `json:"per_second"`
	Latency   Latency `json:"latency"`
	// Failures counts failed flows by reason: the endpoint and what went
	// wrong.
	Failures map[string]uint64 `json:"failures,omitempty"`
	// Delivery is set for flows whose message arrives at a sink.
	Delivery *DeliveryReport `json:"delivery,omitempty"`
}

// DeliveryReport is how long messages took from the send's answer (200) to
// their arrival at the sink, in milliseconds. Messages the server delivered
// before its answer count as 0.
type DeliveryReport struct {
	Messages uint64  `json:"messages"`
	P50      float64 `json:"p50_ms"`
	P90      float64 `json:"p90_ms"`
	P99      float64 `json:"p99_ms"`
	Max      float64 `json:"max_ms"`
	Mean     float64 `json:"mean_ms"`
}

// SinkReport is what a sink received during the measured period.
type SinkReport struct {
	// Sink is "smtp" or "sms".
	Sink string `json:"sink"`
	Addr string `json:"addr"`
	// Messages counts messages received (an email once per recipient).
	Messages int64 `json:"messages"`
	// Connections counts connections accepted: SMTP sessions, or HTTP
	// connections to the SMS sink.
	Connections int64 `json:"connections"`
	// ConnectionsPer1000 is Connections per 1,000 Messages.
	ConnectionsPer1000 float64 `json:"connections_per_1000_messages"`
	// Dropped counts messages nobody awaited that the sink dropped past
	// its capacity.
	Dropped int64 `json:"dropped,omitempty"`
}

// EndpointReport is one endpoint's results. Latency is that of answered
// requests, errors included, refusals (503) not: the latency of what the
// server admitted.
type EndpointReport struct {
	// Endpoint is the method and route pattern, such as
	// "POST /cis/v1/auth/otp/send".
	Endpoint string `json:"endpoint"`
	// Requests counts every request sent, answered or not.
	Requests  uint64  `json:"requests"`
	PerSecond float64 `json:"per_second"`
	// Refused counts requests answered 503, which are not errors.
	Refused uint64 `json:"refused"`
	// Errors counts unexpected answers by status code, "transport" for
	// requests without an answer, and "invalid_response" for expected
	// statuses missing what the flow needs.
	Errors  map[string]uint64 `json:"errors"`
	Latency Latency           `json:"latency"`
}

// ProcessReport is a process's CPU and memory over the measured period.
type ProcessReport struct {
	// PID is the server's process ID; absent for the tool itself.
	PID int `json:"pid,omitempty"`
	// CPUMillisPerFlow is CPU time (user and system) per completed flow.
	CPUMillisPerFlow float64 `json:"cpu_ms_per_flow"`
	// CPUCores is CPU time per second of wall time.
	CPUCores  float64 `json:"cpu_cores"`
	RSSEndMB  float64 `json:"rss_end_mb,omitempty"`
	RSSPeakMB float64 `json:"rss_peak_mb,omitempty"`
}

// CeilingReport compares the login rate reached with the signing ceiling.
type CeilingReport struct {
	// Alg is the algorithm of the server's client access token, which the
	// ceiling was measured with.
	Alg string `json:"alg"`
	// SigningPerSecond is tokens signed per second on all cores.
	SigningPerSecond float64 `json:"signing_per_second"`
	// CeilingFlowsPerSecond is half of it: a login signs an access token
	// and an ID token.
	CeilingFlowsPerSecond float64 `json:"ceiling_flows_per_second"`
	// LoginFlowsPerSecond counts the completed login flows (otp-direct,
	// the OTP and link flows), not refreshes.
	LoginFlowsPerSecond float64 `json:"login_flows_per_second"`
	// Efficiency is LoginFlowsPerSecond / CeilingFlowsPerSecond; absent
	// when the run had no login flows.
	Efficiency *float64 `json:"efficiency,omitempty"`
}

func latencyOf(h *Histogram) Latency {
	return Latency{P50: ms(h.Quantile(0.50)), P95: ms(h.Quantile(0.95)), P99: ms(h.Quantile(0.99)),
		Max: ms(h.Max()), Mean: ms(h.Mean())}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// perSecond is n per second of secs, or zero.
func perSecond(n uint64, secs float64) float64 {
	if secs <= 0 {
		return 0
	}
	return float64(n) / secs
}

// report gathers the workers' measurements into the report.
func (r *runner) report() *Report {
	s := r.s
	rep := &Report{Interrupted: r.interrupted, Seeding: r.seeding, Settings: Settings{
		Target: s.Target, DatabasePID: s.DatabasePID, URL: s.URL, Concurrency: s.Concurrency, MaxInFlight: s.maxInFlight, Count: s.Count,
		Warmup: s.Warmup.String(), Users: s.Users, Seed: s.Seed, Logout: s.Logout, ServerPID: s.ServerPID,
		GoVersion: runtime.Version(), GOMAXPROCS: runtime.GOMAXPROCS(0), NumCPU: runtime.NumCPU(), Mode: "closed",
	}}
	for _, k := range s.kinds {
		rep.Settings.Flows = append(rep.Settings.Flows, k.String())
	}
	if s.uses(kindLink) || s.uses(kindMagicLink) {
		rep.Settings.RedirectURI = s.RedirectURI
	}
	if s.Count == 0 {
		rep.Settings.Duration = s.Duration.String()
	}
	if s.open {
		rep.Settings.Mode, rep.Settings.Rate = "open", s.Rate
		rep.OpenLoop = &OpenLoopReport{Started: r.started.Load(), Dropped: r.dropped.Load()}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var secs float64
	if r.measuring && !r.measureEnd.IsZero() {
		secs = r.measureEnd.Sub(r.measureStart).Seconds()
	}
	rep.MeasuredSeconds = secs

	// Flows, in the order given, each once.
	var logins uint64
	seen := map[flowKind]bool{}
	for _, k := range s.kinds {
		if seen[k] {
			continue
		}
		seen[k] = true
		h := NewHistogram()
		fr := FlowReport{Flow: k.String(), Failures: map[string]uint64{}}
		for _, w := range r.workers {
			fs := w.rec.flows[k]
			h.Merge(fs.hist)
			fr.Failed += fs.failed.Load()
			fr.Refused += fs.refused.Load()
			fs.mu.Lock()
			for why, n := range fs.why {
				fr.Failures[why] += n
			}
			fs.mu.Unlock()
		}
		fr.Completed = h.Count()
		fr.PerSecond = perSecond(fr.Completed, secs)
		fr.Latency = latencyOf(h)
		fr.Delivery = r.deliveryOf(k)
		if len(fr.Failures) == 0 {
			fr.Failures = nil
		}
		rep.Flows = append(rep.Flows, fr)
		rep.Completed += fr.Completed
		rep.Failed += fr.Failed
		rep.Refused += fr.Refused
		if k.isLogin() {
			logins += fr.Completed
		}
	}
	rep.PerSecond = perSecond(rep.Completed, secs)

	// Endpoints: every one the flows call, and the token endpoint if the
	// client token was renewed.
	for ep := range numEndpoints {
		expected := false
		for k := range seen {
			expected = expected || slices.Contains(s.flowEndpoints(k), ep)
		}
		if !expected || (ep == epLogout || ep == epSupabaseLogout) && !s.Logout {
			continue
		}
		h := NewHistogram()
		er := EndpointReport{Endpoint: ep.String(), Errors: map[string]uint64{}}
		for _, w := range r.workers {
			es := w.rec.endpoints[ep]
			if es == nil {
				continue
			}
			h.Merge(es.hist)
			er.Requests += es.requests.Load()
			er.Refused += es.refused.Load()
			es.mu.Lock()
			for key, n := range es.errors {
				er.Errors[key] += n
			}
			es.mu.Unlock()
		}
		if ep == epToken && er.Requests == 0 {
			continue
		}
		er.PerSecond = perSecond(er.Requests, secs)
		er.Latency = latencyOf(h)
		rep.Endpoints = append(rep.Endpoints, er)
	}

	// Processes.
	if s.ServerPID > 0 && r.measuring {
		if r.serverErr != nil {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("server process %d could not be sampled: %v", s.ServerPID, r.serverErr))
		} else {
			cpu := r.serverEnd.cpu - r.serverStart.cpu
			rep.Server = &ProcessReport{PID: s.ServerPID, CPUMillisPerFlow: cpuPerFlow(cpu, rep.Completed),
				CPUCores: cores(cpu, secs), RSSEndMB: mb(r.serverEnd.rss), RSSPeakMB: mb(r.serverPeakRSS)}
		}
	}
	if s.DatabasePID > 0 && r.measuring {
		if r.dbErr != nil {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("database process %d could not be sampled: %v", s.DatabasePID, r.dbErr))
		} else {
			cpu := r.dbEnd - r.dbStart
			rep.Database = &ProcessReport{PID: s.DatabasePID, CPUMillisPerFlow: cpuPerFlow(cpu, rep.Completed), CPUCores: cores(cpu, secs)}
		}
	}
	if r.selfOK && r.measuring {
		cpu := r.selfEnd - r.selfStart
		rep.Tool = &ProcessReport{CPUMillisPerFlow: cpuPerFlow(cpu, rep.Completed), CPUCores: cores(cpu, secs)}
	}

	if r.ceiling != nil {
		c := &CeilingReport{Alg: r.ceiling.alg, SigningPerSecond: r.ceiling.rate,
			CeilingFlowsPerSecond: r.ceiling.rate / 2, LoginFlowsPerSecond: perSecond(logins, secs)}
		if loginRun := slices.ContainsFunc(s.kinds, flowKind.isLogin); loginRun && c.CeilingFlowsPerSecond > 0 {
			e := c.LoginFlowsPerSecond / c.CeilingFlowsPerSecond
			c.Efficiency = &e
		}
		rep.Ceiling = c
	}
	if r.measuring {
		rep.Sinks = r.sinkReports()
	}
	if rep.Completed == 0 && rep.Failed == 0 && !r.interrupted {
		rep.Warnings = append(rep.Warnings, "no flow was measured")
	}
	return rep
}

// deliveryOf merges the workers' delivery latencies of flow k, or returns
// nil for a flow that uses no sink.
func (r *runner) deliveryOf(k flowKind) *DeliveryReport {
	if !k.bySMTP() && !k.bySMS() {
		return nil
	}
	h := NewHistogram()
	for _, w := range r.workers {
		h.Merge(w.rec.flows[k].delivery)
	}
	return &DeliveryReport{Messages: h.Count(), P50: ms(h.Quantile(0.50)), P90: ms(h.Quantile(0.90)),
		P99: ms(h.Quantile(0.99)), Max: ms(h.Max()), Mean: ms(h.Mean())}
}

// sinkReports gives what each sink received over the measured period.
func (r *runner) sinkReports() []SinkReport {
	a, b := r.sinkStart, r.sinkEnd
	if b == (sinkSample{}) {
		b = r.sampleSinks() // the period has not ended: interrupted
	}
	var out []SinkReport
	if r.smtp != nil {
		out = append(out, sinkReport("smtp", r.smtp.Addr(), b.smtpMsgs-a.smtpMsgs, b.smtpConns-a.smtpConns, b.smtpDropped-a.smtpDropped))
	}
	if r.sms != nil {
		out = append(out, sinkReport("sms", r.sms.Addr(), b.smsMsgs-a.smsMsgs, b.smsConns-a.smsConns, b.smsDropped-a.smsDropped))
	}
	return out
}

func sinkReport(kind, addr string, msgs, conns, dropped int64) SinkReport {
	sr := SinkReport{Sink: kind, Addr: addr, Messages: msgs, Connections: conns, Dropped: dropped}
	if msgs > 0 {
		sr.ConnectionsPer1000 = 1000 * float64(conns) / float64(msgs)
	}
	return sr
}

func cpuPerFlow(cpu time.Duration, flows uint64) float64 {
	if flows == 0 {
		return 0
	}
	return ms(cpu) / float64(flows)
}

func cores(cpu time.Duration, secs float64) float64 {
	if secs <= 0 {
		return 0
	}
	return cpu.Seconds() / secs
}

func mb(bytes int64) float64 { return float64(bytes) / (1 << 20) }

// WriteText writes the report for people: the settings, a table of flows
// and one of endpoints, then the processes and the ceiling.
func (rep *Report) WriteText(w io.Writer) error {
	b := &strings.Builder{}
	st := rep.Settings
	fmt.Fprintf(b, "Latchkey bench: %s against %s (%s)\n", strings.Join(st.Flows, ", "), st.URL, targetName(st.Target))
	if st.Mode == "open" {
		fmt.Fprintf(b, "  load      open loop: %s flows/s on a fixed schedule, at most %d in flight\n",
			strconv.FormatFloat(st.Rate, 'f', -1, 64), st.MaxInFlight)
	} else {
		fmt.Fprintf(b, "  load      closed loop: %d virtual users, flows back to back\n", st.Concurrency)
	}
	run := st.Duration
	if st.Count > 0 {
		run = fmt.Sprintf("%d flows", st.Count)
	}
	fmt.Fprintf(b, "  measured  %s (%.1fs) after a %s warm-up", run, rep.MeasuredSeconds, st.Warmup)
	if rep.Interrupted {
		b.WriteString(", INTERRUPTED")
	}
	b.WriteString("\n")
	fmt.Fprintf(b, "  users     %d", st.Users)
	if rep.Seeding != nil {
		fmt.Fprintf(b, ", seeded in %.1fs (%d new, %d existing)", rep.Seeding.Seconds, rep.Seeding.Created, rep.Seeding.Existing)
	}
	b.WriteString("\n")
	logout := "no"
	if st.Logout {
		logout = "after every login, within the flow"
	}
	fmt.Fprintf(b, "  logout    %s\n", logout)
	fmt.Fprintf(b, "  runtime   %s, GOMAXPROCS %d, %d CPUs\n\n", st.GoVersion, st.GOMAXPROCS, st.NumCPU)

	rows := [][]string{{"flow", "completed", "failed", "refused", "per s", "p50", "p95", "p99", "max"}}
	for _, f := range rep.Flows {
		rows = append(rows, append([]string{f.Flow, u64(f.Completed), u64(f.Failed), u64(f.Refused), rate(f.PerSecond)},
			latencyCells(f.Latency)...))
	}
	if len(rep.Flows) > 1 {
		rows = append(rows, []string{"all", u64(rep.Completed), u64(rep.Failed), u64(rep.Refused), rate(rep.PerSecond), "", "", "", ""})
	}
	writeTable(b, rows, false)
	for _, f := range rep.Flows {
		for _, why := range sortedKeys(f.Failures) {
			fmt.Fprintf(b, "  %s failed %d× at %s\n", f.Flow, f.Failures[why], why)
		}
	}
	if rep.OpenLoop != nil {
		fmt.Fprintf(b, "  open loop: %d flows started on schedule, %d dropped at the cap of %d in flight\n",
			rep.OpenLoop.Started, rep.OpenLoop.Dropped, st.MaxInFlight)
	}
	fmt.Fprintf(b, "  goodput %s flows/s completed; %d refused by the server (503), %d failed\n",
		rate(rep.PerSecond), rep.Refused, rep.Failed)
	b.WriteString("\n")
	writeDelivery(b, rep)

	rows = [][]string{{"endpoint", "requests", "per s", "refused", "p50", "p95", "p99", "max", "errors"}}
	for _, e := range rep.Endpoints {
		rows = append(rows, append(append([]string{e.Endpoint, u64(e.Requests), rate(e.PerSecond), u64(e.Refused)},
			latencyCells(e.Latency)...), errorCells(e.Errors)))
	}
	writeTable(b, rows, true)

	if rep.Server != nil || rep.Database != nil || rep.Tool != nil || rep.Ceiling != nil {
		b.WriteString("\n")
	}
	if p := rep.Server; p != nil {
		fmt.Fprintf(b, "server    pid %d: %.3f ms CPU per flow, %.2f cores; RSS %.1f MB at end, %.1f MB peak\n",
			p.PID, p.CPUMillisPerFlow, p.CPUCores, p.RSSEndMB, p.RSSPeakMB)
	}
	if p := rep.Database; p != nil {
		fmt.Fprintf(b, "database  pid %d and its children: %.3f ms CPU per flow, %.2f cores\n",
			p.PID, p.CPUMillisPerFlow, p.CPUCores)
	}
	if p := rep.Tool; p != nil {
		fmt.Fprintf(b, "load tool %.3f ms CPU per flow, %.2f cores\n", p.CPUMillisPerFlow, p.CPUCores)
	}
	if c := rep.Ceiling; c != nil {
		fmt.Fprintf(b, "ceiling   %s signing: %.0f tokens/s on %d cores = %.1f login flows/s (2 signatures each)\n",
			c.Alg, c.SigningPerSecond, st.GOMAXPROCS, c.CeilingFlowsPerSecond)
		if c.Efficiency != nil {
			fmt.Fprintf(b, "          measured %.1f login flows/s: efficiency %.1f%% of the ceiling\n",
				c.LoginFlowsPerSecond, 100**c.Efficiency)
		} else {
			b.WriteString("          no login flows were run: no efficiency\n")
		}
	}
	for _, warn := range rep.Warnings {
		fmt.Fprintf(b, "warning: %s\n", warn)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeDelivery writes the delivery latencies of the flows that have them,
// and what the sinks received.
func writeDelivery(b *strings.Builder, rep *Report) {
	rows := [][]string{{"delivery (answer to arrival)", "messages", "p50", "p90", "p99", "max"}}
	for _, f := range rep.Flows {
		if d := f.Delivery; d != nil {
			rows = append(rows, append([]string{f.Flow, u64(d.Messages)}, msCells(d.P50, d.P90, d.P99, d.Max)...))
		}
	}
	if len(rows) == 1 {
		return
	}
	writeTable(b, rows, false)
	for _, s := range rep.Sinks {
		unit := "SMTP connections"
		if s.Sink == "sms" {
			unit = "HTTP connections"
		}
		fmt.Fprintf(b, "  %s sink %s: %d messages, %d %s (%.1f per 1,000 messages)", s.Sink, s.Addr, s.Messages,
			s.Connections, unit, s.ConnectionsPer1000)
		if s.Dropped > 0 {
			fmt.Fprintf(b, ", %d dropped unread", s.Dropped)
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
}

// msCells renders latencies in milliseconds as table cells.
func msCells(vs ...float64) []string {
	var cells []string
	for _, v := range vs {
		cells = append(cells, formatDuration(time.Duration(v*float64(time.Millisecond))))
	}
	return cells
}

// latencyCells renders p50, p95, p99 and max as table cells.
func latencyCells(l Latency) []string {
	var cells []string
	for _, v := range []float64{l.P50, l.P95, l.P99, l.Max} {
		cells = append(cells, formatDuration(time.Duration(v*float64(time.Millisecond))))
	}
	return cells
}

func errorCells(errs map[string]uint64) string {
	if len(errs) == 0 {
		return "-"
	}
	var parts []string
	for _, k := range sortedKeys(errs) {
		parts = append(parts, fmt.Sprintf("%s: %d", k, errs[k]))
	}
	return strings.Join(parts, ", ")
}

func u64(n uint64) string { return strconv.FormatUint(n, 10) }

func rate(r float64) string { return strconv.FormatFloat(r, 'f', 1, 64) }

// writeTable writes rows as aligned columns: the first left-aligned, the
// numbers right-aligned, and the last left-aligned when lastLeft is set.
func writeTable(b *strings.Builder, rows [][]string, lastLeft bool) {
	var widths []int
	for _, row := range rows {
		for i, cell := range row {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(cell))
		}
	}
	for _, row := range rows {
		var line strings.Builder
		for i, cell := range row {
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(cell))
			left := i == 0 || lastLeft && i == len(row)-1
			switch {
			case i == 0:
				line.WriteString(cell + pad)
			case left:
				line.WriteString("  " + cell + pad)
			default:
				line.WriteString("  " + pad + cell)
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}
}

func sortedKeys(m map[string]uint64) []string { return slices.Sorted(maps.Keys(m)) }

// formatDuration renders a latency with three significant digits.
func formatDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2fms", ms(d))
	case d < 100*time.Millisecond:
		return fmt.Sprintf("%.1fms", ms(d))
	case d < time.Second:
		return fmt.Sprintf("%.0fms", ms(d))
	default:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
}
