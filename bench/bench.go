// Package bench is Latchkey's load generator: it drives complete, real login
// flows over HTTP against a running server and reports what an operator
// needs to size a deployment.
//
// What it measures. Each flow is a whole user journey, every response
// checked: an OTP returned directly, received by email or SMS, or read from
// the dev inbox, a magic link returned directly or received by email, then
// opened and exchanged, or a refresh-token rotation, each login followed by
// a logout so that sessions do not pile up on a long run. Email and SMS
// reach the bench as they would reach a user: the server sends them over
// SMTP to the bench's loopback SMTP sink, or through Twilio's API to its
// Twilio-compatible SMS sink, and the flow reads the code or link from what
// arrives; the report adds how long each message took from the send's
// answer to its arrival, and the connections the sinks accepted per message
// (what a provider would see of the server's connection reuse). A flow with any
// unexpected status or missing field counts as failed and is never timed as
// a success; one cut short by a 503, the answer of a server shedding load
// (or without its database), counts as refused, apart from the failures,
// and the completed flows per second are the goodput. For every flow and
// every endpoint the report gives throughput
// and latency percentiles (from log-linear histograms accurate to about 1%,
// kept per worker and merged at the end, so recording a sample takes no
// lock); with a server process ID it also gives the server's CPU time per
// flow, its CPU use in cores and its memory, and the tool's own CPU time
// per flow, since the two usually share a machine. With the signing ceiling
// it compares the login rate reached with the rate at which this machine
// signs tokens at all: a login signs two, and RSA signing is what bounds a
// login server, so the ratio says how much else the server spends. The
// ceiling is measured in the tool's process, so it describes the server's
// machine only when both run on it.
//
// How. Flows log in as seeded users bench-<i>@bench.latchkey.test. Worker
// k of W (the virtual users of a closed loop, or the flows an open loop
// may have in flight) owns users k, k+W, k+2W..., so no two flows in flight
// use the same user: a user's new code replaces the previous one. In a
// closed loop each virtual user runs flows back to back, and latency runs
// from each flow's start. In an open loop flows start on a fixed schedule
// whatever the server's speed, up to a cap on flows in flight; flows that
// could not start are counted as dropped, and latency runs from the
// scheduled start, so a server falling behind shows in the percentiles
// instead of slowing the load down. A warm-up period runs flows without
// measuring them. The package takes its clock and randomness from Config,
// so it never reads the wall clock itself.
package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Flow names, as given to Config.Flows and shown in the report.
const (
	// FlowOTPDirect asks for a passcode returned in the send response
	// ("channel":"direct") and exchanges it for tokens.
	FlowOTPDirect = "otp-direct"
	// FlowOTPEmail sends a passcode by email, receives it at the bench's
	// SMTP sink as a user's mailbox would, and exchanges it for tokens.
	FlowOTPEmail = "otp-email"
	// FlowOTPEmailInbox sends a passcode by email, reads it from the dev
	// inbox (dev mode only) and exchanges it for tokens.
	FlowOTPEmailInbox = "otp-email-inbox"
	// FlowOTPSMS sends a passcode by SMS to the user's phone number,
	// receives it at the bench's Twilio-compatible SMS sink, and exchanges
	// it for tokens.
	FlowOTPSMS = "otp-sms"
	// FlowLink asks for a magic link returned directly, opens it as a
	// browser would (one redirect, not followed) and exchanges its code.
	FlowLink = "link"
	// FlowMagicLink sends a magic link by email, receives it at the SMTP
	// sink, opens it as a browser would (one redirect, not followed) and
	// exchanges its code.
	FlowMagicLink = "magic-link"
	// FlowRefresh rotates a refresh token that an untimed login obtained.
	FlowRefresh = "refresh"
)

// Defaults, used for zero values in Config and by the command's flags.
const (
	DefaultURL         = "http://127.0.0.1:7080"
	DefaultRedirectURI = "http://localhost:8080/complete" // the dev demo app's
	DefaultUsers       = 10000
	DefaultConcurrency = 16
	DefaultDuration    = 30 * time.Second
	DefaultWarmup      = 2 * time.Second
	// OpenLoopFactor bounds an open loop's flows in flight at this many
	// times the concurrency.
	OpenLoopFactor = 8
	// DefaultSMTPSinkAddr and DefaultSMSSinkAddr are where the sinks
	// listen when a flow needs them.
	DefaultSMTPSinkAddr = "127.0.0.1:2525"
	DefaultSMSSinkAddr  = "127.0.0.1:8026"
	// ceilingDuration is how long the signing ceiling is measured.
	ceilingDuration = 2 * time.Second
)

