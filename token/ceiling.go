package token

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// SigningRate measures how many tokens per second alg can sign on this
// machine, with one signer per CPU, for about d, through the same encoding
// and signing path as Issuer.Sign: the ceiling that token signing alone puts
// on a login's throughput. now reads the clock; the key
// is generated from rand and thrown away.
func SigningRate(ctx context.Context, alg string, d time.Duration, now func() time.Time, rand io.Reader) (float64, error) {
	priv, err := generatePrivate(alg, rand)
	if err != nil {
		return 0, fmt.Errorf("token: signing rate: %w", err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: priv},
		(&jose.SignerOptions{}).WithType(TypeAccessToken).WithHeader("kid", "ceiling"))
	if err != nil {
		return 0, err
	}
	claims := Standard{Issuer: "https://ceiling.invalid", Subject: "ceiling", Audience: DefaultAudience,
		IssuedAt: now().Unix(), Expiry: now().Add(time.Hour).Unix(), ID: "ceiling"}
	var (
		count    atomic.Int64
		firstErr error
		once     sync.Once
		wg       sync.WaitGroup
	)
	start := now()
	deadline := start.Add(d)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && now().Before(deadline) {
				if _, err := signClaims(signer, claims); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				count.Add(1)
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return 0, firstErr
	}
	elapsed := now().Sub(start).Seconds()
	if elapsed <= 0 || count.Load() == 0 {
		return 0, errors.New("token: signing rate: no signature completed")
	}
	return float64(count.Load()) / elapsed, nil
}
