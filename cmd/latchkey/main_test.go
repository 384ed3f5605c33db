package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2/clientcredentials"
)

// testEnv is a program environment with its own variables and captured
// output; the database lives in a temporary directory.
type testEnv struct {
	t      *testing.T
	vars   map[string]string
	stdout *syncBuffer
	stderr *syncBuffer
	// now, when set, is the clock of the commands run from then on
	// (time.Now otherwise); a server already started keeps its own.
	now func() time.Time
}

func newTestEnv(t *testing.T) *testEnv {
	dir := t.TempDir()
	return &testEnv{t: t, stdout: &syncBuffer{}, stderr: &syncBuffer{}, vars: map[string]string{
		"LATCHKEY_ADDR":         "127.0.0.1:0",
		"LATCHKEY_DATABASE_URL": "sqlite:" + filepath.Join(dir, "latchkey.db"),
		"LATCHKEY_SECRET":       strings.Repeat("t", 32),
		"LATCHKEY_DRAIN_DELAY":  "0s",
	}}
}

func (te *testEnv) env() env {
	now := te.now
	if now == nil {
		now = time.Now
	}
	return env{
		getenv: func(k string) string { return te.vars[k] },
		stdout: te.stdout, stderr: te.stderr, now: now, rand: rand.Reader,
	}
}

// runCmd runs one CLI command to completion.
func (te *testEnv) runCmd(args ...string) (int, string, string) {
	te.t.Helper()
	te.stdout.Reset()
	te.stderr.Reset()
	code := run(context.Background(), args, te.env())
	return code, te.stdout.String(), te.stderr.String()
}

// serve starts the server command and returns its base URL; the server is
// stopped (as by SIGTERM) when the test ends, and must exit cleanly.
func (te *testEnv) serve(cmd string) string {
	te.t.Helper()
	base, stop := te.start(cmd)
	te.t.Cleanup(stop)
	return base
}

// start starts the server command and returns its base URL and a function
// that stops it (as by SIGTERM) and checks that it exited cleanly; calling
// it again does nothing.
func (te *testEnv) start(cmd string) (string, func()) {
	te.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	e := te.env()
	e.listening = func(a string) { addr <- a }
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{cmd}, e) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case code := <-done:
				if code != exitOK {
					te.t.Errorf("server exited with %d after shutdown: %s", code, te.stderr.String())
				}
			case <-time.After(20 * time.Second):
				te.t.Error("server did not shut down")
			}
		})
	}
	select {
	case a := <-addr:
		return "http://" + a, stop
	case code := <-done:
		cancel()
		te.t.Fatalf("%s exited with %d: %s", cmd, code, te.stderr.String())
	case <-time.After(30 * time.Second):
		te.t.Cleanup(stop)
		te.t.Fatal("server did not start")
	}
	return "", stop
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.Reset()
}