// Config is one benchmark run. Zero values take the defaults noted;
// booleans are off when zero (the command turns Seed and Logout on by
// default).
type Config struct {
	// URL is the server's base URL (DefaultURL when empty).
	URL string
	// ClientID and ClientSecret are an app's credentials; the run obtains
	// client access tokens with them (client_credentials).
	ClientID     string
	ClientSecret string
	// Flows lists the flows to run, taking turns: round-robin per virtual
	// user in a closed loop, by arrival in an open loop ([FlowOTPDirect]
	// when empty).
	Flows []string
	// Concurrency is the number of virtual users of a closed loop, and an
	// open loop's cap on flows in flight divided by OpenLoopFactor
	// (DefaultConcurrency when zero).
	Concurrency int
	// Rate, when positive, makes the run an open loop: this many flows per
	// second start on a fixed schedule.
	Rate float64
	// Duration is how long flows are measured (DefaultDuration when zero
	// and Count is zero).
	Duration time.Duration
	// Count, when positive, measures this many flows instead of running for
	// Duration.
	Count int
	// Warmup is how long flows run unmeasured before measuring starts.
	Warmup time.Duration
	// Users is the number of users flows log in as (DefaultUsers when
	// zero).
	Users int
	// Seed creates the users first (an existing user is fine).
	Seed bool
	// Logout ends each login flow's session as part of the flow, so that a
	// long run leaves no sessions behind.
	Logout bool
	// RedirectURI is the magic links' redirect URI, one of the app's
	// (DefaultRedirectURI when empty).
	RedirectURI string
	// SMTPSink and SMSSink, when set, are running sinks the flows that
	// need one receive their messages at; otherwise Run starts one on
	// SMTPSinkAddr or SMSSinkAddr (DefaultSMTPSinkAddr, DefaultSMSSinkAddr
	// when empty) for the run, when a flow needs it.
	SMTPSink     *SMTPSink
	SMSSink      *SMSSink
	SMTPSinkAddr string
	SMSSinkAddr  string
	// ServerPID, when positive, is the server's process ID on this machine:
	// its CPU time and memory are sampled from /proc.
	ServerPID int
	// Ceiling measures the signing ceiling before the run (which needs
	// Rand).
	Ceiling bool
	// Progress, when set, receives a progress line every second.
	Progress io.Writer
	// Now reads the clock. Required.
	Now func() time.Time
	// Rand is the source of randomness (for the ceiling's throw-away key).
	Rand io.Reader

	// Target is the server's kind: TargetLatchkey (when empty) or
	// TargetSupabase, which runs the otp-email flow against Supabase Auth.
	Target string
	// SupabaseKey is a Supabase Auth service-role key (see
	// SupabaseServiceKey), sent as apikey and used to seed users.
	SupabaseKey string
	// DatabasePID, when positive, is the process ID of the server's
	// database on this machine, such as PostgreSQL's postmaster: the CPU
	// time of it and of its children (its backends, those that exited
	// included) is sampled from /proc.
	DatabasePID int
}

// flowKind is a flow, as an index into per-flow tables.
type flowKind int

const (
	kindOTPDirect flowKind = iota
	kindOTPEmail
	kindOTPEmailInbox
	kindOTPSMS
	kindLink
	kindMagicLink
	kindRefresh
	numKinds
)

var kindNames = [numKinds]string{FlowOTPDirect, FlowOTPEmail, FlowOTPEmailInbox, FlowOTPSMS, FlowLink, FlowMagicLink, FlowRefresh}

// FlowNames lists every flow, in the report's order of kinds.
func FlowNames() []string { return kindNames[:] }

func (k flowKind) String() string { return kindNames[k] }

// isLogin reports whether the flow is a login, which signs an access token
// and an ID token and so counts toward the signing ceiling's efficiency.
func (k flowKind) isLogin() bool { return k != kindRefresh }

// bySMTP and bySMS report whether the flow receives its message at the
// SMTP sink or at the SMS sink.
func (k flowKind) bySMTP() bool { return k == kindOTPEmail || k == kindMagicLink }
func (k flowKind) bySMS() bool  { return k == kindOTPSMS }

// settings is a checked Config with its defaults applied.
type settings struct {
	Config
	base        *url.URL
	kinds       []flowKind // the round-robin order
	workers     int        // virtual users (closed) or the in-flight cap (open)
	open        bool
	maxInFlight int
}

