package latchkey

import "time"

// Session is a backend login session: created by a successful
// authentication, named by the session_id returned with the tokens, extended
// when tokens are issued in it, and ended by logout or revocation.
type Session struct {
	ID     string
	AppID  string
	UserID string
	// Methods are the "amr" values of every authentication in the session,
	// in order, without repeats.
	Methods         []string
	AuthenticatedAt time.Time // the latest authentication
	CreatedAt       time.Time
	ExpiresAt       time.Time
	RevokedAt       time.Time
}

// Live reports whether the session can still be used at now.
func (s Session) Live(now time.Time) bool {
	return s.RevokedAt.IsZero() && now.Before(s.ExpiresAt)
}

// RefreshToken is one opaque refresh token, stored only as a keyed hash.
// Each use rotates it: the token is marked used and a new one of the same
// family issued. Presenting a used token again revokes the family and its
// session.
type RefreshToken struct {
	ID        string
	Hash      []byte
	FamilyID  string
	SessionID string
	AppID     string
	UserID    string
	// Audience is the resource the access tokens it yields are for (empty
	// for the default audience).
	Audience  string
	CreatedAt time.Time
	// ExpiresAt is fixed for the family: rotation never extends it.
	ExpiresAt time.Time
	UsedAt    time.Time
	RevokedAt time.Time
}
