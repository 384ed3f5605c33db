package secrets

import (
	"encoding/base32"
	"encoding/base64"
	"fmt"
	"io"
)

// idEncoding spells IDs in lower-case base32 without padding: URL-safe,
// case-insensitive and unambiguous when read aloud.
var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewID returns a random 128-bit identifier of 26 characters from rand.
func NewID(rand io.Reader) (string, error) {
	b := make([]byte, 16)
	if _, err := io.ReadFull(rand, b); err != nil {
		return "", fmt.Errorf("new id: %w", err)
	}
	return idEncoding.EncodeToString(b), nil
}

// Token returns n random bytes from rand, base64url-encoded without padding:
// the form of client secrets, link codes, refresh tokens and session IDs.
func Token(rand io.Reader, n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(rand, b); err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Digits returns a string of n uniformly random decimal digits from rand.
// Leading zeros are kept: a passcode is a string, not a number. Bytes of 250
// and above are rejected so that no digit is more likely than another.
func Digits(rand io.Reader, n int) (string, error) {
	out := make([]byte, 0, n)
	buf := make([]byte, n)
	for len(out) < n {
		if _, err := io.ReadFull(rand, buf[:n-len(out)]); err != nil {
			return "", fmt.Errorf("digits: %w", err)
		}
		for _, b := range buf[:n-len(out)] {
			if b < 250 {
				out = append(out, '0'+b%10)
			}
		}
	}
	return string(out), nil
}
