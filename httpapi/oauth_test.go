package httpapi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/token"
)

func TestClientCredentialsResponse(t *testing.T) {
	h := newHarness(t)
	c := h.newClient("Shop", false)
	resp := h.postForm("/cis/oidc/token", url.Values{"grant_type": {"client_credentials"}}, func(r *http.Request) {
		r.SetBasicAuth(url.QueryEscape(c.creds.ClientID), url.QueryEscape(c.creds.ClientSecret))
	}).wantStatus(http.StatusOK)
	if got := resp.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q; want no-store", got)
	}
	body := resp.json()
	for _, field := range []string{"access_token", "token_type", "expires_in", "scope"} {
		if _, ok := body[field]; !ok {
			t.Errorf("token response lacks %q: %s", field, resp.body)
		}
	}
	if body["token_type"] != "Bearer" || body["expires_in"] != float64(3600) {
		t.Errorf("token_type %v expires_in %v; want Bearer and 3600", body["token_type"], body["expires_in"])
	}
	if _, ok := body["refresh_token"]; ok {
		t.Error("client credentials response carries a refresh token (RFC 6749 §4.4.3)")
	}

	claims := decodeClaims(t, body["access_token"].(string))
	tenant, _ := h.store.TenantID(context.Background())
	want := map[string]any{"iss": h.issuer.URL(), "sub": c.creds.ClientID, "aud": token.DefaultAudience,
		"client_id": c.creds.ClientID, "app_id": c.app.ID, "tid": tenant}
	for k, v := range want {
		if claims[k] != v {
			t.Errorf("claim %s = %v; want %v", k, claims[k], v)
		}
	}
	now := h.clock.Now().Unix()
	if claims["iat"] != float64(now) || claims["exp"] != float64(now+3600) || !nonEmptyString(claims["jti"]) {
		t.Errorf("iat %v exp %v jti %v; want now, now+1h and an ID", claims["iat"], claims["exp"], claims["jti"])
	}
}

func decodeClaims(t testing.TB, raw string) map[string]any {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", raw)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestClientCredentialsResource(t *testing.T) {
	h := newHarness(t)
	c := h.newClient("Risk", false, "https://risk.example")
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {c.creds.ClientID},
		"client_secret": {c.creds.ClientSecret}, "resource": {"https://risk.example"}}
	resp := h.postForm("/oidc/token", form, nil).wantStatus(http.StatusOK)
	if aud := decodeClaims(t, resp.json()["access_token"].(string))["aud"]; aud != "https://risk.example" {
		t.Fatalf("aud = %v; want the resource", aud)
	}
	// A resource token is not a token for Latchkey's own API.
	c.h.callWith(resp.json()["access_token"].(string), http.MethodGet, "/cis/v1/users", nil).wantStatus(http.StatusUnauthorized)

	form.Set("resource", "https://risk.example/")
	resp = h.postForm("/oidc/token", form, nil).wantStatus(http.StatusBadRequest)
	if resp.json()["error"] != "invalid_target" {
		t.Fatalf("unknown resource: %s; want invalid_target", resp.body)
	}
}

func TestTokenEndpointErrors(t *testing.T) {
	h := newHarness(t)
	c := h.newClient("Errors", false)
	good := func() url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "client_id": {c.creds.ClientID}, "client_secret": {c.creds.ClientSecret}}
	}
	with := func(k, v string) url.Values { f := good(); f.Set(k, v); return f }
	without := func(k string) url.Values { f := good(); f.Del(k); return f }
	cases := []struct {
		name   string
		form   url.Values
		edit   func(*http.Request)
		status int
		error  string
	}{
		{"wrong secret", with("client_secret", "nope"), nil, 401, "invalid_client"},
		{"unknown client", with("client_id", "nobody"), nil, 401, "invalid_client"},
		{"no secret", without("client_secret"), nil, 401, "invalid_client"},
		{"no grant type", without("grant_type"), nil, 400, "invalid_request"},
		{"password grant", with("grant_type", "password"), nil, 400, "unsupported_grant_type"},
		{"implicit grant", with("grant_type", "implicit"), nil, 400, "unsupported_grant_type"},
		{"basic and post together", good(), func(r *http.Request) { r.SetBasicAuth(c.creds.ClientID, c.creds.ClientSecret) }, 400, "invalid_request"},
		{"secret in the query", good(), func(r *http.Request) { r.URL.RawQuery = "client_secret=" + c.creds.ClientSecret }, 400, "invalid_request"},
		{"repeated parameter", good(), func(r *http.Request) {
			r.Body = readCloser(good().Encode() + "&grant_type=client_credentials")
			r.ContentLength = -1
		}, 400, "invalid_request"},
		{"JSON body", good(), func(r *http.Request) { r.Header.Set("Content-Type", "application/json") }, 400, "invalid_request"},
		{"wrong basic secret", url.Values{"grant_type": {"client_credentials"}}, func(r *http.Request) { r.SetBasicAuth(c.creds.ClientID, "nope") }, 401, "invalid_client"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := h.postForm("/oidc/token", tc.form, tc.edit).wantStatus(tc.status)
			body := resp.json()
			if body["error"] != tc.error || !nonEmptyString(body["error_description"]) {
				t.Fatalf("body %s; want error %q with a description", resp.body, tc.error)
			}
			// Mosaic's token errors carry the status as a number.
			if body["error_code"] != float64(tc.status) {
				t.Fatalf("body %s; want error_code %d beside error", resp.body, tc.status)
			}
			if resp.header.Get("Cache-Control") != "no-store" {
				t.Error("error response is cacheable")
			}
			if strings.Contains(string(resp.body), c.creds.ClientSecret) || strings.Contains(h.logs.String(), c.creds.ClientSecret) {
				t.Fatal("the client secret appears in a response or the log")
			}
		})
	}
	resp := h.postForm("/oidc/token", with("client_secret", "nope"), func(r *http.Request) {
		r.SetBasicAuth(c.creds.ClientID, "nope")
		r.Body = readCloser("grant_type=client_credentials")
		r.ContentLength = -1
	})
	if resp.header.Get("WWW-Authenticate") == "" {
		t.Error("a failed Basic authentication has no WWW-Authenticate challenge")
	}
	big := strings.Repeat("a", 70<<10)
	h.postForm("/oidc/token", with("client_secret", big), nil).wantStatus(http.StatusRequestEntityTooLarge)
}

