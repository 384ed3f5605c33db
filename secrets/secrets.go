// Package secrets turns the server secret (LATCHKEY_SECRET) into the keys
// that protect what Latchkey stores, and makes the random values it hands
// out.
//
// Nothing secret is stored in clear: client secrets, passcodes, link codes
// and refresh tokens are stored as keyed hashes (HMAC-SHA-256 under a key
// derived from the server secret), so a copy of the database alone is not
// enough to use or to brute-force them; private signing keys, and the
// messages that carry codes and links while they wait in the outbox, are
// sealed with AES-256-GCM under another derived key. Earlier server secrets may be kept
// so that a secret can be rotated without losing what the old one protected.
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
)

// MinSecretLength is the shortest server secret accepted, in bytes.
const MinSecretLength = 32

// Keyring holds the keys derived from the current server secret and from any
// previous ones. Hash and Seal use the current secret; Verify and Open accept
// any of them.
type Keyring struct {
	hashKeys [][]byte // current first
	sealers  []cipher.AEAD
	rand     io.Reader
}

// New derives a Keyring from the current server secret and any previous
// secrets still needed to verify or open older values. rand supplies the
// nonces for sealing.
func New(rand io.Reader, current []byte, previous ...[]byte) (*Keyring, error) {
	k := &Keyring{rand: rand}
	for i, secret := range append([][]byte{current}, previous...) {
		if len(secret) < MinSecretLength {
			return nil, fmt.Errorf("secret %d is %d bytes; at least %d are required", i, len(secret), MinSecretLength)
		}
		hashKey, err := hkdf.Key(sha256.New, secret, nil, "latchkey keyed hash v1", 32)
		if err != nil {
			return nil, fmt.Errorf("derive hash key: %w", err)
		}
		sealKey, err := hkdf.Key(sha256.New, secret, nil, "latchkey sealing v1", 32)
		if err != nil {
			return nil, fmt.Errorf("derive sealing key: %w", err)
		}
		block, err := aes.NewCipher(sealKey)
		if err != nil {
			return nil, fmt.Errorf("sealing cipher: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("sealing cipher: %w", err)
		}
		k.hashKeys = append(k.hashKeys, hashKey)
		k.sealers = append(k.sealers, aead)
	}
	return k, nil
}

// Hash returns the keyed hash of value for purpose under the current secret.
// The purpose separates domains: the same value hashed for two purposes gives
// unrelated hashes.
func (k *Keyring) Hash(purpose, value string) []byte {
	return keyedHash(k.hashKeys[0], purpose, value)
}

// Hashes returns the keyed hash of value under every secret, current first,
// for look-ups by hash that must still find rows written under an earlier
// secret.
func (k *Keyring) Hashes(purpose, value string) [][]byte {
	out := make([][]byte, len(k.hashKeys))
	for i, key := range k.hashKeys {
		out[i] = keyedHash(key, purpose, value)
	}
	return out
}

// Verify reports whether stored is the keyed hash of value for purpose under
// any secret. Each comparison takes constant time.
func (k *Keyring) Verify(purpose, value string, stored []byte) bool {
	ok := false
	for _, key := range k.hashKeys {
		if hmac.Equal(keyedHash(key, purpose, value), stored) {
			ok = true
		}
	}
	return ok
}

func keyedHash(key []byte, purpose, value string) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(purpose))
	mac.Write([]byte{0})
	mac.Write([]byte(value))
	return mac.Sum(nil)
}

// ErrUnsealable means a sealed value could not be opened with any secret: it
// was sealed under a secret that is no longer configured, or it was altered.
var ErrUnsealable = errors.New("sealed value cannot be opened with the configured secrets")

// Seal encrypts and authenticates plaintext under the current secret. label
// binds the result to its use (for a signing key, its ID): opening it under
// another label fails.
func (k *Keyring) Seal(plaintext []byte, label string) ([]byte, error) {
	aead := k.sealers[0]
	nonce := make([]byte, aead.NonceSize())
	if _, err := io.ReadFull(k.rand, nonce); err != nil {
		return nil, fmt.Errorf("seal: read nonce: %w", err)
	}
	return aead.Seal(nonce, nonce, plaintext, []byte(label)), nil
}

// Open decrypts a value made by Seal with the same label, trying every
// secret. ErrUnsealable if none opens it.
func (k *Keyring) Open(sealed []byte, label string) ([]byte, error) {
	for _, aead := range k.sealers {
		if len(sealed) < aead.NonceSize() {
			return nil, ErrUnsealable
		}
		nonce, ciphertext := sealed[:aead.NonceSize()], sealed[aead.NonceSize():]
		if plain, err := aead.Open(nil, nonce, ciphertext, []byte(label)); err == nil {
			return plain, nil
		}
	}
	return nil, ErrUnsealable
}
