// Package token issues and checks Latchkey's JWTs and manages the keys that
// sign them.
//
// Keys live in the store, their private halves sealed under the server
// secret. At any time there is one Current key, which signs, and one Next
// key, which is already published in the JWKS so that verifiers have cached
// it before it signs anything. Rotation promotes Next to Current, retires the
// old Current key (published until every token it signed has expired, then
// deleted) and creates a new Next key; it refuses, unless forced, to promote
// a Next key published for less than the JWKS cache lifetime plus the reload
// interval, so that no relying party meets a token signed by a key it has
// not seen. Every node reads the key set from the store and reloads it on a
// short interval, so a rotation made on one node reaches every node's JWKS
// and signer within that interval.
//
// Tokens are compact JWS only, with an explicit "typ" ("at+jwt" for access
// tokens, "JWT" for ID tokens). Verification accepts only the algorithms
// Latchkey signs with, requires the token's "alg" to be the algorithm of the
// key its "kid" names, and never trusts key material carried in a header.
package token
