package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

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

	minted := time.Unix(int64(jwtClaims(t, old.AccessToken)["iat"].(float64)), 0)
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

// jwtClaims decodes a JWT's claims without verifying it.
func jwtClaims(t *testing.T, raw string) map[string]any {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", raw)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}
