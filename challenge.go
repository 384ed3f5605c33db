package latchkey

import (
	"encoding/json"
	"time"
)

// ChallengeKind says what a challenge proves possession of.
type ChallengeKind string

// Challenge kinds. An app has at most one live challenge of each kind per
// subject: issuing a new one invalidates the one before.
const (
	KindOTP  ChallengeKind = "otp"  // a one-time passcode
	KindLink ChallengeKind = "link" // a magic link's code
)

// Channel is how a challenge reaches the user.
type Channel string

// Channels.
const (
	ChannelEmail  Channel = "email"
	ChannelSMS    Channel = "sms"
	ChannelDirect Channel = "direct" // returned to the app's backend, sent nowhere
)

// Challenge is one issued passcode or magic link. Only a keyed hash of its
// code is stored.
type Challenge struct {
	ID    string
	AppID string
	Kind  ChallengeKind
	// Subject is what the challenge is bound to: "user:<user ID>" for a
	// known user, or "unknown:<identifier type>:<canonical identifier>"
	// for the decoy a hidden unknown identifier gets. Attempts are counted per app and subject.
	Subject string
	UserID  string // empty for a decoy
	Channel Channel
	// Destination is the address or number the code was sent to.
	Destination string
	CodeHash    []byte
	// RequestID, when set, must accompany the code when it is used.
	RequestID    string
	RedirectURI  string // magic links only
	State        string // magic links only
	ApprovalData json.RawMessage
	CreatedAt    time.Time
	ExpiresAt    time.Time
	// ConsumedAt is when the challenge was used or invalidated (zero while
	// it is live).
	ConsumedAt time.Time
}

// Expired reports whether the challenge can no longer be used at now.
func (c Challenge) Expired(now time.Time) bool { return !now.Before(c.ExpiresAt) }

// AttemptCounter counts consecutive failed authentications of one subject
// in one app, and the lockouts they caused. A new code does not reset it;
// a success does.
type AttemptCounter struct {
	AppID   string
	Subject string
	// Failures counts the failures since the last lockout ended.
	Failures int
	// Consecutive counts every failure since the last success, across
	// lockouts.
	Consecutive int
	// Lockouts counts the lockouts since the last success.
	Lockouts    int
	LockedUntil time.Time
}

// AttemptResult is what one authentication attempt decided
// (ChallengeStore.AttemptChallenge).
type AttemptResult struct {
	// Consume marks the live challenge used: by a success, or by the
	// failure that locks the subject out.
	Consume bool
	// SignIn, when set with Consume, is written in the same transaction.
	SignIn *SignIn
}

// SignIn is what a successful login writes together with the challenge it
// consumes, so that the code, the user's login record and the new session
// are changed all or not at all, and a login costs one transaction.
type SignIn struct {
	// UserID is the user signing in.
	UserID string
	// UpdateUser is applied to the user as read in the transaction, and
	// its result written; its error aborts the attempt. A missing user is
	// ErrNotFound.
	UpdateUser func(*User) error
	// Session, when its ID is set, is created with Refresh, its first
	// refresh token. ErrConflict if either ID is taken.
	Session Session
	Refresh RefreshToken
	// ResetAttempts, when not nil, names by its AppID and Subject an
	// attempt counter that the sign-in resets (removes), atomically with
	// every attempt on that subject (ChallengeStore.AttemptChallenge): a
	// success by one method ends the failures counted against another.
	ResetAttempts *AttemptCounter
}
