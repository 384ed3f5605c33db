package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2/clientcredentials"
)

// TestRotateSecretEndsTokensOfTheSameSecond mints a client token from a
// running server, runs `apps rotate-secret` against its database in the very
// second the token was minted, and waits for the old token to be refused:
// every token of the old secret stops working, whatever the timing.
func TestRotateSecretEndsTokensOfTheSameSecond(t *testing.T) {
	te := newTestEnv(t)
	creds := te.createApp("--name", "Rotating")
	base := te.serve("serve")
	ctx := context.Background()
	cc := clientcredentials.Config{ClientID: creds.ClientID, ClientSecret: creds.ClientSecret, TokenURL: base + "/oidc/token"}
	old, err := cc.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if status := getUsers(t, base, old.AccessToken); status != http.StatusOK {
		t.Fatalf("fresh token: status %d", status)
	}

	verifier := oidc.NewVerifier(base+"/cis/oidc", oidc.NewRemoteKeySet(ctx, base+"/cis/oidc/jwks"), &oidc.Config{ClientID: "userid-api"})
	verified, err := verifier.Verify(ctx, old.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	minted := verified.IssuedAt
	te.now = func() time.Time { return minted }
	code, out, errOut := te.runCmd("apps", "rotate-secret", creds.AppID, "--json")
	te.now = nil
	var rotated credentials
	if code != exitOK || json.Unmarshal([]byte(out), &rotated) != nil {
		t.Fatalf("apps rotate-secret: %d %s %s", code, out, errOut)
	}

	// The server caches an app for at most two seconds.
	deadline := time.Now().Add(30 * time.Second)
	for getUsers(t, base, old.AccessToken) != http.StatusUnauthorized {
		if time.Now().After(deadline) {
			t.Fatal("a token minted in the second of the rotation still works 30s later")
		}
		sleepShort()
	}
	cc.ClientSecret = rotated.ClientSecret
	fresh, err := cc.Token(ctx)
	if err != nil {
		t.Fatalf("client token with the new secret: %v", err)
	}
	if status := getUsers(t, base, fresh.AccessToken); status != http.StatusOK {
		t.Fatalf("token of the new secret: status %d", status)
	}
}

// getUsers calls the Users API with a client token and returns the status.
func getUsers(t *testing.T, base, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/cis/v1/users", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestKeysRotateWaitsForTheNextKey runs `latchkey keys rotate` at chosen
// times: refused while the next key has been published for less than the
// JWKS cache lifetime plus LATCHKEY_KEY_REFRESH, saying how long it has been
// and when a rotation will be allowed; allowed after; refused again at once;
// forced with a warning; and after an algorithm change, refused until the
// new algorithm's next key has waited too.
func TestKeysRotateWaitsForTheNextKey(t *testing.T) {
	te := newTestEnv(t)
	start := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) { te.now = func() time.Time { return start.Add(d) } }
	at(0) // the first command creates the current and next keys
	if code, _, errOut := te.runCmd("keys", "list"); code != exitOK {
		t.Fatalf("keys list: %d %s", code, errOut)
	}

	at(90 * time.Second)
	code, out, errOut := te.runCmd("keys", "rotate")
	if code != exitError || out != "" {
		t.Fatalf("early rotation: exit %d, stdout %q; want exit 1 and nothing done", code, out)
	}
	for _, want := range []string{"refusing to rotate", "published for 1m30s", "at least 5m30s", "JWKS cache lifetime, 5m0s",
		"LATCHKEY_KEY_REFRESH, 30s", "allowed from 2026-07-01T12:05:30Z (in 4m0s)", "--force"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("refusal %q does not say %q", errOut, want)
		}
	}

	at(330 * time.Second)
	if code, out, errOut = te.runCmd("keys", "rotate"); code != exitOK || !strings.Contains(out, "published for 5m30s before use") || errOut != "" {
		t.Fatalf("rotation once allowed: %d %q %q", code, out, errOut)
	}
	at(331 * time.Second)
	if code, _, errOut = te.runCmd("keys", "rotate"); code != exitError || !strings.Contains(errOut, "published for 1s") {
		t.Fatalf("second rotation 1s later: %d %q; want a refusal", code, errOut)
	}
	code, out, errOut = te.runCmd("keys", "rotate", "--force")
	if code != exitOK || !strings.Contains(out, "published for 1s before use") ||
		!strings.Contains(errOut, "Warning") || !strings.Contains(errOut, "reject the tokens it signs") || !strings.Contains(errOut, "2026-07-01T12:11:00Z") {
		t.Fatalf("forced rotation: %d %q %q; want it done with a warning of what fails until when", code, out, errOut)
	}

	// LATCHKEY_SIGNING_ALG changes: the next key is replaced by an ES256
	// one, which waits out the minimum from its own publication.
	te.vars["LATCHKEY_SIGNING_ALG"] = "ES256"
	at(time.Hour)
	if code, _, errOut = te.runCmd("keys", "rotate"); code != exitError ||
		!strings.Contains(errOut, "from RS256 to ES256") || !strings.Contains(errOut, "published for 0s") {
		t.Fatalf("rotation with a new algorithm: %d %q; want a refusal that publishes the ES256 key first", code, errOut)
	}
	at(time.Hour + 330*time.Second)
	code, out, _ = te.runCmd("keys", "rotate", "--json")
	var rot map[string]map[string]any
	if code != exitOK || json.Unmarshal([]byte(out), &rot) != nil || rot["current"]["alg"] != "ES256" || rot["next"]["alg"] != "ES256" {
		t.Fatalf("rotation after the wait: %d %s; want ES256 current and next keys", code, out)
	}
}
