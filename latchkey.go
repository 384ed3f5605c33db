// Package latchkey holds Latchkey's domain: the applications that call it,
// the users they sign in, the signing keys behind their tokens, the errors
// every layer speaks, and the Store contract that each database backend
// implements.
//
// Latchkey is a self-hosted passwordless login service. An application's
// backend authenticates with OAuth 2.0 client credentials, then asks Latchkey
// to send a one-time passcode or magic link to a user and to exchange what the
// user brings back for OIDC tokens. The wire format follows Transmit Security
// Mosaic's backend one-time login API.
//
// This package imports only the standard library. Business rules live in
// their own packages (apps, users, token, oauth2), adapters in packages named
// after what they adapt (sqlite, httpapi), and wiring in cmd/latchkey.
package latchkey

import "time"

// Version is the release of this build, reported by `latchkey version` and
// in the server's start-up log line.
var Version = "0.1.0-dev"

// Millis converts t to Unix milliseconds, the unit every stored time and every
// Mosaic epoch field uses. The zero time converts to 0.
func Millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// FromMillis converts Unix milliseconds back to a UTC time; 0 gives the zero
// time.
func FromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}
