package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/latchkeyhq/latchkey/bench"
)

// benchUsage is the bench command's synopsis.
const benchUsage = `bench [flags]

Load-tests a running Latchkey server with complete, real login flows and
reports throughput, latency per flow and per endpoint, and optionally the
server's CPU and memory (--server-pid) and the signing ceiling (--ceiling).

Credentials: --client-id and --client-secret, or --credentials FILE (a JSON
file {"client_id","client_secret"}, such as the latchkey-dev.db.demo-app.json
that "latchkey dev" writes), or LATCHKEY_BENCH_CLIENT_ID and
LATCHKEY_BENCH_CLIENT_SECRET.

Flows:
  otp-direct       passcode returned in the send's answer ("channel":"direct")
  otp-email        passcode by email, received at the bench's SMTP sink
  otp-email-inbox  passcode by email, read from the dev inbox (latchkey dev)
  otp-sms          passcode by SMS, received at the bench's Twilio-compatible sink
  link             magic link returned in the send's answer, opened, exchanged
  magic-link       magic link by email, received at the SMTP sink, opened, exchanged
  refresh          refresh token rotation

Delivery: otp-email and magic-link start an SMTP sink on --smtp-sink, and
otp-sms an SMS sink on --sms-sink, for the run. Start the server pointed at
them, e.g. with the defaults:
  ` + "LATCHKEY_EMAIL_PROVIDER=smtp LATCHKEY_SMTP_URL='smtp://127.0.0.1:2525?starttls=off' LATCHKEY_EMAIL_FROM=login@bench.latchkey.test" + `
  ` + "LATCHKEY_SMS_PROVIDER=twilio LATCHKEY_TWILIO_API_URL=http://127.0.0.1:8026" + `
  ` + "LATCHKEY_TWILIO_ACCOUNT_SID=" + bench.SMSSinkAccountSID + " LATCHKEY_TWILIO_AUTH_TOKEN=" + bench.SMSSinkAuthToken + " LATCHKEY_TWILIO_FROM=" + bench.SMSSinkFrom + `
Users are seeded with phone numbers +1 AAA 555-01NN (fictional lines); raise
the app's limits for a load test: latchkey apps update APP --resend-cooldown 1s
--sends-per-hour 1000 --sends-per-day 1000 --sms-prefix-per-hour 0.

With --target supabase the otp-email flow runs against Supabase Auth
(GoTrue) at --url instead: POST /otp, the code read from the email at the
SMTP sink (point GOTRUE_SMTP_HOST and GOTRUE_SMTP_PORT at it), POST /verify,
POST /logout. Users are seeded through its admin API with a service-role
key: --supabase-key KEY, or --supabase-jwt-secret SECRET (its
GOTRUE_JWT_SECRET) to mint one. scripts/compare-supabase.sh runs both
servers side by side.`

