package token

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/secrets"
)

// Supported signing algorithms, by their JOSE names.
const (
	RS256 = "RS256"
	ES256 = "ES256"
	EdDSA = "EdDSA"
)

// Algorithms lists every signing algorithm Latchkey can use.
var Algorithms = []string{RS256, ES256, EdDSA}

// rsaBits is the size of generated RSA keys (RFC 7518 §3.3 asks for 2048 or
// more).
const rsaBits = 2048

// RetiredKeyPublication is how long a retired key stays in the JWKS: the
// longest a JWT may live, plus an hour for verifiers' JWKS caches and clock
// skew.
const RetiredKeyPublication = latchkey.MaxJWTLifetime + time.Hour

// DefaultRefresh is how often a node reloads the key set from the store, and
// so the longest a rotation made on another node takes to reach it.
const DefaultRefresh = 30 * time.Second

// JWKSMaxAge is how long relying parties may cache the JWKS and discovery
// documents: the max-age of their Cache-Control header.
const JWKSMaxAge = 5 * time.Minute

// KeysConfig configures Keys.
type KeysConfig struct {
	Store     latchkey.KeyStore
	Keyring   *secrets.Keyring
	Algorithm string // the algorithm of newly generated keys
	Now       func() time.Time
	Rand      io.Reader
	// Refresh is how long a loaded key set is used before it is reloaded;
	// DefaultRefresh when zero.
	Refresh time.Duration
}

// Keys loads, caches, creates and rotates signing keys.
type Keys struct {
	cfg KeysConfig

	mu        sync.Mutex
	set       *keySet
	loadedAt  time.Time
	forcedAt  time.Time
	decrypted map[string]crypto.Signer // private keys already opened, by kid
}

// keySet is one consistent view of the stored keys.
type keySet struct {
	current *loadedKey
	byID    map[string]*loadedKey
	jwks    []byte // the published JWKS document
	algs    []string
}

// loadedKey is a key ready for use: its public half always, its private half
// only for the Current key.
type loadedKey struct {
	meta    latchkey.SigningKey
	public  crypto.PublicKey
	private crypto.Signer

	signersMu sync.Mutex
	signers   map[string]jose.Signer // by "typ"
}

// NewKeys returns a key manager. It loads nothing until first used.
func NewKeys(cfg KeysConfig) (*Keys, error) {
	if !slices.Contains(Algorithms, cfg.Algorithm) {
		return nil, fmt.Errorf("token: unsupported signing algorithm %q", cfg.Algorithm)
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = DefaultRefresh
	}
	return &Keys{cfg: cfg, decrypted: map[string]crypto.Signer{}}, nil
}

// Algorithm is the algorithm of newly generated keys.
func (k *Keys) Algorithm() string { return k.cfg.Algorithm }

// Ensure makes sure a Current and a Next key exist, and that the Next key
// uses the configured algorithm. A first start creates both; a start with a
// new LATCHKEY_SIGNING_ALG replaces the Next key (which has signed nothing),
// and a rotation promotes the new key only once it has been published for
// MinPublication, so the algorithm changes without ever signing with a key
// relying parties have not seen. Several nodes may call Ensure at once: a node that loses
// a race reloads what the winner created.
func (k *Keys) Ensure(ctx context.Context) error {
	for attempt := 0; attempt < 3; attempt++ {
		err := k.ensureOnce(ctx)
		if !errors.Is(err, latchkey.ErrConflict) {
			return err
		}
	}
	return errors.New("token: could not settle the signing keys after 3 attempts")
}

func (k *Keys) ensureOnce(ctx context.Context) error {
	keys, err := k.cfg.Store.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("token: list keys: %w", err)
	}
	current, next := findState(keys, latchkey.KeyCurrent), findState(keys, latchkey.KeyNext)
	if next != nil && next.Algorithm != k.cfg.Algorithm {
		if err := k.cfg.Store.DeleteKey(ctx, next.ID); err != nil && !errors.Is(err, latchkey.ErrNotFound) {
			return fmt.Errorf("token: replace next key: %w", err)
		}
		next = nil
	}
	if current == nil {
		// A first start: no token exists yet, so the first key may sign
		// at once.
		if err := k.create(ctx, latchkey.KeyCurrent); err != nil {
			return err
		}
	}
	if next == nil {
		if err := k.create(ctx, latchkey.KeyNext); err != nil {
			return err
		}
	}
	_, err = k.reload(ctx)
	return err
}

