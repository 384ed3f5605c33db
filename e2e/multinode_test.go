package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

const issuer = "http://latchkey.test/cis/oidc"

// verifier checks tokens against one node's JWKS, as a resource server
// behind the load balancer would.
func verifier(nodeURL, audience string) *oidc.IDTokenVerifier {
	keys := oidc.NewRemoteKeySet(context.Background(), nodeURL+"/cis/oidc/jwks")
	return oidc.NewVerifier(issuer, keys, &oidc.Config{ClientID: audience})
}

func kidOf(t *testing.T, token string) string {
	t.Helper()
	header, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Kid string `json:"kid"`
	}
	_ = json.Unmarshal(header, &h)
	return h.Kid
}

// TestThreeNodesActAsOne spreads real flows over three nodes on one
// PostgreSQL: a token from one works on the others, a code sent through one
// authenticates through another, failures on several nodes add up to one
// lockout, a key rotation reaches every node, and a refresh token rotated on
// one node cannot be replayed on another.
func TestThreeNodesActAsOne(t *testing.T) {
	c := newCluster(t)
	cr := c.createApp(c.dbURL)
	// The flows below send to one user faster than its resend cooldown.
	c.command(c.dbURL, "apps", "update", cr.AppID, "--resend-cooldown", "0")
	a, b, n3 := c.start(c.dbURL), c.start(c.dbURL), c.start(c.dbURL)
	cl := newClient(t)
	cl.token = cl.clientToken(a.url, cr)

	// A client token from node a works on b and c.
	user := cl.must(cl.post(b.url+"/cis/v1/users", map[string]any{"email": "cluster@example.com"}), http.StatusCreated)
	id := user["result"].(map[string]any)["user_id"].(string)

	// Send on a, authenticate on c.
	code := cl.must(cl.post(a.url+"/cis/v1/auth/otp/send", map[string]any{"channel": "direct", "identifier": id, "identifier_type": "user_id"}), 200)["code"]
	tokens := cl.must(cl.post(n3.url+"/cis/v1/auth/otp/authenticate", map[string]any{"passcode": code, "identifier": id, "identifier_type": "user_id"}), 200)

	// An email sent through b is delivered (by whichever node's worker
	// claims it) into the shared dev inbox and authenticates through a.
	cl.must(cl.post(b.url+"/cis/v1/auth/otp/send", map[string]any{"channel": "email", "identifier": id, "identifier_type": "user_id"}), 200)
	emailCode := waitForCode(t, cl, n3.url, "cluster@example.com")
	cl.must(cl.post(a.url+"/cis/v1/auth/otp/authenticate", map[string]any{"passcode": emailCode, "identifier": id, "identifier_type": "user_id"}), 200)

	// Failures on three nodes add up to one lockout.
	code = cl.must(cl.post(a.url+"/cis/v1/auth/otp/send", map[string]any{"channel": "direct", "identifier": id, "identifier_type": "user_id"}), 200)["code"]
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	for _, n := range []*node{a, b, n3} {
		cl.must(cl.post(n.url+"/cis/v1/auth/otp/authenticate", map[string]any{"passcode": wrong, "identifier": id, "identifier_type": "user_id"}), 400)
	}
	locked := cl.post(b.url+"/cis/v1/auth/otp/authenticate", map[string]any{"passcode": code, "identifier": id, "identifier_type": "user_id"})
	if locked.status != http.StatusForbidden || locked.body["error_code"] != "auth_locked" {
		t.Fatalf("after failures on three nodes: %d %s; want auth_locked", locked.status, locked.raw)
	}

	// Refresh on a, replay on b: refused, and the rotated token dies too.
	refreshed := cl.must(cl.post(a.url+"/cis/v1/auth/token/refresh", map[string]any{"refresh_token": tokens["refresh_token"]}), 200)
	cl.must(cl.post(b.url+"/cis/v1/auth/token/refresh", map[string]any{"refresh_token": tokens["refresh_token"]}), 400)
	cl.must(cl.post(n3.url+"/cis/v1/auth/token/refresh", map[string]any{"refresh_token": refreshed["refresh_token"]}), 400)

	// Rotate keys with the CLI (forced: the next key was published
	// moments ago, and these nodes cache no JWKS): within
	// LATCHKEY_KEY_REFRESH (1s here) every node signs with the new key, and
	// tokens signed before still verify on every node.
	before := tokens["access_token"].(string)
	oldKid := kidOf(t, before)
	c.command(c.dbURL, "keys", "rotate", "--force")
	deadline := time.Now().Add(10 * time.Second)
	for _, n := range []*node{a, b, n3} {
		for {
			tok := cl.clientToken(n.url, cr)
			if kidOf(t, tok) != oldKid {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %s still signs with the retired key after rotation", n.url)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if _, err := verifier(n.url, "userid-api").Verify(context.Background(), before); err != nil {
			t.Fatalf("node %s rejects a token signed before rotation: %v", n.url, err)
		}
	}
	after := cl.clientToken(b.url, cr)
	for _, n := range []*node{a, n3} {
		if _, err := verifier(n.url, "userid-api").Verify(context.Background(), after); err != nil {
			t.Fatalf("node %s rejects a token signed after rotation on another node: %v", n.url, err)
		}
	}
}

var sixDigits = regexp.MustCompile(`\b\d{6}\b`)

// waitForCode polls a node's dev inbox until a code for "to" arrives.
func waitForCode(t *testing.T, cl *client, nodeURL, to string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := cl.http.Get(nodeURL + "/dev/inbox/messages?to=" + url.QueryEscape(to))
		if err == nil {
			var msgs []map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&msgs)
			resp.Body.Close()
			if len(msgs) > 0 {
				if code := sixDigits.FindString(msgs[0]["text"].(string)); code != "" {
					return code
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no code for %s arrived", to)
	return ""
}