// cmdBench is "latchkey bench": the load generator of package bench.
func cmdBench(ctx context.Context, args []string, e env) int {
	fs := newFlagSet("bench", benchUsage, e)
	var (
		cfg       bench.Config
		flows     string
		credsFile string
		jsonOut   string
		quiet     bool
		sbSecret  string
	)
	fs.StringVar(&cfg.URL, "url", bench.DefaultURL, "the server's base `URL`")
	fs.StringVar(&cfg.ClientID, "client-id", "", "the app's client `ID`")
	fs.StringVar(&cfg.ClientSecret, "client-secret", "", "the app's client `SECRET`")
	fs.StringVar(&credsFile, "credentials", "", "a JSON `FILE` with \"client_id\" and \"client_secret\"")
	fs.StringVar(&flows, "flows", bench.FlowOTPDirect, "comma-separated `FLOWS`, run round-robin per virtual user: "+
		strings.Join(bench.FlowNames(), ", "))
	fs.StringVar(&cfg.SMTPSinkAddr, "smtp-sink", bench.DefaultSMTPSinkAddr, "where the SMTP sink listens (`ADDR`) for otp-email and magic-link")
	fs.StringVar(&cfg.SMSSinkAddr, "sms-sink", bench.DefaultSMSSinkAddr, "where the Twilio-compatible SMS sink listens (`ADDR`) for otp-sms")
	fs.IntVar(&cfg.Concurrency, "concurrency", bench.DefaultConcurrency,
		fmt.Sprintf("virtual users running flows back to back (with --rate: the cap on flows in flight is %d times this)", bench.OpenLoopFactor))
	fs.Float64Var(&cfg.Rate, "rate", 0, "start this many flows per second on a fixed schedule (an open loop) instead")
	fs.DurationVar(&cfg.Duration, "duration", bench.DefaultDuration, "how long to measure")
	fs.IntVar(&cfg.Count, "count", 0, "measure this many flows instead of a duration")
	fs.DurationVar(&cfg.Warmup, "warmup", bench.DefaultWarmup, "run flows unmeasured this long first")
	fs.IntVar(&cfg.Users, "users", bench.DefaultUsers, "users to log in as: bench-<i>@bench.latchkey.test")
	fs.BoolVar(&cfg.Seed, "seed", true, "create the users first (existing ones are fine)")
	fs.BoolVar(&cfg.Logout, "logout", true, "end each login's session within the flow")
	fs.StringVar(&cfg.RedirectURI, "redirect-uri", bench.DefaultRedirectURI, "the magic links' redirect `URI`, one of the app's")
	fs.IntVar(&cfg.ServerPID, "server-pid", 0, "the server's process ID (`PID`), to report its CPU and memory (Linux)")
	fs.BoolVar(&cfg.Ceiling, "ceiling", false, "measure the signing ceiling first and report the efficiency against it")
	fs.StringVar(&jsonOut, "json", "", "also write the report as JSON to this `FILE` (\"-\": stdout, with the text report on stderr)")
	fs.BoolVar(&quiet, "quiet", false, "no progress lines")
	fs.StringVar(&cfg.Target, "target", bench.TargetLatchkey, "the server's `KIND`: "+bench.TargetLatchkey+" or "+bench.TargetSupabase+" (Supabase Auth)")
	fs.StringVar(&cfg.SupabaseKey, "supabase-key", "", "Supabase Auth service-role `KEY` (a JWT), to seed users")
	fs.StringVar(&sbSecret, "supabase-jwt-secret", "", "Supabase Auth's JWT `SECRET` (GOTRUE_JWT_SECRET), to mint a service-role key")
	fs.IntVar(&cfg.DatabasePID, "database-pid", 0, "the database's process ID (`PID`), such as PostgreSQL's postmaster, to report its and its children's CPU (Linux)")
	if code := noArguments(fs, args, e); code >= 0 {
		return code
	}
	if cfg.Target == bench.TargetSupabase && !flagGiven(fs, "flows") {
		flows = bench.FlowOTPEmail // the one flow Supabase Auth runs
	}
	for f := range strings.SplitSeq(flows, ",") {
		if f = strings.TrimSpace(f); f != "" {
			cfg.Flows = append(cfg.Flows, f)
		}
	}
	if err := benchTarget(&cfg, credsFile, sbSecret, e); err != nil {
		fmt.Fprintf(e.stderr, "latchkey bench: %v\n", err)
		return exitUsage
	}
	cfg.Now, cfg.Rand = e.now, e.rand
	if !quiet {
		cfg.Progress = e.stderr
	}

	rep, err := bench.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(e.stderr, "latchkey bench: %s\n", strings.TrimPrefix(err.Error(), "bench: "))
		return exitError
	}
	text := e.stdout
	if jsonOut == "-" {
		text = e.stderr
		if quiet {
			text = io.Discard
		}
	}
	if err := rep.WriteText(text); err != nil {
		fmt.Fprintf(e.stderr, "latchkey bench: writing the report: %v\n", err)
		return exitError
	}
	if jsonOut != "" {
		if err := writeBenchJSON(rep, jsonOut, e.stdout); err != nil {
			fmt.Fprintf(e.stderr, "latchkey bench: writing the JSON report: %v\n", err)
			return exitError
		}
	}
	if rep.Completed == 0 && !rep.Interrupted {
		fmt.Fprintln(e.stderr, "latchkey bench: no flow completed")
		return exitError
	}
	return exitOK
}

// benchTarget fills in what the target needs: Latchkey's client
// credentials, or a Supabase Auth service-role key, minted from its JWT
// secret unless given.
func benchTarget(cfg *bench.Config, credsFile, supabaseSecret string, e env) error {
	if cfg.Target != bench.TargetSupabase {
		return benchCredentials(cfg, credsFile, e.getenv)
	}
	if cfg.SupabaseKey != "" || supabaseSecret == "" {
		return nil
	}
	key, err := bench.SupabaseServiceKey(supabaseSecret, e.now())
	if err != nil {
		return err
	}
	cfg.SupabaseKey = key
	return nil
}

// benchCredentials fills in the client credentials: the flags first, then
// the credentials file, then the environment.
func benchCredentials(cfg *bench.Config, file string, getenv func(string) string) error {
	if file != "" && (cfg.ClientID == "" || cfg.ClientSecret == "") {
		raw, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("reading the credentials: %w", err)
		}
		var c struct {
			ClientID     string `json:"client_id"`
			ClientSecret string `json:"client_secret"`
		}
		if err := json.Unmarshal(raw, &c); err != nil || c.ClientID == "" || c.ClientSecret == "" {
			return fmt.Errorf("%s is not a JSON object with client_id and client_secret", file)
		}
		cfg.ClientID = orElse(cfg.ClientID, c.ClientID)
		cfg.ClientSecret = orElse(cfg.ClientSecret, c.ClientSecret)
	}
	cfg.ClientID = orElse(cfg.ClientID, getenv("LATCHKEY_BENCH_CLIENT_ID"))
	cfg.ClientSecret = orElse(cfg.ClientSecret, getenv("LATCHKEY_BENCH_CLIENT_SECRET"))
	if cfg.ClientID == "" || cfg.ClientSecret == "" {
		return errors.New("no client credentials: pass --client-id and --client-secret, or --credentials FILE " +
			`(such as the latchkey-dev.db.demo-app.json that "latchkey dev" writes), ` +
			"or set LATCHKEY_BENCH_CLIENT_ID and LATCHKEY_BENCH_CLIENT_SECRET")
	}
	return nil
}

// orElse returns a unless it is empty, else b.
func orElse(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// writeBenchJSON writes the report as indented JSON to path, or to stdout
// for "-".
func writeBenchJSON(rep *bench.Report, path string, stdout io.Writer) error {
	raw, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	raw = append(raw, '\n')
	if path == "-" {
		_, err = stdout.Write(raw)
		return err
	}
	return os.WriteFile(path, raw, 0o644)
}

// flagGiven reports whether the command line set the named flag.
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}
