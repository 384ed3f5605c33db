package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/config"
	"github.com/latchkeyhq/latchkey/httpapi"
)

// cmdServe runs the server until ctx is cancelled (SIGINT or SIGTERM), then
// stops accepting connections and waits for requests in flight. dev turns
// on dev mode with its defaults and the demo app.
func cmdServe(ctx context.Context, args []string, e env, dev bool) int {
	name := "serve"
	if dev {
		name = "dev"
	}
	fs := newFlagSet(name, serveUsage(name), e)
	if code := noArguments(fs, args, e); code >= 0 {
		return code
	}
	cfg, ok := loadConfig(e, dev)
	if !ok {
		return exitUsage
	}
	e.dev = dev
	log := newLogger(cfg, e.stderr)
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		fmt.Fprintln(e.stderr, "latchkey: LATCHKEY_ADDR:", err)
		return exitError
	}
	defer ln.Close()
	cfg.Listening(ln.Addr().String())
	tel, err := newTelemetry(ctx, cfg, e, log, dev)
	if err != nil {
		fmt.Fprintln(e.stderr, "latchkey:", err)
		return exitError
	}
	defer tel.close(log)
	sys, err := open(ctx, cfg, e, log, tel)
	if err != nil {
		fmt.Fprintln(e.stderr, "latchkey:", err)
		return exitError
	}
	defer sys.Close()
	sys.warnMissingProviders()
	if cfg.Dev {
		creds, err := showDemoApp(ctx, sys, e)
		if err != nil {
			fmt.Fprintln(e.stderr, "latchkey: demo app:", err)
			return exitError
		}
		sys.demoAppID = creds.AppID
	}
	if err := serve(ctx, sys, ln, e); err != nil {
		log.Error("server stopped", "err", err)
		return exitError
	}
	return exitOK
}

func serve(ctx context.Context, sys *system, ln net.Listener, e env) error {
	sys.warnTestIdentifiers(ctx)
	deps := httpapi.Deps{
		Log: sys.log, Store: sys.store, OAuth: sys.oauth, Issuer: sys.issuer, Users: sys.users,
		Login: sys.login, Sessions: sys.sessions, PublicURL: sys.cfg.PublicURL, Now: e.now, Rand: e.rand,
		TrustedProxies: sys.cfg.TrustedProxies, MaxInFlight: sys.cfg.MaxInFlight, Busy: sys.tel.busy(),
	}
	if sys.cfg.Dev {
		deps.DevInbox, deps.DevAppID = sys.store, sys.demoAppID
	}
	draining := make(chan struct{})
	deps.Draining = draining
	handler := sys.tel.handler(httpapi.NewHandler(deps))
	conns := newConnTracker()
	srv := &http.Server{
		Handler:           handler,
		ConnState:         conns.track,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	if addr := sys.tel.metricsAddr(); addr != "" {
		sys.log.Info("metrics listening", "addr", addr, "path", "/metrics")
	}
	// Metrics are served until the server has stopped, so that a scrape
	// sees the drain.
	defer sys.tel.serveMetrics(sys.log)()
	sys.log.Info("latchkey listening", "version", latchkey.Version, "addr", ln.Addr().String(),
		"public_url", sys.cfg.PublicURL, "issuer", sys.cfg.Issuer, "database", sys.cfg.Database.Driver, "dev", sys.cfg.Dev)
	if e.listening != nil {
		e.listening(ln.Addr().String())
	}
	if sys.cfg.PprofAddr != "" {
		go servePprof(ctx, sys)
	}
	go sys.maintain(ctx, e)
	// The outbox outlives ctx: it is stopped after the HTTP server, so
	// that the deliveries in flight finish and are recorded.
	go sys.outbox.Run(context.WithoutCancel(ctx))

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		sys.outbox.Stop(context.Background())
		return err
	case <-ctx.Done():
	}
	return sys.drain(srv, ln, conns, draining)
}

