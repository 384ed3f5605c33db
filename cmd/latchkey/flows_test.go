package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2/clientcredentials"
)

// devServer starts `latchkey dev` and returns its URL and demo credentials.
func devServer(t *testing.T) (string, credentials) {
	t.Helper()
	_, base, creds := devServerEnv(t)
	return base, creds
}

// devServerEnv is devServer that also returns the environment it runs in,
// for CLI commands on its database.
func devServerEnv(t *testing.T) (*testEnv, string, credentials) {
	t.Helper()
	te := newTestEnv(t)
	dir := t.TempDir()
	te.vars["LATCHKEY_DATABASE_URL"] = "sqlite:" + filepath.Join(dir, "dev.db")
	base := te.serve("dev")
	var creds credentials
	raw, err := os.ReadFile(filepath.Join(dir, "dev.db.demo-app.json"))
	if err != nil || json.Unmarshal(raw, &creds) != nil {
		t.Fatalf("demo credentials: %v", err)
	}
	te.noResendCooldown(creds.ClientID)
	return te, base, creds
}

// noResendCooldown turns the app's resend cooldown off: the tests' flows
// send to one user faster than a person would, on the real clock.
func (te *testEnv) noResendCooldown(app string) {
	te.t.Helper()
	if code, _, errOut := te.runCmd("apps", "update", app, "--resend-cooldown", "0"); code != exitOK {
		te.t.Fatalf("apps update --resend-cooldown 0: %s", errOut)
	}
}

// api calls the JSON API with an OAuth2 client that fetches and renews
// client tokens by itself.
type api struct {
	t    *testing.T
	base string
	http *http.Client
}

func (a api) post(path string, body any) (int, map[string]any) {
	a.t.Helper()
	raw, _ := json.Marshal(body)
	resp, err := a.http.Post(a.base+path, "application/json", strings.NewReader(string(raw)))
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &out)
	return resp.StatusCode, out
}

func (a api) mustPost(path string, body any, want int) map[string]any {
	a.t.Helper()
	status, out := a.post(path, body)
	if status != want {
		a.t.Fatalf("POST %s: %d %v; want %d", path, status, out, want)
	}
	return out
}

// inboxText returns the text of the newest dev inbox message to "to".
func inboxText(t *testing.T, base, to string) string {
	t.Helper()
	resp, err := http.Get(base + "/dev/inbox/messages")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var msgs []map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&msgs); err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if m["to"] == to {
			return m["text"].(string)
		}
	}
	return ""
}

// waitInbox polls the dev inbox until a message to "to" matching re arrives.
func waitInbox(t *testing.T, base, to string, re *regexp.Regexp) string {
	t.Helper()
	for range 200 {
		if m := re.FindString(inboxText(t, base, to)); m != "" {
			return m
		}
		sleepShort()
	}
	t.Fatalf("nothing for %s in the dev inbox", to)
	return ""
}

