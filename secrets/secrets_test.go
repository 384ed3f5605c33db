package secrets_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/secrets"
)

var (
	secretA = []byte(strings.Repeat("a", 32))
	secretB = []byte(strings.Repeat("b", 32))
)

func mustKeyring(t *testing.T, current []byte, previous ...[]byte) *secrets.Keyring {
	t.Helper()
	k, err := secrets.New(rand.Reader, current, previous...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return k
}

func TestNewRejectsShortSecret(t *testing.T) {
	if _, err := secrets.New(rand.Reader, []byte("short")); err == nil {
		t.Fatal("New(short secret) succeeded; want an error")
	}
}

func TestHashIsKeyedAndPurposeBound(t *testing.T) {
	a, b := mustKeyring(t, secretA), mustKeyring(t, secretB)
	if bytes.Equal(a.Hash("otp", "123456"), b.Hash("otp", "123456")) {
		t.Error("hashes under different secrets are equal; want the secret to key the hash")
	}
	if bytes.Equal(a.Hash("otp", "123456"), a.Hash("link", "123456")) {
		t.Error("hashes for different purposes are equal; want domain separation")
	}
	if !a.Verify("otp", "123456", a.Hash("otp", "123456")) {
		t.Error("Verify(right value) = false")
	}
	if a.Verify("otp", "123457", a.Hash("otp", "123456")) {
		t.Error("Verify(wrong value) = true")
	}
}

func TestRotatedSecretStillVerifiesAndOpens(t *testing.T) {
	old := mustKeyring(t, secretA)
	stored := old.Hash("client_secret", "s3cret")
	sealed, err := old.Seal([]byte("private key"), "kid1")
	if err != nil {
		t.Fatal(err)
	}
	rotated := mustKeyring(t, secretB, secretA)
	if !rotated.Verify("client_secret", "s3cret", stored) {
		t.Error("Verify after rotation = false; want previous secrets accepted")
	}
	if hs := rotated.Hashes("client_secret", "s3cret"); len(hs) != 2 || !bytes.Equal(hs[1], stored) {
		t.Errorf("Hashes after rotation does not include the previous secret's hash")
	}
	plain, err := rotated.Open(sealed, "kid1")
	if err != nil || string(plain) != "private key" {
		t.Errorf("Open after rotation = %q, %v; want the plaintext", plain, err)
	}
	if _, err := mustKeyring(t, secretB).Open(sealed, "kid1"); !errors.Is(err, secrets.ErrUnsealable) {
		t.Errorf("Open without the sealing secret: err = %v; want ErrUnsealable", err)
	}
}

func TestSealIsBoundToLabelAndTamperEvident(t *testing.T) {
	k := mustKeyring(t, secretA)
	sealed, err := k.Seal([]byte("private key"), "kid1")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("private key")) {
		t.Fatal("sealed value contains the plaintext")
	}
	if _, err := k.Open(sealed, "kid2"); !errors.Is(err, secrets.ErrUnsealable) {
		t.Errorf("Open under another label: err = %v; want ErrUnsealable", err)
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := k.Open(sealed, "kid1"); !errors.Is(err, secrets.ErrUnsealable) {
		t.Errorf("Open of altered value: err = %v; want ErrUnsealable", err)
	}
}

func TestDigitsUniformAndKeepLeadingZeros(t *testing.T) {
	const n = 200000
	counts := make([]int, 10)
	for range n / 10 {
		d, err := secrets.Digits(rand.Reader, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(d) != 10 {
			t.Fatalf("Digits(10) = %q; want 10 digits", d)
		}
		for _, c := range d {
			counts[c-'0']++
		}
	}
	// Chi-square with 9 degrees of freedom; 27.88 is the 0.001 critical value.
	expected := float64(n) / 10
	chi := 0.0
	for _, c := range counts {
		chi += (float64(c) - expected) * (float64(c) - expected) / expected
	}
	if chi > 27.88 {
		t.Errorf("digit distribution chi-square = %.1f (counts %v); want uniform", chi, counts)
	}
	// A reader of zero bytes must give zeros, proving no digit is dropped.
	if d, _ := secrets.Digits(bytes.NewReader(make([]byte, 6)), 6); d != "000000" {
		t.Errorf("Digits from zero bytes = %q; want 000000", d)
	}
	// Bytes of 250 and above are rejected, never folded onto low digits.
	if d, _ := secrets.Digits(bytes.NewReader([]byte{255, 250, 7}), 1); d != "7" {
		t.Errorf("Digits skipping biased bytes = %q; want 7", d)
	}
}

func TestTokenAndIDShapes(t *testing.T) {
	tok, err := secrets.Token(rand.Reader, 32)
	if err != nil || len(tok) != 43 || strings.ContainsAny(tok, "+/=") {
		t.Errorf("Token(32) = %q, %v; want 43 base64url characters", tok, err)
	}
	id, err := secrets.NewID(rand.Reader)
	if err != nil || len(id) != 26 || strings.ToLower(id) != id {
		t.Errorf("NewID = %q, %v; want 26 lower-case characters", id, err)
	}
	if _, err := secrets.NewID(bytes.NewReader(nil)); err == nil {
		t.Error("NewID with a failing reader succeeded; want the error")
	}
}

// TestSortableIDsSortByTime makes IDs at times ever further apart (every
// character of the time prefix turns over), a thousand in the same
// millisecond too, and checks that their text sorts by time, that they are
// shaped like NewID's (and the tokens like Token's), and that those of one
// millisecond still differ.
func TestSortableIDsSortByTime(t *testing.T) {
	base := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	var offsets []time.Duration
	for k := range 5000 {
		offsets = append(offsets, time.Duration(k*k)*time.Millisecond)
	}
	offsets = append(offsets, 90*24*time.Hour, 40*365*24*time.Hour)
	var prevID, prevToken string
	for i, off := range offsets {
		id, err := secrets.NewSortableID(base.Add(off), rand.Reader)
		if err != nil || len(id) != 26 || strings.ToLower(id) != id {
			t.Fatalf("NewSortableID = %q, %v; want 26 lower-case characters", id, err)
		}
		tok, err := secrets.SortableToken(base.Add(off), rand.Reader, 32)
		if err != nil || len(tok) != 53 || strings.ContainsAny(tok, "+/=") {
			t.Fatalf("SortableToken(32) = %q, %v; want 10 + 43 URL-safe characters", tok, err)
		}
		if i > 0 && (id <= prevID || tok[:10] <= prevToken[:10]) {
			t.Fatalf("at +%v: %q and %q sort before or with %q and %q, made earlier", off, id, tok, prevID, prevToken)
		}
		prevID, prevToken = id, tok
	}
	seen := map[string]bool{}
	for range 1000 {
		id, err := secrets.NewSortableID(base, rand.Reader)
		if err != nil || seen[id] {
			t.Fatalf("NewSortableID in one millisecond = %q, %v; want a new ID each time", id, err)
		}
		seen[id] = true
	}
	if _, err := secrets.NewSortableID(base, bytes.NewReader(nil)); err == nil {
		t.Error("NewSortableID with a failing reader succeeded; want the error")
	}
	if _, err := secrets.SortableToken(base, bytes.NewReader(nil), 32); err == nil {
		t.Error("SortableToken with a failing reader succeeded; want the error")
	}
}
