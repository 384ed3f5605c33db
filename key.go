package latchkey

import "time"

// KeyState is where a signing key is in its life.
type KeyState string

// Signing key states. A key is created Next: published in the JWKS but not
// yet signing, so verifiers can cache it before they meet a token it signed.
// Rotation makes the Next key Current (the one key that signs) and the
// Current key Retired: still published until every token it signed has
// expired, then deleted.
const (
	KeyNext    KeyState = "next"
	KeyCurrent KeyState = "current"
	KeyRetired KeyState = "retired"
)

// SigningKey is one JWT signing key as stored. The private half is sealed
// (encrypted with a key derived from the server secret) and never leaves the
// server; the public half is the JWK that the JWKS publishes.
type SigningKey struct {
	ID        string // the JWT "kid"
	Algorithm string // RS256, ES256 or EdDSA
	State     KeyState
	// PrivateSealed is the encrypted PKCS#8 private key.
	PrivateSealed []byte
	// PublicJWK is the public key as a JSON Web Key.
	PublicJWK []byte
	CreatedAt time.Time
	// ActivatedAt is when the key became Current (zero while Next).
	ActivatedAt time.Time
	// RetiredAt is when the key stopped signing (zero unless Retired).
	RetiredAt time.Time
	// PublishUntil is when a Retired key may be removed from the JWKS.
	PublishUntil time.Time
}

// KeyRotation describes one rotation, applied atomically by the store: the
// Next key becomes Current, the Current key is retired, and a new Next key
// is added.
type KeyRotation struct {
	// PromoteID must be the ID of the present Next key.
	PromoteID string
	// RetireID must be the ID of the present Current key, or empty when
	// there is none.
	RetireID     string
	PublishUntil time.Time
	NewNext      SigningKey
	At           time.Time
}