// create generates and stores a key in the given state; a Current key is
// active from its creation.
func (k *Keys) create(ctx context.Context, state latchkey.KeyState) error {
	key, err := k.generate(state)
	if err != nil {
		return err
	}
	if state == latchkey.KeyCurrent {
		key.ActivatedAt = key.CreatedAt
	}
	if err := k.cfg.Store.CreateKey(ctx, key); err != nil {
		return fmt.Errorf("token: create key: %w", err)
	}
	return nil
}

func findState(keys []latchkey.SigningKey, state latchkey.KeyState) *latchkey.SigningKey {
	for i := range keys {
		if keys[i].State == state {
			return &keys[i]
		}
	}
	return nil
}

// Prune deletes retired keys whose publication has ended.
func (k *Keys) Prune(ctx context.Context) (int, error) {
	n, err := k.cfg.Store.DeleteRetiredKeys(ctx, k.cfg.Now())
	if err != nil {
		return 0, fmt.Errorf("token: prune keys: %w", err)
	}
	if n > 0 {
		_, err = k.reload(ctx)
	}
	return n, err
}

// List returns the stored keys, newest first, without their private halves.
func (k *Keys) List(ctx context.Context) ([]latchkey.SigningKey, error) {
	keys, err := k.cfg.Store.ListKeys(ctx)
	for i := range keys {
		keys[i].PrivateSealed = nil
	}
	return keys, err
}

// JWKS returns the published key set document: every Next, Current and
// still-published Retired key.
func (k *Keys) JWKS(ctx context.Context) ([]byte, error) {
	set, err := k.get(ctx)
	if err != nil {
		return nil, err
	}
	return set.jwks, nil
}

// PublishedAlgorithms returns the algorithms of the published keys, for the
// discovery document.
func (k *Keys) PublishedAlgorithms(ctx context.Context) ([]string, error) {
	set, err := k.get(ctx)
	if err != nil {
		return nil, err
	}
	return set.algs, nil
}

// get returns the cached key set, reloading it when it is older than the
// refresh interval.
func (k *Keys) get(ctx context.Context) (*keySet, error) {
	k.mu.Lock()
	set, fresh := k.set, k.set != nil && k.cfg.Now().Sub(k.loadedAt) < k.cfg.Refresh
	k.mu.Unlock()
	if fresh {
		return set, nil
	}
	return k.reload(ctx)
}

// lookup returns the published key with this kid. An unknown kid triggers
// one reload, at most once a second, in case another node has just rotated.
func (k *Keys) lookup(ctx context.Context, kid string) (*loadedKey, error) {
	set, err := k.get(ctx)
	if err != nil {
		return nil, err
	}
	if key, ok := set.byID[kid]; ok {
		return key, nil
	}
	k.mu.Lock()
	now := k.cfg.Now()
	mayReload := now.Sub(k.forcedAt) >= time.Second
	if mayReload {
		k.forcedAt = now
	}
	k.mu.Unlock()
	if mayReload {
		if set, err = k.reload(ctx); err != nil {
			return nil, err
		}
	}
	key, ok := set.byID[kid]
	if !ok {
		return nil, errUnknownKey
	}
	return key, nil
}

var errUnknownKey = errors.New("token: unknown key ID")

// reload reads the keys from the store and replaces the cached set.
func (k *Keys) reload(ctx context.Context) (*keySet, error) {
	keys, err := k.cfg.Store.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("token: load keys: %w", err)
	}
	now := k.cfg.Now()
	set := &keySet{byID: map[string]*loadedKey{}}
	var published []jose.JSONWebKey
	for _, meta := range keys {
		if meta.State == latchkey.KeyRetired && !now.Before(meta.PublishUntil) {
			continue
		}
		key, err := k.load(meta)
		if err != nil {
			return nil, err
		}
		set.byID[meta.ID] = key
		if meta.State == latchkey.KeyCurrent {
			set.current = key
		}
		published = append(published, jose.JSONWebKey{Key: key.public, KeyID: meta.ID, Algorithm: meta.Algorithm, Use: "sig"})
		if !slices.Contains(set.algs, meta.Algorithm) {
			set.algs = append(set.algs, meta.Algorithm)
		}
	}
	if set.current == nil {
		return nil, errors.New("token: no current signing key; run `latchkey migrate` or start the server to create one")
	}
	set.jwks, err = json.Marshal(jose.JSONWebKeySet{Keys: published})
	if err != nil {
		return nil, fmt.Errorf("token: encode JWKS: %w", err)
	}
	k.mu.Lock()
	k.set, k.loadedAt = set, now
	k.mu.Unlock()
	return set, nil
}

