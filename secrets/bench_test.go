package secrets_test

import (
	"crypto/rand"
	"strings"
	"testing"

	"github.com/latchkeyhq/latchkey/secrets"
)

func BenchmarkDigits6(b *testing.B) {
	for b.Loop() {
		if _, err := secrets.Digits(rand.Reader, 6); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHash(b *testing.B) {
	k, _ := secrets.New(rand.Reader, []byte(strings.Repeat("k", 32)))
	for b.Loop() {
		k.Hash("otp", "challenge-id:123456")
	}
}

func BenchmarkVerify(b *testing.B) {
	k, _ := secrets.New(rand.Reader, []byte(strings.Repeat("k", 32)))
	stored := k.Hash("otp", "challenge-id:123456")
	for b.Loop() {
		k.Verify("otp", "challenge-id:654321", stored)
	}
}

func BenchmarkToken32(b *testing.B) {
	for b.Loop() {
		if _, err := secrets.Token(rand.Reader, 32); err != nil {
			b.Fatal(err)
		}
	}
}
