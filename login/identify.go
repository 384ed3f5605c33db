package login

import (
	"context"
	"errors"
	"strings"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/users"
)

// Identifier types a login may name the user by.
const (
	TypeEmail    = "email"
	TypePhone    = "phone_number"
	TypeUserID   = "user_id"
	TypeUsername = "username"
)

// target is what a request's identifier names: the app's user, if any,
// and the subject that challenges and failure counts are bound to.
type target struct {
	// user is the app's user the identifier names, whatever its status or
	// addresses; nil when it names none.
	user *latchkey.User
	// subject is decided by the identifier alone (hide.go): the user's,
	// or the canonical identifier's when there is no user.
	subject string
	// canonical is the identifier in canonical form.
	canonical string
	idType    string
	// decoy marks a send that delivers nothing and whose challenge never
	// succeeds, answered as a real one (hide_unknown_users).
	decoy bool
}

// address is where a send goes: an email address or phone number, or for a
// decoy a stand-in (hide.go).
type address struct {
	value string
	// named is set when the request itself names the address: the
	// identifier, or a custom address.
	named   bool
	standIn bool
}

// unknownSubject is the subject of an identifier that names no user: the
// decoy challenge and failure count of a hidden unknown identifier.
func unknownSubject(idType, canonical string) string {
	return "unknown:" + idType + ":" + canonical
}

// resolve finds the app's user for an identifier. A malformed identifier is
// a 400; an unknown one is errUserNotFound, which callers handle by policy.
func (s *Service) resolve(ctx context.Context, app latchkey.App, idType, identifier string) (target, error) {
	canonical, err := canonicalIdentifier(idType, identifier)
	if err != nil {
		return target{}, err
	}
	t := target{canonical: canonical, idType: idType, subject: unknownSubject(idType, canonical)}
	var m users.Member
	switch idType {
	case TypeEmail:
		m, err = s.cfg.Users.GetByEmail(ctx, app, canonical)
	case TypePhone:
		m, err = s.cfg.Users.GetByPhone(ctx, app, canonical)
	case TypeUserID:
		m, err = s.cfg.Users.Get(ctx, app, canonical)
	case TypeUsername:
		m, err = s.cfg.Users.GetByUsername(ctx, app, canonical)
	}
	if errors.Is(err, users.ErrNotFound) {
		return t, errUserNotFound
	}
	if err != nil {
		return t, err
	}
	t.user, t.subject = &m.User, "user:"+m.User.ID
	return t, nil
}

// canonicalIdentifier checks an identifier against its type and returns its
// canonical form.
func canonicalIdentifier(idType, identifier string) (string, error) {
	if strings.TrimSpace(identifier) == "" {
		return "", invalid("identifier is required")
	}
	if len(identifier) > 320 || strings.ContainsAny(identifier, "\r\n\x00") {
		return "", invalid("identifier is not a valid %s", idType)
	}
	switch idType {
	case TypeEmail:
		_, key, err := users.CanonicalEmail(identifier)
		if err != nil {
			return "", invalid("identifier is not a valid email address")
		}
		return key, nil
	case TypePhone:
		p, err := users.NormalizePhone(identifier)
		if err != nil {
			return "", invalid("identifier is not a phone number in E.164 format")
		}
		return p, nil
	case TypeUserID:
		return strings.TrimSpace(identifier), nil
	case TypeUsername:
		_, key, err := users.CanonicalUsername(identifier)
		if err != nil {
			return "", invalid("identifier is not a valid username")
		}
		return key, nil
	case "":
		return "", invalid("identifier_type is required")
	default:
		return "", invalid("identifier_type must be one of email, phone_number, user_id, username")
	}
}

// sendTarget resolves the user a send is for, applying the app's policy to
// an unknown identifier: public signup creates the user (from an email or a
// phone number), hide_unknown_users makes the send a decoy, and otherwise
// the answer is user_not_found. A disabled user cannot receive a code.
func (s *Service) sendTarget(ctx context.Context, app latchkey.App, idType, identifier string) (target, error) {
	t, err := s.resolve(ctx, app, idType, identifier)
	if errors.Is(err, errUserNotFound) {
		switch {
		case app.Policy.PublicSignup && (idType == TypeEmail || idType == TypePhone):
			return s.signUp(ctx, app, t, identifier)
		case app.Policy.HideUnknownUsers:
			t.decoy = true
			return t, nil
		}
	}
	if err != nil {
		return t, err
	}
	if t.user.Status == latchkey.UserDisabled {
		return hidden(app, t, errUserNotActive)
	}
	return t, nil
}

// addressOn is t's address on a channel: the identifier itself when it is
// an address of the channel (named by the request), else the user's own;
// errEmailMissing or errPhoneMissing when there is neither.
func (t target) addressOn(ch latchkey.Channel) (address, error) {
	switch {
	case ch == latchkey.ChannelEmail && t.idType == TypeEmail && t.user != nil:
		return address{value: t.user.Email, named: true}, nil
	case ch == latchkey.ChannelEmail && t.idType == TypeEmail, ch == latchkey.ChannelSMS && t.idType == TypePhone:
		return address{value: t.canonical, named: true}, nil
	case ch == latchkey.ChannelEmail && t.user != nil && t.user.Email != "":
		return address{value: t.user.Email}, nil
	case ch == latchkey.ChannelSMS && t.user != nil && t.user.Phone != "":
		return address{value: t.user.Phone}, nil
	case ch == latchkey.ChannelEmail:
		return address{}, errEmailMissing
	default:
		return address{}, errPhoneMissing
	}
}

// signUp creates the user a public-signup send names (or adds the tenant's
// existing user to the app).
func (s *Service) signUp(ctx context.Context, app latchkey.App, t target, identifier string) (target, error) {
	f := users.Fields{}
	if t.idType == TypeEmail {
		f.Email = &identifier
	} else {
		f.PhoneNumber = &identifier
	}
	m, _, err := s.cfg.Users.Create(ctx, app, f)
	if err != nil {
		return t, err
	}
	if m.User.Status == latchkey.UserDisabled {
		return t, errUserNotActive
	}
	t.user, t.subject = &m.User, "user:"+m.User.ID
	return t, nil
}