type credentials struct {
	AppID        string `json:"app_id"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

func (te *testEnv) createApp(args ...string) credentials {
	te.t.Helper()
	code, out, errOut := te.runCmd(append([]string{"apps", "create", "--json"}, args...)...)
	if code != exitOK {
		te.t.Fatalf("apps create: exit %d: %s", code, errOut)
	}
	var c credentials
	if err := json.Unmarshal([]byte(out), &c); err != nil || c.ClientSecret == "" {
		te.t.Fatalf("apps create --json printed %q: %v", out, err)
	}
	return c
}

// TestNewcomerFlow follows the README: create an app on an empty database,
// serve, get a client token with a standard OAuth2 client, verify it with a
// standard OIDC library through discovery, call the Users API, and rotate
// keys while tokens are in use.
func TestNewcomerFlow(t *testing.T) {
	te := newTestEnv(t)
	creds := te.createApp("--name", "Demo", "--redirect-uri", "http://localhost:8080/complete")
	base := te.serve("serve")
	te.vars["LATCHKEY_PUBLIC_URL"] = base // for CLI commands that print URLs
	ctx := context.Background()

	cc := clientcredentials.Config{ClientID: creds.ClientID, ClientSecret: creds.ClientSecret, TokenURL: base + "/oidc/token"}
	tok, err := cc.Token(ctx)
	if err != nil {
		t.Fatalf("client credentials with a real OAuth2 client: %v", err)
	}
	if tok.TokenType != "Bearer" || tok.Expiry.Before(time.Now().Add(59*time.Minute)) {
		t.Fatalf("token type %q expiry %v; want Bearer for an hour", tok.TokenType, tok.Expiry)
	}
	// client_secret_basic too.
	ccBasic := cc
	ccBasic.AuthStyle = 2 // oauth2.AuthStyleInHeader
	if _, err := ccBasic.Token(ctx); err != nil {
		t.Fatalf("client_secret_basic: %v", err)
	}

	provider, err := oidc.NewProvider(ctx, base+"/cis/oidc")
	if err != nil {
		t.Fatalf("OIDC discovery: %v", err)
	}
	verifier := provider.Verifier(&oidc.Config{ClientID: "userid-api", SupportedSigningAlgs: []string{"RS256"}})
	if _, err := verifier.Verify(ctx, tok.AccessToken); err != nil {
		t.Fatalf("OIDC library rejects the access token: %v", err)
	}

	client := cc.Client(ctx)
	resp, err := client.Post(base+"/cis/v1/users", "application/json", strings.NewReader(`{"email":"newcomer@example.com"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || !strings.Contains(string(body), `"result"`) {
		t.Fatalf("create user: %d %s", resp.StatusCode, body)
	}

	// Rotate keys with the CLI while the server runs, once the next key has
	// been published long enough (the CLI's clock is moved on): the old
	// token still verifies, and after the refresh interval new tokens use
	// the new key.
	te.now = func() time.Time { return time.Now().Add(6 * time.Minute) }
	if code, out, errOut := te.runCmd("keys", "rotate"); code != exitOK || !strings.Contains(out, "Signing with") {
		t.Fatalf("keys rotate: %d %s %s", code, out, errOut)
	}
	te.now = nil
	freshVerifier := oidc.NewVerifier(base+"/cis/oidc", oidc.NewRemoteKeySet(ctx, base+"/cis/oidc/jwks"),
		&oidc.Config{ClientID: "userid-api"})
	if _, err := freshVerifier.Verify(ctx, tok.AccessToken); err != nil {
		t.Fatalf("token signed before rotation no longer verifies: %v", err)
	}
	newTok, err := cc.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := freshVerifier.Verify(ctx, newTok.AccessToken); err != nil {
		t.Fatalf("token signed after rotation does not verify: %v", err)
	}

	code, out, _ := te.runCmd("keys", "list", "--json")
	var keys []map[string]any
	if code != exitOK || json.Unmarshal([]byte(out), &keys) != nil || len(keys) != 3 {
		t.Fatalf("keys list after rotation: %d %s; want retired, current and next", code, out)
	}
}

func TestAppsCommands(t *testing.T) {
	te := newTestEnv(t)
	creds := te.createApp("--name", "Shop", "--redirect-uri", "https://shop.example/cb", "--resource", "https://api.shop.example")

	code, out, _ := te.runCmd("apps", "list")
	if code != exitOK || !strings.Contains(out, creds.ClientID) || !strings.Contains(out, "Shop") {
		t.Fatalf("apps list: %d %s", code, out)
	}
	code, out, _ = te.runCmd("apps", "show", creds.ClientID, "--json")
	var view map[string]any
	if code != exitOK || json.Unmarshal([]byte(out), &view) != nil || view["app_id"] != creds.AppID {
		t.Fatalf("apps show by client ID: %d %s", code, out)
	}
	if strings.Contains(out, creds.ClientSecret) || strings.Contains(out, "secret_hash") {
		t.Fatal("apps show prints secret material")
	}

	code, out, errOut := te.runCmd("apps", "update", creds.AppID, "--name", "Shop 2", "--add-redirect-uri", "http://localhost:3000/cb",
		"--otp-length", "8", "--otp-expiry", "10m", "--max-failures", "5", "--lockout-duration", "30m",
		"--magic-link-expiry", "20m", "--access-token-ttl", "30m", "--id-token-ttl", "45m",
		"--refresh-token-ttl", "168h", "--session-ttl", "72h", "--hide-unknown-users", "--public-signup", "--management", "--json")
	if code != exitOK {
		t.Fatalf("apps update: %d %s", code, errOut)
	}
	_ = json.Unmarshal([]byte(out), &view)
	policy := view["policy"].(map[string]any)
	want := map[string]any{"otp_length": float64(8), "otp_expiry": "10m0s", "max_failures": float64(5), "lockout_duration": "30m0s",
		"magic_link_expiry": "20m0s", "access_token_ttl": "30m0s", "id_token_ttl": "45m0s", "refresh_token_ttl": "168h0m0s",
		"session_ttl": "72h0m0s", "hide_unknown_users": true, "public_signup": true}
	for k, v := range want {
		if policy[k] != v {
			t.Errorf("policy %s = %v; want %v", k, policy[k], v)
		}
	}
	if view["name"] != "Shop 2" || view["management"] != true || len(view["redirect_uris"].([]any)) != 2 {
		t.Errorf("after update: %s", out)
	}

	for _, bad := range [][]string{
		{"--otp-length", "3"}, {"--max-failures", "0"}, {"--access-token-ttl", "48h"},
		{"--add-redirect-uri", "http://evil.example/cb"}, {"--name", ""}, {"--otp-expiry", "soon"},
	} {
		code, _, errOut := te.runCmd(append([]string{"apps", "update", creds.AppID}, bad...)...)
		if code == exitOK || errOut == "" {
			t.Errorf("apps update %v succeeded; want a clear refusal", bad)
		}
	}
	code, out, _ = te.runCmd("apps", "show", creds.AppID, "--json")
	if code != exitOK || !strings.Contains(out, `"otp_length": 8`) {
		t.Fatalf("a refused update changed the app: %s", out)
	}

	code, out, _ = te.runCmd("apps", "rotate-secret", creds.AppID, "--json")
	var rotated credentials
	if code != exitOK || json.Unmarshal([]byte(out), &rotated) != nil || rotated.ClientSecret == creds.ClientSecret {
		t.Fatalf("rotate-secret: %d %s", code, out)
	}
	if code, _, _ = te.runCmd("apps", "delete", creds.AppID); code != exitOK {
		t.Fatal("apps delete failed")
	}
	if code, _, errOut = te.runCmd("apps", "show", creds.AppID); code == exitOK || !strings.Contains(errOut, "no app") {
		t.Fatalf("apps show after delete: %d %s", code, errOut)
	}
	if code, _, _ = te.runCmd("apps", "create", "--name", "Bad", "--redirect-uri", "javascript:alert(1)"); code == exitOK {
		t.Fatal("apps create accepted a javascript: redirect URI")
	}
}

func TestSecretIsShownOnceAndStoredHashed(t *testing.T) {
	te := newTestEnv(t)
	creds := te.createApp("--name", "Hashed")
	raw, err := os.ReadFile(strings.TrimPrefix(te.vars["LATCHKEY_DATABASE_URL"], "sqlite:"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(creds.ClientSecret)) {
		t.Fatal("the database file holds the client secret in clear")
	}
}

func TestServeHelpListsEveryVariable(t *testing.T) {
	te := newTestEnv(t)
	code, out, _ := te.runCmd("serve", "--help")
	if code != exitOK {
		t.Fatalf("serve --help exited %d", code)
	}
	for _, name := range []string{"LATCHKEY_ADDR", "LATCHKEY_DATABASE_URL", "LATCHKEY_PUBLIC_URL", "LATCHKEY_ISSUER",
		"LATCHKEY_SIGNING_ALG", "LATCHKEY_DEV", "LATCHKEY_SECRET", "LATCHKEY_LOG_LEVEL", "LATCHKEY_LOG_FORMAT", "LATCHKEY_CLIENT_TOKEN_TTL"} {
		if !strings.Contains(out, name) {
			t.Errorf("serve --help does not list %s", name)
		}
	}
}

func TestBadConfigurationStopsWithOneLinePerVariable(t *testing.T) {
	cases := map[string]string{
		"LATCHKEY_SIGNING_ALG":      "HS256",
		"LATCHKEY_ADDR":             "nowhere",
		"LATCHKEY_DATABASE_URL":     "mysql://x",
		"LATCHKEY_PUBLIC_URL":       "ftp://x",
		"LATCHKEY_DEV":              "maybe",
		"LATCHKEY_LOG_LEVEL":        "loud",
		"LATCHKEY_LOG_FORMAT":       "xml",
		"LATCHKEY_CLIENT_TOKEN_TTL": "48h",
		"LATCHKEY_SECRET":           "tiny-s3cr3t",
	}
	for name, value := range cases {
		t.Run(name, func(t *testing.T) {
			te := newTestEnv(t)
			te.vars[name] = value
			code, _, errOut := te.runCmd("serve")
			lines := strings.Split(strings.TrimSpace(errOut), "\n")
			if code != exitUsage || len(lines) != 1 || !strings.Contains(lines[0], name) {
				t.Fatalf("exit %d, stderr %q; want exit 2 and one line naming %s", code, errOut, name)
			}
			if name == "LATCHKEY_SECRET" && strings.Contains(errOut, value) {
				t.Fatal("the bad secret is echoed")
			}
		})
	}
}

func TestDevModeDemoApp(t *testing.T) {
	te := newTestEnv(t)
	dir := t.TempDir()
	te.vars["LATCHKEY_DATABASE_URL"] = "sqlite:" + filepath.Join(dir, "dev.db")
	delete(te.vars, "LATCHKEY_SECRET")
	base := te.serve("dev")
	first := te.stdout.String()
	for _, want := range []string{"export LATCHKEY_URL=" + base + "\n", "export LATCHKEY_CLIENT_ID=", "export LATCHKEY_CLIENT_SECRET=",
		base + "/dev/inbox", base + "/dev/complete"} {
		if !strings.Contains(first, want) {
			t.Fatalf("dev did not print %q: %s", want, first)
		}
	}
	for _, step := range []string{"opening the database", "loading the signing keys", "creating the demo app"} {
		if !strings.Contains(te.stderr.String(), "latchkey dev: "+step) {
			t.Errorf("dev did not say it was %s:\n%s", step, te.stderr.String())
		}
	}
	info, err := os.Stat(filepath.Join(dir, "dev.db.demo-app.json"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("demo credentials file: %v %v; want mode 0600", info, err)
	}
	var creds credentials
	raw, _ := os.ReadFile(filepath.Join(dir, "dev.db.demo-app.json"))
	_ = json.Unmarshal(raw, &creds)
	cc := clientcredentials.Config{ClientID: creds.ClientID, ClientSecret: creds.ClientSecret, TokenURL: base + "/oidc/token"}
	if _, err := cc.Token(context.Background()); err != nil {
		t.Fatalf("demo app credentials do not work: %v", err)
	}

	// A second run prints the same credentials and creates no second app.
	te.stdout.Reset()
	te.vars["LATCHKEY_DEV"] = "true"
	te2 := &testEnv{t: t, vars: te.vars, stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	te2.serve("dev")
	if !strings.Contains(te2.stdout.String(), "export LATCHKEY_CLIENT_SECRET="+creds.ClientSecret+"\n") {
		t.Fatalf("second dev run did not show the saved secret: %s", te2.stdout.String())
	}
	code, out, _ := te.runCmd("apps", "list", "--json")
	var apps []map[string]any
	if code != exitOK || json.Unmarshal([]byte(out), &apps) != nil || len(apps) != 1 {
		t.Fatalf("apps after two dev runs: %s; want the one demo app", out)
	}
}

// TestDevAddsTheCompletePageToAnOldDemoApp checks that a dev database whose
// demo app still has the old redirect URI gets the dev complete page added
// on the next run, and that its magic links then land there.
func TestDevAddsTheCompletePageToAnOldDemoApp(t *testing.T) {
	te := newTestEnv(t)
	delete(te.vars, "LATCHKEY_SECRET")
	old := te.createApp("--name", "Demo app", "--redirect-uri", "http://localhost:8080/complete")
	base := te.serve("dev")
	code, out, _ := te.runCmd("apps", "show", old.AppID, "--json")
	var view struct {
		RedirectURIs []string `json:"redirect_uris"`
	}
	if code != exitOK || json.Unmarshal([]byte(out), &view) != nil {
		t.Fatalf("apps show: %d %s", code, out)
	}
	want := []string{"http://localhost:8080/complete", base + "/dev/complete"}
	if strings.Join(view.RedirectURIs, " ") != strings.Join(want, " ") {
		t.Fatalf("demo app redirect URIs %v; want %v", view.RedirectURIs, want)
	}
}

func sleepShort() { time.Sleep(25 * time.Millisecond) }

// TestDevOnAPlainHTTPHost checks that a dev server whose public URL is
// plain http on a host other than localhost, where no app may take magic
// links, still starts, says so, and keeps the sample redirect URI.
func TestDevOnAPlainHTTPHost(t *testing.T) {
	te := newTestEnv(t)
	te.vars["LATCHKEY_PUBLIC_URL"] = "http://latchkey.test"
	te.serve("dev")
	if !strings.Contains(te.stderr.String(), "magic links cannot land on the dev page") ||
		!strings.Contains(te.stdout.String(), "magic links land on http://localhost:8080/complete\n") {
		t.Fatalf("stdout:\n%s\nstderr:\n%s\nwant a note that links keep to the sample redirect URI", te.stdout.String(), te.stderr.String())
	}
}
