package main

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/oauth2/clientcredentials"
)

// TestAppsUnlock locks a user's passcodes out on a running dev server, and
// ends the lockout with `latchkey apps unlock`: the right code, refused
// while locked, then logs in.
func TestAppsUnlock(t *testing.T) {
	te, base, creds := devServerEnv(t)
	cc := clientcredentials.Config{ClientID: creds.ClientID, ClientSecret: creds.ClientSecret, TokenURL: base + "/oidc/token"}
	a := api{t: t, base: base, http: cc.Client(context.Background())}
	inbox := &testEnv{t: t, stdout: &syncBuffer{}, stderr: &syncBuffer{}, vars: map[string]string{"LATCHKEY_URL": base}}
	send := func() string {
		a.mustPost("/cis/v1/auth/otp/send", map[string]any{"channel": "email", "identifier": "lock@example.com", "identifier_type": "email"}, http.StatusOK)
		code, out, errOut := inbox.runCmd("dev", "inbox", "--to", "lock@example.com", "--code")
		if code != exitOK {
			t.Fatalf("dev inbox: %s", errOut)
		}
		return strings.TrimSpace(out)
	}
	authenticate := func(passcode string) int {
		status, _ := a.post("/cis/v1/auth/otp/authenticate", map[string]any{"passcode": passcode, "identifier": "lock@example.com", "identifier_type": "email"})
		return status
	}
	user := a.mustPost("/cis/v1/users", map[string]any{"email": "lock@example.com"}, http.StatusCreated)["result"].(map[string]any)

	wrong := "000000"
	if send() == wrong {
		wrong = "111111"
	}
	for range 3 {
		authenticate(wrong)
	}
	passcode := send()
	if status := authenticate(passcode); status != http.StatusForbidden {
		t.Fatalf("the right code during a lockout answered %d; want 403", status)
	}
	if code, _, errOut := te.runCmd("apps", "unlock", creds.ClientID, "nobody@example.com"); code != exitError || !strings.Contains(errOut, "User not found") {
		t.Fatalf("apps unlock of an unknown user: exit %d, %q; want User not found", code, errOut)
	}
	code, out, errOut := te.runCmd("apps", "unlock", creds.ClientID, "Lock@Example.com")
	if code != exitOK || !strings.Contains(out, user["user_id"].(string)) {
		t.Fatalf("apps unlock: exit %d, %q %q; want the user unlocked", code, out, errOut)
	}
	if status := authenticate(passcode); status != http.StatusOK {
		t.Fatalf("after apps unlock the right code answered %d; want 200", status)
	}
}
