package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/latchkeyhq/latchkey/bench"
)

// benchDevServer starts `latchkey dev` and returns its URL and the path of
// the demo app's credentials file, which `latchkey bench --credentials`
// reads.
func benchDevServer(t *testing.T) (base, credsFile string) {
	t.Helper()
	te := newTestEnv(t)
	dir := t.TempDir()
	te.vars["LATCHKEY_DATABASE_URL"] = "sqlite:" + filepath.Join(dir, "dev.db")
	te.vars["LATCHKEY_LOG_LEVEL"] = "warn" // not a line per request
	base = te.serve("dev")
	credsFile = filepath.Join(dir, "dev.db.demo-app.json")
	var creds credentials
	if err := json.Unmarshal(readFile(t, credsFile), &creds); err != nil {
		t.Fatal(err)
	}
	// A few users take every flow, faster than the cooldown; the other
	// limits stay on, so the limiter runs on every send.
	te.noResendCooldown(creds.ClientID)
	return base, credsFile
}

// runBench runs `latchkey bench` in an environment of its own and returns
// the exit code, stdout and stderr.
func runBench(t *testing.T, vars map[string]string, args ...string) (int, string, string) {
	t.Helper()
	te := &testEnv{t: t, vars: vars, stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	code := run(context.Background(), append([]string{"bench"}, args...), te.env())
	return code, te.stdout.String(), te.stderr.String()
}

func checkOrdered(t *testing.T, what string, l bench.Latency) {
	t.Helper()
	if !(0 < l.P50 && l.P50 <= l.P95 && l.P95 <= l.P99 && l.P99 <= l.Max) {
		t.Errorf("%s: percentiles out of order: %+v", what, l)
	}
}

// TestBenchAgainstDevServer runs every flow, really, against a dev server
// and checks the JSON report; then a run with a wrong secret must fail
// clearly.
func TestBenchAgainstDevServer(t *testing.T) {
	t.Parallel()
	base, credsFile := benchDevServer(t)
	code, out, errOut := runBench(t, map[string]string{}, "--url", base, "--credentials", credsFile,
		"--count", "60", "--concurrency", "4", "--users", "20", "--flows", "otp-direct,otp-email-inbox,link,refresh",
		"--ceiling", "--json", "-", "--warmup", "200ms")
	if code != exitOK {
		t.Fatalf("bench exited %d: %s", code, errOut)
	}
	var rep bench.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("stdout is not the JSON report: %v\n%s", err, out)
	}
	if !strings.Contains(errOut, "endpoint") || !strings.Contains(errOut, "seeding users") && !strings.Contains(errOut, "seeded 20 users") {
		t.Errorf("stderr lacks the progress and the text report:\n%s", errOut)
	}

	if rep.Completed != 60 || rep.Failed != 0 || rep.Interrupted {
		t.Errorf("completed %d, failed %d; want 60 and none", rep.Completed, rep.Failed)
	}
	var flows []string
	for _, f := range rep.Flows {
		flows = append(flows, f.Flow)
		if f.Completed == 0 || f.Failed != 0 || f.PerSecond <= 0 {
			t.Errorf("flow %s: %d completed, %d failed (%v)", f.Flow, f.Completed, f.Failed, f.Failures)
		}
		checkOrdered(t, f.Flow, f.Latency)
	}
	if !slices.Equal(flows, []string{"otp-direct", "otp-email-inbox", "link", "refresh"}) {
		t.Errorf("flows %v", flows)
	}
	var endpoints []string
	for _, e := range rep.Endpoints {
		if e.Endpoint == "POST /oidc/token" {
			continue // only if the client token was renewed
		}
		endpoints = append(endpoints, e.Endpoint)
		if e.Requests == 0 || len(e.Errors) != 0 {
			t.Errorf("endpoint %s: %d requests, errors %v", e.Endpoint, e.Requests, e.Errors)
		}
		checkOrdered(t, e.Endpoint, e.Latency)
	}
	want := []string{
		"POST /cis/v1/auth/otp/send", "POST /cis/v1/auth/otp/authenticate", "GET /dev/inbox/messages",
		"POST /cis/v1/auth/link/email/send", "GET /magic-link", "POST /cis/v1/auth/link/email/authenticate",
		"POST /cis/v1/auth/token/refresh", "POST /cis/v1/auth/session/logout",
	}
	if !slices.Equal(endpoints, want) {
		t.Errorf("endpoints %v; want %v", endpoints, want)
	}
	if c := rep.Ceiling; c == nil || c.Alg != "RS256" || c.SigningPerSecond <= 0 || c.Efficiency == nil || *c.Efficiency <= 0 {
		t.Errorf("ceiling %+v; want an efficiency", c)
	}
	if rep.Seeding == nil || rep.Seeding.Users != 20 || rep.Settings.Concurrency != 4 || rep.Settings.GOMAXPROCS == 0 {
		t.Errorf("seeding %+v, settings %+v", rep.Seeding, rep.Settings)
	}

	// A wrong secret: a clear refusal, nothing on stdout.
	code, out, errOut = runBench(t, map[string]string{}, "--url", base, "--credentials", credsFile,
		"--client-secret", "not-the-secret", "--count", "5", "--quiet")
	if code == exitOK || out != "" || !strings.Contains(errOut, "refused the client credentials") {
		t.Errorf("wrong secret: exit %d, stdout %q, stderr %q; want a clear refusal", code, out, errOut)
	}
}