// load parses a stored key. The private half is opened only for the Current
// key, and only once per process.
func (k *Keys) load(meta latchkey.SigningKey) (*loadedKey, error) {
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(meta.PublicJWK); err != nil {
		return nil, fmt.Errorf("token: key %s: public key: %w", meta.ID, err)
	}
	key := &loadedKey{meta: meta, public: jwk.Key, signers: map[string]jose.Signer{}}
	if meta.State != latchkey.KeyCurrent {
		return key, nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if priv, ok := k.decrypted[meta.ID]; ok {
		key.private = priv
		return key, nil
	}
	der, err := k.cfg.Keyring.Open(meta.PrivateSealed, meta.ID)
	if err != nil {
		// Refuse to start rather than mint a new key: a changed
		// LATCHKEY_SECRET must not silently invalidate every token.
		return nil, fmt.Errorf("token: key %s cannot be opened with LATCHKEY_SECRET (was the secret changed? keep the old one in LATCHKEY_PREVIOUS_SECRETS): %w", meta.ID, err)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("token: key %s: private key: %w", meta.ID, err)
	}
	priv, ok := parsed.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("token: key %s: not a signing key", meta.ID)
	}
	k.decrypted[meta.ID] = priv
	key.private = priv
	return key, nil
}

// generate makes a new key of the configured algorithm in the given state.
func (k *Keys) generate(state latchkey.KeyState) (latchkey.SigningKey, error) {
	priv, err := generatePrivate(k.cfg.Algorithm, k.cfg.Rand)
	if err != nil {
		return latchkey.SigningKey{}, fmt.Errorf("token: generate %s key: %w", k.cfg.Algorithm, err)
	}
	kid, err := secrets.NewID(k.cfg.Rand)
	if err != nil {
		return latchkey.SigningKey{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return latchkey.SigningKey{}, fmt.Errorf("token: encode key: %w", err)
	}
	sealed, err := k.cfg.Keyring.Seal(der, kid)
	if err != nil {
		return latchkey.SigningKey{}, err
	}
	jwk, err := jose.JSONWebKey{Key: priv.Public(), KeyID: kid, Algorithm: k.cfg.Algorithm, Use: "sig"}.MarshalJSON()
	if err != nil {
		return latchkey.SigningKey{}, fmt.Errorf("token: encode public key: %w", err)
	}
	return latchkey.SigningKey{ID: kid, Algorithm: k.cfg.Algorithm, State: state, PrivateSealed: sealed,
		PublicJWK: jwk, CreatedAt: k.cfg.Now()}, nil
}

func generatePrivate(alg string, rand io.Reader) (crypto.Signer, error) {
	switch alg {
	case RS256:
		return rsa.GenerateKey(rand, rsaBits)
	case ES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand)
	case EdDSA:
		_, priv, err := ed25519.GenerateKey(rand)
		return priv, err
	default:
		return nil, fmt.Errorf("unsupported algorithm %q", alg)
	}
}

// signer returns a JOSE signer for the key that writes typ in the header.
func (key *loadedKey) signer(typ string) (jose.Signer, error) {
	key.signersMu.Lock()
	defer key.signersMu.Unlock()
	if s, ok := key.signers[typ]; ok {
		return s, nil
	}
	opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ)).WithHeader(jose.HeaderKey("kid"), key.meta.ID)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(key.meta.Algorithm), Key: key.private}, opts)
	if err != nil {
		return nil, fmt.Errorf("token: signer: %w", err)
	}
	key.signers[typ] = s
	return s, nil
}