// check validates cfg and applies the defaults.
func check(cfg Config) (*settings, error) {
	s := &settings{Config: cfg}
	if s.Now == nil {
		return nil, errors.New("bench: Config.Now is required")
	}
	if s.URL == "" {
		s.URL = DefaultURL
	}
	u, err := url.Parse(strings.TrimRight(s.URL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("bench: the server URL %q must be an absolute http or https URL", s.URL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("bench: the server URL %q must have no query or fragment", s.URL)
	}
	s.base = u
	s.URL = u.String()
	if (s.ClientID == "" || s.ClientSecret == "") && s.Target != TargetSupabase {
		return nil, errors.New("bench: a client ID and client secret are required")
	}
	if len(s.Flows) == 0 {
		s.Flows = []string{FlowOTPDirect}
	}
	for _, name := range s.Flows {
		k, ok := kindByName(strings.TrimSpace(name))
		if !ok {
			return nil, fmt.Errorf("bench: unknown flow %q (known: %s)", name, strings.Join(kindNames[:], ", "))
		}
		s.kinds = append(s.kinds, k)
	}
	switch {
	case s.Concurrency < 0:
		return nil, fmt.Errorf("bench: concurrency must be positive, not %d", s.Concurrency)
	case s.Concurrency == 0:
		s.Concurrency = DefaultConcurrency
	}
	if s.Rate < 0 || s.Rate != s.Rate || s.Rate > 1e6 {
		return nil, fmt.Errorf("bench: rate must be between 0 and 1000000 flows per second, not %v", s.Rate)
	}
	if s.Count < 0 {
		return nil, fmt.Errorf("bench: count must not be negative, not %d", s.Count)
	}
	if s.Duration < 0 || s.Warmup < 0 {
		return nil, errors.New("bench: duration and warm-up must not be negative")
	}
	if s.Count == 0 && s.Duration == 0 {
		s.Duration = DefaultDuration
	}
	switch {
	case s.Users < 0:
		return nil, fmt.Errorf("bench: users must be positive, not %d", s.Users)
	case s.Users == 0:
		s.Users = DefaultUsers
	}
	if s.RedirectURI == "" {
		s.RedirectURI = DefaultRedirectURI
	}
	if s.uses(kindOTPSMS) && s.Users > maxPhoneUsers {
		return nil, fmt.Errorf("bench: the %s flow has phone numbers for at most %d users, not %d", FlowOTPSMS, maxPhoneUsers, s.Users)
	}
	s.SMTPSinkAddr = cmp.Or(s.SMTPSinkAddr, DefaultSMTPSinkAddr)
	s.SMSSinkAddr = cmp.Or(s.SMSSinkAddr, DefaultSMSSinkAddr)
	if s.ServerPID < 0 || s.DatabasePID < 0 {
		return nil, errors.New("bench: process IDs must be positive")
	}
	if s.Ceiling && s.Rand == nil {
		return nil, errors.New("bench: the signing ceiling needs Config.Rand")
	}
	if err := s.checkTarget(); err != nil {
		return nil, err
	}
	s.open = s.Rate > 0
	if s.open {
		// Every flow in flight needs a user of its own, so the cap is also
		// bounded by the users.
		s.maxInFlight = min(s.Concurrency*OpenLoopFactor, s.Users)
		s.workers = s.maxInFlight
	} else {
		if s.Users < s.Concurrency {
			return nil, fmt.Errorf("bench: users (%d) must be at least the concurrency (%d): each virtual user needs users of its own",
				s.Users, s.Concurrency)
		}
		s.maxInFlight = s.Concurrency
		s.workers = s.Concurrency
	}
	return s, nil
}

func kindByName(name string) (flowKind, bool) {
	for k, n := range kindNames {
		if n == name {
			return flowKind(k), true
		}
	}
	return 0, false
}

// usesFunc reports whether the run includes a flow for which f holds.
func (s *settings) usesFunc(f func(flowKind) bool) bool { return slices.ContainsFunc(s.kinds, f) }

// uses reports whether the run includes flow k.
func (s *settings) uses(k flowKind) bool {
	for _, x := range s.kinds {
		if x == k {
			return true
		}
	}
	return false
}

// Run runs the benchmark described by cfg against a running server and
// returns its report. It fails before any load when the configuration is
// wrong, the server cannot be reached, the credentials are refused, or the
// users cannot be seeded; failures of flows during the run are reported,
// not returned. When ctx ends during the load, the flows in flight are
// abandoned and the report covers what was measured until then.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	s, err := check(cfg)
	if err != nil {
		return nil, err
	}
	c := newClient(s)
	defer c.close()
	// Against Supabase Auth there is no client token: check allows it only
	// the otp-email flow, without the ceiling, so the inbox check, the
	// refresh flow's preparation and its clean-up have nothing to do.
	var tok *clientToken
	if !s.supabase() {
		if tok, err = c.clientToken(ctx); err != nil {
			return nil, err
		}
	}
	r := newRunner(s, c)
	if err := r.checkProcesses(); err != nil {
		return nil, err
	}
	if s.uses(kindOTPEmailInbox) {
		if err := c.checkInbox(ctx); err != nil {
			return nil, err
		}
	}
	stop, err := r.startSinks()
	if err != nil {
		return nil, err
	}
	defer stop()
	if s.Ceiling {
		if r.ceiling, err = measureCeiling(ctx, s, tok); err != nil {
			return nil, err
		}
	}
	if s.Seed {
		if s.supabase() {
			if err := c.preparePasswordHash(s.Rand); err != nil {
				return nil, err
			}
		}
		if err := r.seed(ctx); err != nil {
			return nil, err
		}
	}
	if err := r.prepare(ctx); err != nil {
		return nil, err
	}
	r.load(ctx)
	r.cleanup(ctx)
	return r.report(), nil
}
