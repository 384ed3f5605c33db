package secrets

import (
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"time"
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

// sortableEncoding is idEncoding's alphabet in ASCII order, so that the
// text of a time-ordered ID sorts as its bytes do.
var sortableEncoding = base32.NewEncoding("234567abcdefghijklmnopqrstuvwxyz").WithPadding(base32.NoPadding)

// timeBytes is the length of the time prefix of sortable IDs: milliseconds
// since 1970 in 48 bits, enough until the year 10889.
const timeBytes = 6

// NewSortableID returns a 128-bit identifier of 26 characters, spelled
// like NewID's, whose first 48 bits are the time now in milliseconds and
// whose other 80 bits come from rand (the layout of RFC 9562's UUIDv7).
// IDs made later sort after earlier ones, so a database adds the rows of
// a busy table at the end of its indexes, on pages already in hand,
// instead of on a random page each. Use it for internal records, not for
// anything that must be unguessable.
func NewSortableID(now time.Time, rand io.Reader) (string, error) {
	b := make([]byte, 16)
	putMillis(b, now)
	if _, err := io.ReadFull(rand, b[timeBytes:]); err != nil {
		return "", fmt.Errorf("new id: %w", err)
	}
	return sortableEncoding.EncodeToString(b), nil
}

// SortableToken is a Token of n random bytes after a 10-character prefix
// that spells the time now as NewSortableID does: as unguessable as the
// Token, yet sorted by creation, for secret handles that a busy table
// indexes (session IDs).
func SortableToken(now time.Time, rand io.Reader, n int) (string, error) {
	prefix := make([]byte, timeBytes)
	putMillis(prefix, now)
	token, err := Token(rand, n)
	if err != nil {
		return "", err
	}
	return sortableEncoding.EncodeToString(prefix) + token, nil
}

// putMillis writes now in milliseconds since 1970, big-endian, into the
// first timeBytes of b.
func putMillis(b []byte, now time.Time) {
	var ms [8]byte
	binary.BigEndian.PutUint64(ms[:], uint64(now.UnixMilli()))
	copy(b[:timeBytes], ms[8-timeBytes:])
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
