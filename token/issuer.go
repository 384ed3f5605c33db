package token

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Token types written in the JOSE "typ" header (RFC 9068 §2.1 for access
// tokens), so that one kind of token is never accepted as another.
const (
	TypeAccessToken = "at+jwt"
	TypeIDToken     = "JWT"
)

// DefaultAudience is the "aud" of access tokens issued without a resource:
// Latchkey's own API, as in Mosaic.
const DefaultAudience = "userid-api"

// MaxTokenLength bounds the size of a token Latchkey will parse, so a huge
// header cannot cost memory or CPU (CVE-2025-30204 and CVE-2025-27144 were
// such attacks on Go JWT libraries).
const MaxTokenLength = 8 << 10

// clockSkew is how far in the future an "iat" may be, for nodes whose clocks
// differ slightly.
const clockSkew = time.Minute

// ErrInvalidToken is returned for every token that fails verification. The
// reason is in the wrapped error, for logs only.
var ErrInvalidToken = errors.New("invalid token")

// Issuer signs and verifies Latchkey's JWTs under one issuer URL.
type Issuer struct {
	keys   *Keys
	issuer string
	now    func() time.Time
}

// NewIssuer returns an Issuer that signs with keys' Current key and writes
// issuer as "iss".
func NewIssuer(keys *Keys, issuer string, now func() time.Time) *Issuer {
	return &Issuer{keys: keys, issuer: issuer, now: now}
}

// URL is the issuer identifier written in every token.
func (i *Issuer) URL() string { return i.issuer }

// Keys returns the key manager behind the issuer.
func (i *Issuer) Keys() *Keys { return i.keys }

// Sign serialises claims as a compact JWS of the given type, signed by the
// Current key with its "kid" in the header.
func (i *Issuer) Sign(ctx context.Context, typ string, claims any) (string, error) {
	set, err := i.keys.get(ctx)
	if err != nil {
		return "", err
	}
	signer, err := set.current.signer(typ)
	if err != nil {
		return "", err
	}
	return signClaims(signer, claims)
}

// signClaims encodes claims once with encoding/json and signs them as the
// JWS payload, in compact form. go-jose's jwt builder would encode them,
// decode them into a map and encode them again, which cost as much as the
// ES256 signature.
func signClaims(signer jose.Signer, claims any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("token: encode claims: %w", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("token: sign: %w", err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		return "", fmt.Errorf("token: sign: %w", err)
	}
	return raw, nil
}

// Standard holds the registered claims every Latchkey JWT carries, as Verify
// checks them.
type Standard struct {
	Issuer   string `json:"iss"`
	Subject  string `json:"sub"`
	Audience string `json:"aud"`
	IssuedAt int64  `json:"iat"`
	Expiry   int64  `json:"exp"`
	ID       string `json:"jti,omitempty"`
}

// Verify checks raw as a token of type typ issued by this issuer and
// decodes its claims into claims. It checks, in order: the size and compact
// form, the algorithm against Latchkey's own, the type, the key (by "kid",
// among published keys only, whose algorithm must match the header's), the
// signature, the issuer, the expiry and the issue time. Every failure wraps
// ErrInvalidToken.
func (i *Issuer) Verify(ctx context.Context, raw, typ string, claims any) (Standard, error) {
	var std Standard
	if len(raw) > MaxTokenLength || strings.Count(raw, ".") != 2 {
		return std, fmt.Errorf("%w: not a compact JWS of acceptable size", ErrInvalidToken)
	}
	tok, err := jwt.ParseSigned(raw, allowedAlgorithms)
	if err != nil {
		return std, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if len(tok.Headers) != 1 {
		return std, fmt.Errorf("%w: want exactly one signature", ErrInvalidToken)
	}
	h := tok.Headers[0]
	if got, _ := h.ExtraHeaders[jose.HeaderType].(string); got != typ {
		return std, fmt.Errorf("%w: typ %q, want %q", ErrInvalidToken, got, typ)
	}
	key, err := i.keys.lookup(ctx, h.KeyID)
	if errors.Is(err, errUnknownKey) {
		return std, fmt.Errorf("%w: unknown kid", ErrInvalidToken)
	}
	if err != nil {
		return std, err
	}
	if h.Algorithm != key.meta.Algorithm {
		return std, fmt.Errorf("%w: alg %s does not match key %s", ErrInvalidToken, h.Algorithm, key.meta.Algorithm)
	}
	if err := tok.Claims(key.public, &std, claims); err != nil {
		return std, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	now := i.now()
	switch {
	case std.Issuer != i.issuer:
		return std, fmt.Errorf("%w: issuer %q", ErrInvalidToken, std.Issuer)
	case std.Expiry == 0 || !now.Before(time.Unix(std.Expiry, 0)):
		return std, fmt.Errorf("%w: expired", ErrInvalidToken)
	case time.Unix(std.IssuedAt, 0).After(now.Add(clockSkew)):
		return std, fmt.Errorf("%w: issued in the future", ErrInvalidToken)
	}
	return std, nil
}

var allowedAlgorithms = []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA}