// TestBenchOpenLoop runs flows at a fixed rate, with credentials from the
// environment and the text report on stdout.
func TestBenchOpenLoop(t *testing.T) {
	t.Parallel()
	base, credsFile := benchDevServer(t)
	var creds credentials
	code, _, errOut := runBench(t, map[string]string{}, "--url", base)
	if code != exitUsage || !strings.Contains(errOut, "no client credentials") {
		t.Fatalf("without credentials: exit %d, %s", code, errOut)
	}
	if err := json.Unmarshal(readFile(t, credsFile), &creds); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"LATCHKEY_BENCH_CLIENT_ID": creds.ClientID, "LATCHKEY_BENCH_CLIENT_SECRET": creds.ClientSecret}
	dir := t.TempDir()
	jsonFile := filepath.Join(dir, "report.json")
	code, out, errOut := runBench(t, vars, "--url", base, "--rate", "20", "--duration", "2s", "--warmup", "0s",
		"--users", "20", "--concurrency", "2", "--quiet", "--json", jsonFile)
	if code != exitOK {
		t.Fatalf("bench exited %d: %s", code, errOut)
	}
	if !strings.Contains(out, "open loop: 20 flows/s") || !strings.Contains(out, "otp-direct") || errOut != "" {
		t.Errorf("text report:\n%s\nstderr %q", out, errOut)
	}
	var rep bench.Report
	if err := json.Unmarshal(readFile(t, jsonFile), &rep); err != nil {
		t.Fatal(err)
	}
	// 2s at 20/s schedules 40 flows. Each is started, or dropped when the
	// 16 flows in flight already fill the cap (a busy machine drops some),
	// and every flow started completes.
	ol := rep.OpenLoop
	if ol == nil || ol.Started+ol.Dropped != 40 || ol.Started == 0 || rep.Completed != ol.Started || rep.Failed != 0 {
		t.Errorf("open loop %+v: completed %d, failed %d; want 40 scheduled and every started flow completed", ol, rep.Completed, rep.Failed)
	}
	if rep.Settings.Mode != "open" || rep.Settings.MaxInFlight != 16 {
		t.Errorf("settings %+v", rep.Settings)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// freeAddr returns a loopback address nothing listens on, for a sink the
// bench command starts itself.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// TestBenchDeliveredFlows runs the flows whose codes and links travel as a
// user's do, against a dev server that sends email over SMTP and SMS
// through Twilio's API, to the sinks the bench command starts.
func TestBenchDeliveredFlows(t *testing.T) {
	t.Parallel()
	smtpAddr, smsAddr := freeAddr(t), freeAddr(t)
	te := newTestEnv(t)
	dir := t.TempDir()
	for k, v := range map[string]string{
		"LATCHKEY_DATABASE_URL":   "sqlite:" + filepath.Join(dir, "dev.db"),
		"LATCHKEY_LOG_LEVEL":      "warn",
		"LATCHKEY_EMAIL_PROVIDER": "smtp", "LATCHKEY_SMTP_URL": "smtp://" + smtpAddr + "?starttls=off",
		"LATCHKEY_EMAIL_FROM":   "Bench <login@bench.latchkey.test>",
		"LATCHKEY_SMS_PROVIDER": "twilio", "LATCHKEY_TWILIO_API_URL": "http://" + smsAddr,
		"LATCHKEY_TWILIO_ACCOUNT_SID": bench.SMSSinkAccountSID, "LATCHKEY_TWILIO_AUTH_TOKEN": bench.SMSSinkAuthToken,
		"LATCHKEY_TWILIO_FROM": bench.SMSSinkFrom,
	} {
		te.vars[k] = v
	}
	base := te.serve("dev")
	credsFile := filepath.Join(dir, "dev.db.demo-app.json")
	var creds credentials
	if err := json.Unmarshal(readFile(t, credsFile), &creds); err != nil {
		t.Fatal(err)
	}
	// The users share a few numbers' prefixes, and log in faster than the
	// cooldown allows.
	if code, _, errOut := te.runCmd("apps", "update", creds.ClientID, "--resend-cooldown", "0", "--sms-prefix-per-hour", "0"); code != exitOK {
		t.Fatalf("apps update: %s", errOut)
	}

	code, out, errOut := runBench(t, map[string]string{}, "--url", base, "--credentials", credsFile,
		"--count", "30", "--concurrency", "3", "--users", "12", "--flows", "otp-email,otp-sms,magic-link",
		"--smtp-sink", smtpAddr, "--sms-sink", smsAddr, "--json", "-", "--warmup", "0s")
	if code != exitOK {
		t.Fatalf("bench exited %d: %s", code, errOut)
	}
	var rep bench.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("stdout is not the JSON report: %v\n%s", err, out)
	}
	if rep.Completed != 30 || rep.Failed != 0 {
		t.Errorf("completed %d, failed %d; want 30 and none: %+v", rep.Completed, rep.Failed, rep.Flows)
	}
	for _, f := range rep.Flows {
		if f.Completed == 0 || f.Failed != 0 {
			t.Errorf("flow %s: %d completed, %d failed (%v)", f.Flow, f.Completed, f.Failed, f.Failures)
		}
		if d := f.Delivery; d == nil || d.Messages != f.Completed || !(d.P50 <= d.P90 && d.P90 <= d.P99 && d.P99 <= d.Max) {
			t.Errorf("flow %s: delivery %+v; want one message per completed flow, percentiles in order", f.Flow, d)
		}
	}
	sinks := map[string]bench.SinkReport{}
	for _, s := range rep.Sinks {
		sinks[s.Sink] = s
	}
	// What arrived over the measured period: its edges cut through flows
	// in flight, and connections may all have been opened before it.
	if s := sinks["smtp"]; s.Addr != smtpAddr || s.Messages == 0 {
		t.Errorf("SMTP sink %+v; want the emails of the measured period", s)
	}
	if s := sinks["sms"]; s.Addr != smsAddr || s.Messages == 0 {
		t.Errorf("SMS sink %+v; want the SMS of the measured period", s)
	}
	for _, want := range []string{"delivery (answer to arrival)", "smtp sink " + smtpAddr, "SMTP connections"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("the text report lacks %q:\n%s", want, errOut)
		}
	}
}
