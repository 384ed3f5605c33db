package token_test

import (
	"context"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/token"
)

// BenchmarkSign measures minting one access token per algorithm, the cost
// that bounds a login's throughput (a login signs two tokens).
func BenchmarkSign(b *testing.B) {
	for _, alg := range token.Algorithms {
		b.Run(alg, func(b *testing.B) {
			e := newEnv(b, alg)
			c := e.claims(time.Hour)
			b.ResetTimer()
			for b.Loop() {
				if _, err := e.issuer.Sign(context.Background(), token.TypeAccessToken, c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerify measures checking a client access token, done on every
// API call.
func BenchmarkVerify(b *testing.B) {
	for _, alg := range token.Algorithms {
		b.Run(alg, func(b *testing.B) {
			e := newEnv(b, alg)
			raw, _ := e.issuer.Sign(context.Background(), token.TypeAccessToken, e.claims(time.Hour))
			b.ResetTimer()
			for b.Loop() {
				if _, err := e.verify(raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