// warnTestIdentifiers logs a warning for every app with test identifiers:
// their fixed codes log in without anything being delivered, which belongs
// in CI and app store review, and nowhere else.
func (s *system) warnTestIdentifiers(ctx context.Context) {
	list, err := s.apps.List(ctx)
	if err != nil {
		s.log.Warn("list apps for test identifiers", "err", err)
		return
	}
	for _, a := range list {
		if n := len(a.Limits.TestIdentifiers); n > 0 {
			s.log.Warn("app has test identifiers: their fixed passcodes log in without any delivery",
				"app", a.ID, "name", a.Name, "count", n)
		}
	}
}

// maintenanceInterval is how often a node purges ended state, so the
// database stays proportional to what is live.
const maintenanceInterval = time.Minute

// maintain purges what is no longer needed, until ctx ends: retired keys
// whose publication has ended, expired and used codes, ended sessions and
// finished outbox messages.
func (s *system) maintain(ctx context.Context, e env) {
	tick := time.NewTicker(maintenanceInterval)
	defer tick.Stop()
	for {
		if n, err := s.keys.Prune(ctx); err != nil {
			s.log.Warn("prune signing keys", "err", err)
		} else if n > 0 {
			s.log.Info("removed retired signing keys", "count", n)
		}
		s.purge(ctx, e.now())
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// serveUsage is the help of serve and dev: what they do, and every
// configuration variable with its default.
func serveUsage(name string) string {
	b := &strings.Builder{}
	b.WriteString(name + "\n\n")
	if name == "dev" {
		b.WriteString("Runs a local server with LATCHKEY_DEV on, a SQLite file (latchkey-dev.db) unless\nLATCHKEY_DATABASE_URL is set, and a demo app whose credentials are printed at start.\n" +
			"\"latchkey dev inbox\" prints the newest dev inbox message's code and link (see its --help).\n\n")
	} else {
		b.WriteString("Runs the server until SIGTERM or SIGINT, then drains it and stops (see the README).\n\n")
	}
	b.WriteString("Configuration (environment variables):\n\n")
	tw := tabwriter.NewWriter(b, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "  VARIABLE\tDEFAULT\tMEANING")
	for _, v := range config.Vars {
		def := v.Default
		if def == "" {
			def = "(none)"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", v.Name, def, v.Help)
	}
	tw.Flush()
	return b.String()
}

// purge removes state that has ended by now. Used codes, ended sessions and
// rate-limit counters whose windows have all ended go at once: nothing reads
// them any more (a used code and a missing one get the same answer, and so
// do an ended counter and a missing one). Delivered or failed outbox records and dev inbox
// messages are kept for LATCHKEY_RECORD_RETENTION, for operators
// investigating.
func (s *system) purge(ctx context.Context, now time.Time) {
	purges := []struct {
		what   string
		fn     func(context.Context, time.Time) (int, error)
		cutoff time.Time
	}{
		{"challenges", s.store.DeleteExpiredChallenges, now},
		{"sessions", s.store.DeleteEndedSessions, now},
		{"rate-limit counters", s.store.DeleteExpiredCounters, now},
		{"messages", s.store.DeleteFinishedMessages, now.Add(-s.cfg.Retention)},
		{"dev inbox messages", s.store.DeleteDevMessages, now.Add(-s.cfg.Retention)},
	}
	for _, p := range purges {
		if n, err := purgeAll(ctx, p.fn, p.cutoff); err != nil {
			s.log.Warn("purge", "what", p.what, "err", err, "count", n)
		} else if n > 0 {
			s.log.Info("purged", "what", p.what, "count", n)
		}
	}
}

// purgeAll runs a purge until it is done. A purge deletes in committed
// chunks, so one cut short by the database deadline after deleting some
// goes on with a fresh deadline; one that deleted nothing stops.
func purgeAll(ctx context.Context, purge func(context.Context, time.Time) (int, error), cutoff time.Time) (int, error) {
	total := 0
	for {
		n, err := purge(ctx, cutoff)
		total += n
		if err == nil || n == 0 || !errors.Is(err, latchkey.ErrUnavailable) || ctx.Err() != nil {
			return total, err
		}
	}
}

// servePprof serves Go's profiler on its own address, never on the API's,
// so it is reachable only where the operator chose (e.g. loopback).
func servePprof(ctx context.Context, sys *system) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Addr: sys.cfg.PprofAddr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	sys.log.Info("profiler listening", "addr", sys.cfg.PprofAddr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		sys.log.Error("profiler", "err", err)
	}
}