// TestDevFlowsVerifiedByOIDC follows the README with nothing but HTTP: in
// dev mode, an email passcode, an SMS passcode and a magic link, each
// returning tokens that a standard OIDC library verifies.
func TestDevFlowsVerifiedByOIDC(t *testing.T) {
	base, creds := devServer(t)
	ctx := context.Background()
	cc := clientcredentials.Config{ClientID: creds.ClientID, ClientSecret: creds.ClientSecret, TokenURL: base + "/oidc/token"}
	a := api{t: t, base: base, http: cc.Client(ctx)}
	provider, err := oidc.NewProvider(ctx, base+"/cis/oidc")
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	idVerifier := provider.Verifier(&oidc.Config{ClientID: creds.ClientID})
	accessVerifier := provider.Verifier(&oidc.Config{ClientID: "userid-api"})
	digits := regexp.MustCompile(`\b\d{6}\b`)

	check := func(tokens map[string]any, wantAMR string) {
		t.Helper()
		idToken, err := idVerifier.Verify(ctx, tokens["id_token"].(string))
		if err != nil {
			t.Fatalf("ID token rejected by the OIDC library: %v", err)
		}
		var claims struct {
			AMR []string `json:"amr"`
			SID string   `json:"sid"`
		}
		if err := idToken.Claims(&claims); err != nil || len(claims.AMR) != 1 || claims.AMR[0] != wantAMR || claims.SID != tokens["session_id"] {
			t.Fatalf("ID token claims %+v; want amr [%s] and the session", claims, wantAMR)
		}
		if _, err := accessVerifier.Verify(ctx, tokens["access_token"].(string)); err != nil {
			t.Fatalf("access token rejected by the OIDC library: %v", err)
		}
	}

	a.mustPost("/cis/v1/users", map[string]any{"email": "dev@example.com", "phone_number": "+14155550100"}, http.StatusCreated)
	a.mustPost("/cis/v1/auth/otp/send", map[string]any{"channel": "email", "identifier": "dev@example.com", "identifier_type": "email"}, http.StatusOK)
	code := waitInbox(t, base, "dev@example.com", digits)
	check(a.mustPost("/cis/v1/auth/otp/authenticate", map[string]any{"passcode": code, "identifier": "dev@example.com",
		"identifier_type": "email"}, http.StatusOK), "eotp")

	a.mustPost("/cis/v1/auth/otp/send", map[string]any{"channel": "sms", "identifier": "+14155550100", "identifier_type": "phone_number"}, http.StatusOK)
	code = waitInbox(t, base, "+14155550100", digits)
	check(a.mustPost("/cis/v1/auth/otp/authenticate", map[string]any{"passcode": code, "identifier": "+14155550100",
		"identifier_type": "phone_number"}, http.StatusOK), "sms")

	before := inboxText(t, base, "dev@example.com")
	a.mustPost("/cis/v1/auth/link/email/send", map[string]any{"email": "dev@example.com", "redirect_uri": "http://localhost:8080/complete",
		"state": "s1"}, http.StatusOK)
	var link string
	for range 200 {
		if text := inboxText(t, base, "dev@example.com"); text != before {
			link = regexp.MustCompile(`https?://\S+`).FindString(text)
			break
		}
		sleepShort()
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || loc.Host != "localhost:8080" || loc.Query().Get("state") != "s1" {
		t.Fatalf("magic link answered %d to %s", resp.StatusCode, loc)
	}
	tokens := a.mustPost("/cis/v1/auth/link/email/authenticate", map[string]any{"code": loc.Query().Get("code")}, http.StatusOK)
	check(tokens, "eml")

	refreshed := a.mustPost("/cis/v1/auth/token/refresh", map[string]any{"refresh_token": tokens["refresh_token"]}, http.StatusOK)
	if _, err := idVerifier.Verify(ctx, refreshed["id_token"].(string)); err != nil {
		t.Fatalf("refreshed ID token rejected: %v", err)
	}

	page, err := http.Get(base + "/dev/inbox")
	if err != nil {
		t.Fatal(err)
	}
	html, _ := io.ReadAll(page.Body)
	page.Body.Close()
	if page.StatusCode != http.StatusOK || !strings.Contains(string(html), "dev@example.com") || !strings.Contains(string(html), "Copy code") {
		t.Fatalf("dev inbox page: %d", page.StatusCode)
	}
}

// TestDevInboxCommand reads codes and links from a running dev server with
// `latchkey dev inbox`, as the README's walkthrough does, right after each
// send, and fails clearly when there is nothing to read.
func TestDevInboxCommand(t *testing.T) {
	base, creds := devServer(t)
	cc := clientcredentials.Config{ClientID: creds.ClientID, ClientSecret: creds.ClientSecret, TokenURL: base + "/oidc/token"}
	a := api{t: t, base: base, http: cc.Client(context.Background())}
	te := newTestEnv(t)
	te.vars = map[string]string{"LATCHKEY_URL": base}

	if code, _, errOut := te.runCmd("dev", "inbox", "--to", "cli@example.com", "--code"); code != exitError ||
		!strings.Contains(errOut, "no message to cli@example.com") {
		t.Fatalf("an empty inbox: exit %d, %q; want a clear failure", code, errOut)
	}
	a.mustPost("/cis/v1/users", map[string]any{"email": "cli@example.com"}, http.StatusCreated)
	a.mustPost("/cis/v1/auth/otp/send", map[string]any{"channel": "email", "identifier": "cli@example.com", "identifier_type": "email"}, http.StatusOK)
	code, out, errOut := te.runCmd("dev", "inbox", "--to", "cli@example.com", "--code")
	passcode := strings.TrimSpace(out)
	if code != exitOK || !regexp.MustCompile(`^\d{6}$`).MatchString(passcode) {
		t.Fatalf("dev inbox --code: exit %d, %q %q; want the passcode", code, out, errOut)
	}
	a.mustPost("/cis/v1/auth/otp/authenticate", map[string]any{"passcode": passcode, "identifier": "cli@example.com", "identifier_type": "email"}, http.StatusOK)
	if code, _, errOut := te.runCmd("dev", "inbox", "--to", "cli@example.com", "--link"); code != exitError || !strings.Contains(errOut, "has no link") {
		t.Fatalf("--link on an OTP email: exit %d, %q; want a clear failure", code, errOut)
	}

	a.mustPost("/cis/v1/auth/link/email/send", map[string]any{"identifier": "cli@example.com", "identifier_type": "email",
		"redirect_uri": base + "/dev/complete"}, http.StatusOK)
	code, out, _ = te.runCmd("dev", "inbox", "--to", "cli@example.com", "--code", "--link")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != exitOK || len(lines) != 2 || !strings.HasPrefix(lines[1], base+"/magic-link?code="+lines[0]) {
		t.Fatalf("dev inbox --code --link after a magic link: exit %d, %q; want its code and link", code, out)
	}
	a.mustPost("/cis/v1/auth/link/email/authenticate", map[string]any{"code": lines[0]}, http.StatusOK)
	if code, out, _ := te.runCmd("dev", "inbox"); code != exitOK || !strings.Contains(out, "link:") || !strings.Contains(out, "cli@example.com") {
		t.Fatalf("dev inbox: exit %d, %q; want the newest message described", code, out)
	}
	te.vars["LATCHKEY_URL"] = "http://127.0.0.1:1"
	if code, _, errOut := te.runCmd("dev", "inbox"); code != exitError || !strings.Contains(errOut, "is `latchkey dev` running") {
		t.Fatalf("no server: exit %d, %q; want a clear failure", code, errOut)
	}
}
