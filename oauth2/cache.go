package oauth2

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// A backend calls the API many times with one client access token, and
// checking its signature is the costliest part of every call (ES256
// verification alone takes about 80µs). The bearer cache remembers tokens
// already verified, until they expire, and the app each belongs to for a
// short while, so most calls skip both the signature and the database.
//
// What the cache may delay is bounded by appTTL: a deleted app, a rotated
// secret or a withdrawn management flag reaches a node's cached entries
// within appTTL, on every node, because entries are never refreshed from
// another node's memory.
const (
	// appTTL is how long an app read from the database is trusted.
	appTTL = 2 * time.Second
	// maxCachedTokens bounds the cache's memory (about 200 bytes an entry).
	maxCachedTokens = 10000
)

// bearerCache maps a token's SHA-256 to its verified claims and app.
type bearerCache struct {
	mu      sync.Mutex
	entries map[[32]byte]*cachedBearer
}

type cachedBearer struct {
	claims    ClientClaims
	expiry    time.Time // the token's exp
	app       latchkey.App
	appExpiry time.Time // when app must be read again
}

func newBearerCache() *bearerCache {
	return &bearerCache{entries: map[[32]byte]*cachedBearer{}}
}

func tokenKey(raw string) [32]byte { return sha256.Sum256([]byte(raw)) }

// get returns the cached entry of a still valid token (nil if none).
func (c *bearerCache) get(key [32]byte, now time.Time) *cachedBearer {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		return nil
	}
	if !now.Before(e.expiry) {
		delete(c.entries, key)
		return nil
	}
	copy := *e
	return &copy
}

// put remembers a verified token and its app. When the cache is full it
// drops expired entries, and if none expired, an arbitrary half.
func (c *bearerCache) put(key [32]byte, e cachedBearer, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= maxCachedTokens {
		c.evict(now)
	}
	c.entries[key] = &e
}

func (c *bearerCache) evict(now time.Time) {
	for k, e := range c.entries {
		if !now.Before(e.expiry) {
			delete(c.entries, k)
		}
	}
	for k := range c.entries {
		if len(c.entries) < maxCachedTokens/2 {
			return
		}
		delete(c.entries, k)
	}
}