func readCloser(s string) *readCloserString { return &readCloserString{strings.NewReader(s)} }

type readCloserString struct{ *strings.Reader }

func (readCloserString) Close() error { return nil }

func TestBearerAuthentication(t *testing.T) {
	h := newHarness(t)
	c := h.newClient("Bearer", false)
	c.call(http.MethodGet, "/cis/v1/users", nil).wantStatus(http.StatusOK)

	foreign := newHarness(t).newClient("Elsewhere", false)
	wantInvalid := func(name, token string) {
		t.Helper()
		resp := h.callWith(token, http.MethodGet, "/cis/v1/users", nil).wantStatus(http.StatusUnauthorized)
		if body := resp.json(); body["message"] != "Invalid token" || body["error_code"] != float64(401) {
			t.Errorf("%s: body %s; want Mosaic's invalid token answer", name, resp.body)
		}
	}
	wantInvalid("missing", "")
	wantInvalid("malformed", "abc.def")
	wantInvalid("another issuer", foreign.token)
	wantInvalid("a user-type token", mustSignType(t, h, token.TypeIDToken, decodeClaims(t, c.token)))
	wantInvalid("oversized", strings.Repeat("a", 9<<10))

	// Expired: the clock passes exp.
	h.clock.Advance(time.Hour)
	wantInvalid("expired", c.token)
	c.token = c.clientToken()

	// A rotated secret ends the tokens obtained before it.
	h.clock.Advance(time.Second)
	if _, _, err := h.apps.RotateSecret(context.Background(), c.app.ID); err != nil {
		t.Fatal(err)
	}
	wantInvalid("issued before secret rotation", c.token)

	// A deleted app's tokens stop working.
	d := h.newClient("Deleted", false)
	if _, err := h.apps.Delete(context.Background(), d.app.ID); err != nil {
		t.Fatal(err)
	}
	wantInvalid("revoked app", d.token)
}

// TestSecretRotationEndsTokensOfTheSameInstant mints a client token, rotates
// the secret in the same instant (the same second of "iat"), and checks that
// within the bearer cache's bound the old token is refused on every call,
// while a token of the new secret, minted in that instant too, works.
func TestSecretRotationEndsTokensOfTheSameInstant(t *testing.T) {
	h := newHarness(t)
	c := h.newClient("Rotating", false)
	c.call(http.MethodGet, "/cis/v1/users", nil).wantStatus(http.StatusOK) // now cached
	// A token minted before secret generations existed carries none: it
	// keeps working until the app's first rotation.
	legacy := decodeClaims(t, c.token)
	delete(legacy, "secret_gen")
	legacyToken := mustSignType(t, h, token.TypeAccessToken, legacy)
	h.callWith(legacyToken, http.MethodGet, "/cis/v1/users", nil).wantStatus(http.StatusOK)

	_, creds, err := h.apps.RotateSecret(context.Background(), c.app.ID)
	if err != nil {
		t.Fatal(err)
	}
	old := c.token
	c.creds = creds
	c.token = c.clientToken()
	if decodeClaims(t, old)["iat"] != decodeClaims(t, c.token)["iat"] {
		t.Fatal("the tokens before and after the rotation were minted in different seconds; the test needs one")
	}
	c.call(http.MethodGet, "/cis/v1/users", nil).wantStatus(http.StatusOK)

	h.clock.Advance(appChangeDelay)
	resp := h.callWith(old, http.MethodGet, "/cis/v1/users", nil).wantStatus(http.StatusUnauthorized)
	if resp.json()["message"] != "Invalid token" {
		t.Fatalf("old token after rotation: %s", resp.body)
	}
	h.callWith(legacyToken, http.MethodGet, "/cis/v1/users", nil).wantStatus(http.StatusUnauthorized)
	c.call(http.MethodGet, "/cis/v1/users", nil).wantStatus(http.StatusOK)
	if _, _, err := h.apps.RotateSecret(context.Background(), c.app.ID); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(appChangeDelay)
	c.call(http.MethodGet, "/cis/v1/users", nil).wantStatus(http.StatusUnauthorized)
}

