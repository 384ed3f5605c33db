package users

import (
	"time"

	"github.com/latchkeyhq/latchkey"
)

// Login describes a successful one-time login, for ApplyLogin.
type Login struct {
	Channel latchkey.Channel
	// AuthType is Mosaic's identity auth_type: email_otp, sms_otp,
	// direct_otp or email_magic_link.
	AuthType string
	// Destination is where the code was sent (empty for a direct code).
	Destination string
}

// ApplyLogin changes u as a successful login does: the email (or phone
// number) the code reached is now verified if it is the user's primary
// one, a Pending user becomes Active, and the time and method are recorded
// in last_auth and the user's identities. The caller writes it, with the
// rest of the login (latchkey.SignIn).
func (s *Service) ApplyLogin(u *latchkey.User, l Login) {
	now := s.now()
	s.markVerified(u, l, now)
	if u.Status == latchkey.UserPending {
		u.Status, u.StatusChangedAt = latchkey.UserActive, now
	}
	u.LastAuthAt, u.UpdatedAt = now, now
	u.Identities = recordIdentity(u.Identities, l, now)
}

func (s *Service) markVerified(u *latchkey.User, l Login, now time.Time) {
	switch l.Channel {
	case latchkey.ChannelEmail:
		if _, key, err := CanonicalEmail(l.Destination); err == nil && key == u.EmailKey {
			u.EmailVerifiedAt = now
		}
	case latchkey.ChannelSMS:
		if phone, err := NormalizePhone(l.Destination); err == nil && phone == u.Phone {
			u.PhoneVerifiedAt = now
		}
	}
}

// recordIdentity updates the identity of this auth type and destination, or
// adds it.
func recordIdentity(ids []latchkey.Identity, l Login, now time.Time) []latchkey.Identity {
	for i := range ids {
		if ids[i].AuthType == l.AuthType && ids[i].Identifier == l.Destination {
			ids[i].LastAuthDate = now
			return ids
		}
	}
	return append(ids, latchkey.Identity{ProviderName: "Latchkey", ProviderType: "Native", AuthType: l.AuthType,
		Identifier: l.Destination, FirstAuthDate: now, LastAuthDate: now})
}
