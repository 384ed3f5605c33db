package token_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/fake"
	"github.com/latchkeyhq/latchkey/secrets"
	"github.com/latchkeyhq/latchkey/sqlite"
	"github.com/latchkeyhq/latchkey/token"
)

const issuerURL = "https://login.example/cis/oidc"

var secret = []byte(strings.Repeat("k", 32))

type env struct {
	store  *sqlite.Store
	clock  *fake.Clock
	keys   *token.Keys
	issuer *token.Issuer
}

func newEnv(t testing.TB, alg string) *env {
	t.Helper()
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "keys.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	clock := fake.NewClock(time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC))
	if _, err := store.Migrate(context.Background(), rand.Reader, clock.Now()); err != nil {
		t.Fatal(err)
	}
	e := &env{store: store, clock: clock}
	e.keys, e.issuer = e.node(t, alg, secret)
	if err := e.keys.Ensure(context.Background()); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	return e
}

// node returns another Latchkey node's view of the same store.
func (e *env) node(t testing.TB, alg string, secret []byte) (*token.Keys, *token.Issuer) {
	t.Helper()
	keyring, err := secrets.New(rand.Reader, secret)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := token.NewKeys(token.KeysConfig{Store: e.store, Keyring: keyring, Algorithm: alg, Now: e.clock.Now, Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	return keys, token.NewIssuer(keys, issuerURL, e.clock.Now)
}

type claims struct {
	token.Standard
	ClientID string `json:"client_id"`
}

func (e *env) claims(ttl time.Duration) claims {
	now := e.clock.Now()
	return claims{Standard: token.Standard{Issuer: issuerURL, Subject: "c1", Audience: token.DefaultAudience,
		IssuedAt: now.Unix(), Expiry: now.Add(ttl).Unix(), ID: "j1"}, ClientID: "c1"}
}

func (e *env) mustSign(t *testing.T, c any) string {
	t.Helper()
	raw, err := e.issuer.Sign(context.Background(), token.TypeAccessToken, c)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return raw
}

func (e *env) verify(raw string) (claims, error) {
	var c claims
	_, err := e.issuer.Verify(context.Background(), raw, token.TypeAccessToken, &c)
	return c, err
}

func kidOf(t *testing.T, raw string) string {
	t.Helper()
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Headers[0].KeyID
}

func jwksKids(t *testing.T, keys *token.Keys) []string {
	t.Helper()
	doc, err := keys.JWKS(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(doc, &set); err != nil {
		t.Fatalf("JWKS is not a JWK set: %v", err)
	}
	var kids []string
	for _, k := range set.Keys {
		if !k.IsPublic() {
			t.Fatalf("JWKS publishes a private key")
		}
		kids = append(kids, k.KeyID)
	}
	return kids
}

func TestSignAndVerifyEachAlgorithm(t *testing.T) {
	for _, alg := range token.Algorithms {
		t.Run(alg, func(t *testing.T) {
			e := newEnv(t, alg)
			raw := e.mustSign(t, e.claims(time.Hour))
			got, err := e.verify(raw)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got.ClientID != "c1" || got.Subject != "c1" {
				t.Fatalf("claims = %+v; want what was signed", got)
			}
			tok, _ := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
			if tok == nil || string(tok.Headers[0].Algorithm) != alg {
				t.Fatalf("token not signed with %s", alg)
			}
			if !slices.Contains(jwksKids(t, e.keys), kidOf(t, raw)) {
				t.Fatal("the signing key's kid is not in the JWKS")
			}
		})
	}
}

func TestEnsureIsIdempotentAndSealsPrivateKeys(t *testing.T) {
	e := newEnv(t, token.RS256)
	if err := e.keys.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	stored, err := e.store.ListKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 2 {
		t.Fatalf("after two Ensure calls %d keys exist; want current and next", len(stored))
	}
	keyring, err := secrets.New(rand.Reader, secret)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range stored {
		if _, err := x509.ParsePKCS8PrivateKey(k.PrivateSealed); err == nil {
			t.Fatalf("key %s private half is stored as a plain PKCS#8 key", k.ID)
		}
		der, err := keyring.Open(k.PrivateSealed, k.ID)
		if err != nil {
			t.Fatalf("key %s private half does not open with the server secret: %v", k.ID, err)
		}
		if _, err := x509.ParsePKCS8PrivateKey(der); err != nil {
			t.Fatalf("key %s private half opens to something other than a PKCS#8 key: %v", k.ID, err)
		}
		if bytes.Contains(k.PublicJWK, []byte(`"d"`)) {
			t.Fatalf("key %s public JWK holds a private exponent", k.ID)
		}
	}
	// The next key is published before it signs anything.
	states := map[latchkey.KeyState]string{}
	for _, k := range stored {
		states[k.State] = k.ID
	}
	next, ok := states[latchkey.KeyNext]
	if !ok || states[latchkey.KeyCurrent] == "" {
		t.Fatalf("stored key states = %v; want one current and one next", states)
	}
	if !slices.Contains(jwksKids(t, e.keys), next) {
		t.Fatalf("next key %s is not published ahead of use", next)
	}
}

func TestRotationKeepsOldTokensValidUntilTheyExpire(t *testing.T) {
	e := newEnv(t, token.ES256)
	before := e.mustSign(t, e.claims(time.Hour))
	oldKid := kidOf(t, before)
	published := jwksKids(t, e.keys)

	e.clock.Advance(e.keys.MinPublication())
	rot, err := e.keys.Rotate(context.Background(), token.RotateOptions{})
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	if rot.Retired.ID != oldKid || !slices.Contains(published, rot.Promoted.ID) {
		t.Fatalf("rotation %+v: want the old key retired and the published next key promoted", rot)
	}
	after := e.mustSign(t, e.claims(time.Hour))
	if kidOf(t, after) != rot.Promoted.ID {
		t.Fatalf("after rotation tokens are signed by %s; want %s", kidOf(t, after), rot.Promoted.ID)
	}
	if _, err := e.verify(before); err != nil {
		t.Fatalf("token signed before rotation no longer verifies: %v", err)
	}
	kids := jwksKids(t, e.keys)
	if !slices.Contains(kids, oldKid) || !slices.Contains(kids, rot.Next.ID) || !slices.Contains(kids, rot.Promoted.ID) {
		t.Fatalf("JWKS after rotation = %v; want retired, current and new next", kids)
	}

	// Once every token the retired key signed has expired, it is pruned and
	// no longer published.
	e.clock.Advance(token.RetiredKeyPublication)
	if n, err := e.keys.Prune(context.Background()); err != nil || n != 1 {
		t.Fatalf("Prune = %d, %v; want 1 retired key removed", n, err)
	}
	if slices.Contains(jwksKids(t, e.keys), oldKid) {
		t.Fatal("retired key still published after its publication ended")
	}
	if _, err := e.verify(before); !errors.Is(err, token.ErrInvalidToken) {
		t.Fatalf("token of a removed key: err = %v; want ErrInvalidToken", err)
	}
}

func TestRotationOnOneNodeReachesAnother(t *testing.T) {
	e := newEnv(t, token.RS256)
	otherKeys, otherIssuer := e.node(t, token.RS256, secret)
	e.clock.Advance(e.keys.MinPublication())
	if _, err := otherKeys.JWKS(context.Background()); err != nil {
		t.Fatal(err)
	}
	rot, err := e.keys.Rotate(context.Background(), token.RotateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A token from the rotating node verifies on the other node at once:
	// its kid was published as the next key, and an unknown kid would
	// trigger a reload anyway.
	raw := e.mustSign(t, e.claims(time.Hour))
	var c claims
	if _, err := otherIssuer.Verify(context.Background(), raw, token.TypeAccessToken, &c); err != nil {
		t.Fatalf("other node rejects a token signed after rotation: %v", err)
	}
	// Within the refresh interval the other node signs with the new key.
	e.clock.Advance(token.DefaultRefresh)
	signed, err := otherIssuer.Sign(context.Background(), token.TypeAccessToken, e.claims(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if kidOf(t, signed) != rot.Promoted.ID {
		t.Fatalf("other node signs with %s after the refresh interval; want %s", kidOf(t, signed), rot.Promoted.ID)
	}
	if !slices.Contains(jwksKids(t, otherKeys), rot.Next.ID) {
		t.Fatal("other node does not publish the new next key after the refresh interval")
	}
}

func TestChangingAlgorithmGoesThroughTheNextKey(t *testing.T) {
	e := newEnv(t, token.RS256)
	e.clock.Advance(e.keys.MinPublication()) // the RS256 next key could be promoted now
	esKeys, esIssuer := e.node(t, token.ES256, secret)
	if err := esKeys.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Still signing with the published RS256 key until a rotation.
	raw, err := esIssuer.Sign(context.Background(), token.TypeAccessToken, e.claims(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if tok, _ := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256}); tok == nil {
		t.Fatal("changing the algorithm switched the signing key without a rotation")
	}
	// The ES256 next key published at start-up waits out the minimum too.
	_, err = esKeys.Rotate(context.Background(), token.RotateOptions{})
	var early *token.EarlyRotationError
	if !errors.As(err, &early) || early.PublishedFor != 0 || early.Next.Algorithm != token.ES256 {
		t.Fatalf("rotation right after the algorithm change: %v; want a refusal for the new ES256 key", err)
	}
	e.clock.Advance(esKeys.MinPublication())
	rot, err := esKeys.Rotate(context.Background(), token.RotateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rot.Promoted.Algorithm != token.ES256 || rot.Promoted.ID != early.Next.ID {
		t.Fatalf("after rotation the signing key is %s (%s); want the ES256 key published before, %s", rot.Promoted.ID, rot.Promoted.Algorithm, early.Next.ID)
	}
}

// TestAlgorithmChangeAtRotationPublishesFirst changes LATCHKEY_SIGNING_ALG
// for the rotation alone (as `latchkey keys rotate` run with a new value
// does): the rotation publishes a next key of the new algorithm and refuses
// to promote it, even though the withdrawn key had waited long enough.
func TestAlgorithmChangeAtRotationPublishesFirst(t *testing.T) {
	e := newEnv(t, token.RS256)
	e.clock.Advance(time.Hour)
	before := jwksKids(t, e.keys)
	edKeys, _ := e.node(t, token.EdDSA, secret)
	_, err := edKeys.Rotate(context.Background(), token.RotateOptions{})
	var early *token.EarlyRotationError
	if !errors.As(err, &early) || early.Next.Algorithm != token.EdDSA || slices.Contains(before, early.Next.ID) {
		t.Fatalf("Rotate with a new algorithm: %v; want a refusal for a new EdDSA next key", err)
	}
	for _, want := range []string{"from RS256 to EdDSA", early.Next.ID, "published for 0s", "at least 5m30s", "2026-05-01T11:05:30Z", "in 5m30s"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not say %q", err, want)
		}
	}
	if !slices.Contains(jwksKids(t, edKeys), early.Next.ID) {
		t.Fatal("the new algorithm's next key is not published")
	}
	// A second attempt at once is refused the same way, without replacing
	// the key again.
	e.clock.Advance(time.Second)
	_, err = edKeys.Rotate(context.Background(), token.RotateOptions{})
	var again *token.EarlyRotationError
	if !errors.As(err, &again) || again.Next.ID != early.Next.ID || again.PublishedFor != time.Second {
		t.Fatalf("second Rotate: %v; want a refusal for the same key, published for 1s", err)
	}
	e.clock.Advance(again.AllowedAt.Sub(e.clock.Now()))
	rot, err := edKeys.Rotate(context.Background(), token.RotateOptions{})
	if err != nil || rot.Promoted.ID != early.Next.ID || rot.Early() {
		t.Fatalf("Rotate once allowed: %+v, %v; want the EdDSA key promoted", rot, err)
	}
}

// TestRotationWaitsForTheNextKeyToBeSeen pins the minimum publication: the
// JWKS cache lifetime plus the refresh interval, counted from the next key's
// creation. Two rotations in a row cannot promote a key published a second
// earlier; --force can, and says so.
func TestRotationWaitsForTheNextKeyToBeSeen(t *testing.T) {
	e := newEnv(t, token.ES256)
	if got := e.keys.MinPublication(); got != 330*time.Second {
		t.Fatalf("MinPublication = %s; want the JWKS max-age (5m) plus the refresh interval (30s)", got)
	}
	e.clock.Advance(e.keys.MinPublication() - time.Millisecond)
	_, err := e.keys.Rotate(context.Background(), token.RotateOptions{})
	var early *token.EarlyRotationError
	if !errors.As(err, &early) || early.Required != 330*time.Second || !early.AllowedAt.Equal(e.clock.Now().Add(time.Millisecond)) {
		t.Fatalf("Rotate 1ms early: %v; want a refusal allowed 1ms later", err)
	}
	e.clock.Advance(time.Millisecond)
	first, err := e.keys.Rotate(context.Background(), token.RotateOptions{})
	if err != nil {
		t.Fatalf("Rotate once allowed: %v", err)
	}
	e.clock.Advance(time.Second)
	if _, err := e.keys.Rotate(context.Background(), token.RotateOptions{}); !errors.As(err, &early) || early.Next.ID != first.Next.ID {
		t.Fatalf("a second rotation 1s later: %v; want a refusal for the key the first one published", err)
	}
	forced, err := e.keys.Rotate(context.Background(), token.RotateOptions{Force: true})
	if err != nil || forced.Promoted.ID != first.Next.ID || !forced.Early() || forced.PublishedFor != time.Second {
		t.Fatalf("forced Rotate: %+v, %v; want the 1s-old key promoted and reported early", forced, err)
	}
	if want := first.Next.CreatedAt.Add(330 * time.Second); !forced.FullyPublishedAt().Equal(want) {
		t.Fatalf("FullyPublishedAt = %s; want %s", forced.FullyPublishedAt(), want)
	}
	if kidOf(t, e.mustSign(t, e.claims(time.Hour))) != first.Next.ID {
		t.Fatal("a forced rotation does not sign with the promoted key")
	}
}

func TestWrongSecretRefusesToLoadKeys(t *testing.T) {
	e := newEnv(t, token.RS256)
	_, issuer := e.node(t, token.RS256, []byte(strings.Repeat("z", 32)))
	if _, err := issuer.Sign(context.Background(), token.TypeAccessToken, e.claims(time.Hour)); err == nil ||
		!strings.Contains(err.Error(), "LATCHKEY_SECRET") {
		t.Fatalf("Sign with keys sealed under another secret: err = %v; want a refusal naming LATCHKEY_SECRET", err)
	}
	keys, _ := e.store.ListKeys(context.Background())
	if len(keys) != 2 {
		t.Fatalf("a wrong secret changed the stored keys (now %d)", len(keys))
	}
}

func TestVerifyRejects(t *testing.T) {
	e := newEnv(t, token.RS256)
	good := e.mustSign(t, e.claims(time.Hour))
	header, payload, sig := split(good)
	kid := kidOf(t, good)

	attacker, err := rsa.GenerateKey(rand.Reader, 2048)
	must(t, err)
	foreign := attackerToken(t, attacker, (&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", kid), e.claims(time.Hour))
	withJWK := attackerToken(t, attacker, (&jose.SignerOptions{EmbedJWK: true}).WithType("at+jwt"), e.claims(time.Hour))

	wrongIssuer := e.claims(time.Hour)
	wrongIssuer.Issuer = "https://evil.example"
	future := e.claims(time.Hour)
	future.IssuedAt = e.clock.Now().Add(time.Hour).Unix()
	noExp := e.claims(time.Hour)
	noExp.Expiry = 0
	idToken, err := e.issuer.Sign(context.Background(), token.TypeIDToken, e.claims(time.Hour))
	must(t, err)

	cases := map[string]string{
		"alg none":                  b64(`{"alg":"none","typ":"at+jwt","kid":"`+kid+`"}`) + "." + payload + ".",
		"HS256 with the public key": hs256(t, e, kid, payload),
		"foreign key, our kid":      foreign,
		"embedded jwk":              withJWK,
		"tampered payload":          header + "." + b64(`{"iss":"`+issuerURL+`","sub":"admin","exp":9999999999}`) + "." + sig,
		"wrong typ":                 idToken,
		"unknown kid":               b64(`{"alg":"RS256","typ":"at+jwt","kid":"nope"}`) + "." + payload + "." + sig,
		"kid injection":             b64(`{"alg":"RS256","typ":"at+jwt","kid":"' OR 1=1 --"}`) + "." + payload + "." + sig,
		"wrong issuer":              e.mustSign(t, wrongIssuer),
		"future iat":                e.mustSign(t, future),
		"missing exp":               e.mustSign(t, noExp),
		"JWE shape":                 good + ".x.y",
		"oversized":                 strings.Repeat(".", token.MaxTokenLength+1),
		"garbage":                   "not-a-token",
	}
	for name, raw := range cases {
		if _, err := e.verify(raw); !errors.Is(err, token.ErrInvalidToken) {
			t.Errorf("%s: err = %v; want ErrInvalidToken", name, err)
		}
	}

	e.clock.Advance(time.Hour)
	if _, err := e.verify(good); !errors.Is(err, token.ErrInvalidToken) {
		t.Errorf("expired token: err = %v; want ErrInvalidToken", err)
	}
}

func split(raw string) (string, string, string) {
	p := strings.Split(raw, ".")
	return p[0], p[1], p[2]
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// hs256 forges a token signed with HMAC keyed by the published RSA public
// key (the classic key-confusion attack).
func hs256(t *testing.T, e *env, kid, payload string) string {
	t.Helper()
	doc, _ := e.keys.JWKS(context.Background())
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: doc},
		(&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(signer).Claims(e.claims(time.Hour)).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestSigningRate(t *testing.T) {
	for _, alg := range token.Algorithms {
		rate, err := token.SigningRate(context.Background(), alg, 50*time.Millisecond, time.Now, rand.Reader)
		if err != nil || rate <= 0 {
			t.Fatalf("SigningRate(%s) = %v, %v; want a positive rate", alg, rate, err)
		}
	}
	if _, err := token.SigningRate(context.Background(), "HS256", time.Millisecond, time.Now, rand.Reader); err == nil {
		t.Fatal("SigningRate accepted an algorithm Latchkey does not sign with")
	}
}

// attackerToken signs claims with a key Latchkey never published; building
// it must work, or the case would test an empty string.
func attackerToken(t *testing.T, key *rsa.PrivateKey, opts *jose.SignerOptions, claims any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, opts)
	must(t, err)
	raw, err := jwt.Signed(signer).Claims(claims).Serialize()
	must(t, err)
	return raw
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