func mustSignType(t testing.TB, h *harness, typ string, claims map[string]any) string {
	t.Helper()
	raw, err := h.issuer.Sign(context.Background(), typ, claims)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestManagementEndpointNeedsManagementApp(t *testing.T) {
	h := newHarness(t)
	ordinary := h.newClient("Ordinary", false)
	admin := h.newClient("Admin", true)
	user := ordinary.call(http.MethodPost, "/cis/v1/users", map[string]any{"email": "m@example.com"}).wantStatus(http.StatusCreated)
	id := user.json()["result"].(map[string]any)["user_id"].(string)

	resp := ordinary.call(http.MethodDelete, "/cis/v1/manage/users/"+id, nil).wantStatus(http.StatusForbidden)
	if resp.json()["error_code"] != float64(403) {
		t.Fatalf("forbidden body %s", resp.body)
	}
	ordinary.call(http.MethodGet, "/cis/v1/users/"+id, nil).wantStatus(http.StatusOK)

	admin.call(http.MethodDelete, "/cis/v1/manage/users/"+id, nil).wantStatus(http.StatusNoContent)
	ordinary.call(http.MethodGet, "/cis/v1/users/"+id, nil).wantStatus(http.StatusNotFound)
	admin.call(http.MethodDelete, "/cis/v1/manage/users/"+id, nil).wantStatus(http.StatusNotFound)
	if _, err := h.store.GetUser(context.Background(), id); latchkey.ErrorCode(err) != latchkey.CodeNotFound {
		t.Fatalf("user after management delete: %v; want gone", err)
	}
}

func TestDiscoveryAndJWKS(t *testing.T) {
	h := newHarness(t)
	resp := h.callWith("", http.MethodGet, "/cis/oidc/.well-known/openid-configuration", nil).wantStatus(http.StatusOK)
	doc := resp.json()
	if doc["issuer"] != h.issuer.URL() || doc["jwks_uri"] != h.srv.URL+"/cis/oidc/jwks" ||
		doc["token_endpoint"] != h.srv.URL+"/cis/oidc/token" || doc["revocation_endpoint"] != h.srv.URL+"/cis/oidc/token/revocation" {
		t.Fatalf("discovery document %s", resp.body)
	}
	jwks := h.callWith("", http.MethodGet, "/cis/oidc/jwks", nil).wantStatus(http.StatusOK)
	// A key rotation waits out this lifetime (token.JWKSMaxAge) before a
	// newly published key signs.
	if got := jwks.header.Get("Cache-Control"); got != "public, max-age=300" {
		t.Errorf("JWKS Cache-Control = %q; want public, max-age=300", got)
	}
	keys := jwks.json()["keys"].([]any)
	if len(keys) != 2 {
		t.Fatalf("JWKS has %d keys; want the current and the next", len(keys))
	}
	for _, k := range keys {
		key := k.(map[string]any)
		if !nonEmptyString(key["kid"]) || key["alg"] != "RS256" || key["use"] != "sig" || key["n"] == nil || key["d"] != nil {
			t.Fatalf("JWKS key %v; want a public RS256 signing key with a kid", key)
		}
	}
}

func TestHealthAndFallbacks(t *testing.T) {
	h := newHarness(t)
	h.callWith("", http.MethodGet, "/healthz", nil).wantStatus(http.StatusOK)
	h.callWith("", http.MethodGet, "/readyz", nil).wantStatus(http.StatusOK)
	h.callWith("", http.MethodGet, "/no/such/route", nil).wantStatus(http.StatusNotFound)
	resp := h.callWith("", http.MethodDelete, "/cis/oidc/jwks", nil).wantStatus(http.StatusMethodNotAllowed)
	if resp.header.Get("Allow") == "" {
		t.Error("405 without an Allow header")
	}
	if resp.header.Get("X-Request-Id") == "" {
		t.Error("response without X-Request-Id")
	}
	h.store.Close()
	h.callWith("", http.MethodGet, "/readyz", nil).wantStatus(http.StatusServiceUnavailable)
}

// TestAppChangesReachTheAPIWithinTwoSeconds pins the bearer cache's bound:
// a token already in use keeps working at most two seconds after its app is
// deleted.
func TestAppChangesReachTheAPIWithinTwoSeconds(t *testing.T) {
	h := newHarness(t)
	c := h.newClient("Cached", false)
	c.call(http.MethodGet, "/cis/v1/users", nil).wantStatus(http.StatusOK)
	if _, err := h.apps.Delete(context.Background(), c.app.ID); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(appChangeDelay)
	c.call(http.MethodGet, "/cis/v1/users", nil).wantStatus(http.StatusUnauthorized)
}
