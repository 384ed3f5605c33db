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
	// known user, or "unknown:<identifier>" for the decoy a hidden unknown
	// identifier gets. Attempts are counted per app and subject.
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
// in one app. A new code does not reset it; a success does.
type AttemptCounter struct {
	AppID       string
	Subject     string
	Failures    int
	LockedUntil time.Time
}
