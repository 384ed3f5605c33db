package token

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// Rotation reports what a rotation did.
type Rotation struct {
	Promoted latchkey.SigningKey // the key that now signs
	Retired  latchkey.SigningKey // the key that stopped signing (zero if none)
	Next     latchkey.SigningKey // the new key published ahead of use
	// PublishedFor is how long the promoted key had been published before
	// it began to sign.
	PublishedFor time.Duration
	// MinPublication is how long it should have been (see
	// Keys.MinPublication); a forced rotation may have promoted a key
	// published for less.
	MinPublication time.Duration
}

// Early reports whether the rotation promoted a key published for less
// than the minimum, which only a forced rotation does: relying parties that
// cached the JWKS before the key was published reject the tokens it signs
// until their cached copy expires, at the latest at FullyPublishedAt.
func (r Rotation) Early() bool { return r.PublishedFor < r.MinPublication }

// FullyPublishedAt is when every relying party has seen the promoted key:
// its publication plus the minimum.
func (r Rotation) FullyPublishedAt() time.Time {
	return r.Promoted.CreatedAt.Add(r.MinPublication)
}

// RotateOptions modify a rotation.
type RotateOptions struct {
	// Force promotes the Next key even if it has been published for less
	// than the minimum.
	Force bool
}

// EarlyRotationError refuses a rotation whose Next key has not been
// published long enough for every relying party to have seen it.
type EarlyRotationError struct {
	Current      latchkey.SigningKey // the key that signs
	Next         latchkey.SigningKey // the key that would have been promoted
	PublishedFor time.Duration       // how long Next has been published
	Required     time.Duration       // how long it must be (Keys.MinPublication)
	Refresh      time.Duration       // the key refresh interval, a part of Required
	AllowedAt    time.Time           // when a rotation will be allowed
}

// Error says how long the key has been published, how long it must be, and
// when a rotation will be allowed.
func (e *EarlyRotationError) Error() string {
	var b strings.Builder
	if e.Current.Algorithm != e.Next.Algorithm {
		fmt.Fprintf(&b, "the signing algorithm changes from %s to %s through a new next key, published when LATCHKEY_SIGNING_ALG changed; ",
			e.Current.Algorithm, e.Next.Algorithm)
	}
	fmt.Fprintf(&b, "the next key %s (%s) has been published for %s, and must be for at least %s "+
		"(the JWKS cache lifetime, %s, plus the key refresh interval LATCHKEY_KEY_REFRESH, %s) before it signs, "+
		"or relying parties that cached the JWKS before it was published would reject its tokens; "+
		"a rotation is allowed from %s (in %s)",
		e.Next.ID, e.Next.Algorithm, e.PublishedFor.Round(time.Second), e.Required, JWKSMaxAge, e.Refresh,
		e.AllowedAt.UTC().Format(time.RFC3339), (e.Required - e.PublishedFor).Round(time.Second))
	return b.String()
}

// MinPublication is how long a Next key must have been published before a
// rotation makes it sign: the JWKS cache lifetime plus the refresh
// interval. A node publishes a key at most one refresh interval after it is
// created, and a relying party that fetched the JWKS just before keeps that
// copy for JWKSMaxAge; after both, every relying party knows the key.
func (k *Keys) MinPublication() time.Duration { return JWKSMaxAge + k.cfg.Refresh }

// Rotate makes the Next key Current, retires the Current key and publishes a
// new Next key of the configured algorithm. It refuses, with an
// *EarlyRotationError, to promote a Next key published for less than
// MinPublication unless opts.Force is set. When the configured algorithm
// differs from the Next key's, the Next key is first replaced by one of the
// new algorithm (as Ensure does at start-up), which then has to wait out the
// minimum like any other.
func (k *Keys) Rotate(ctx context.Context, opts RotateOptions) (Rotation, error) {
	if err := k.Ensure(ctx); err != nil {
		return Rotation{}, err
	}
	keys, err := k.cfg.Store.ListKeys(ctx)
	if err != nil {
		return Rotation{}, fmt.Errorf("token: list keys: %w", err)
	}
	current, next := findState(keys, latchkey.KeyCurrent), findState(keys, latchkey.KeyNext)
	if current == nil || next == nil {
		return Rotation{}, latchkey.ErrConflict
	}
	if published := k.cfg.Now().Sub(next.CreatedAt); published < k.MinPublication() && !opts.Force {
		return Rotation{}, &EarlyRotationError{Current: *current, Next: *next, PublishedFor: published,
			Required: k.MinPublication(), Refresh: k.cfg.Refresh, AllowedAt: next.CreatedAt.Add(k.MinPublication())}
	}
	newNext, err := k.generate(latchkey.KeyNext)
	if err != nil {
		return Rotation{}, err
	}
	now := k.cfg.Now()
	r := latchkey.KeyRotation{PromoteID: next.ID, RetireID: current.ID,
		PublishUntil: now.Add(RetiredKeyPublication), NewNext: newNext, At: now}
	if err := k.cfg.Store.RotateKeys(ctx, r); err != nil {
		return Rotation{}, fmt.Errorf("token: rotate keys: %w", err)
	}
	if _, err := k.reload(ctx); err != nil {
		return Rotation{}, err
	}
	promoted, retired := *next, *current
	promoted.State, promoted.ActivatedAt = latchkey.KeyCurrent, now
	retired.State, retired.RetiredAt, retired.PublishUntil = latchkey.KeyRetired, now, r.PublishUntil
	return Rotation{Promoted: promoted, Retired: retired, Next: newNext, PublishedFor: now.Sub(next.CreatedAt),
		MinPublication: k.MinPublication()}, nil
}
