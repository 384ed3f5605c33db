package login

import (
	"github.com/latchkeyhq/latchkey"
)

// Hiding unknown users (the app's hide_unknown_users). With it on, nothing
// a send or an authentication answers may tell whether an identifier names
// a user who can receive the code: an unknown identifier, a disabled user,
// and a user without the channel's address all get a decoy, answered,
// limited and locked out exactly as a real send.
//
// The rules that make the two indistinguishable, at every count:
//
//   - The subject a challenge and its failure counts are bound to is decided
//     by the identifier alone: "user:<ID>" when it names a user of the app
//     (whatever the user's status or addresses), else
//     "unknown:<type>:<canonical identifier>". Send and authenticate
//     therefore always agree, and wrong codes on a decoy count and lock as
//     on a real code.
//   - A decoy is a challenge without a user: it never succeeds, not even
//     with its own code. Like any send it replaces the subject's live code,
//     so a decoy sent to a real user (disabled, or by a channel the user has
//     no address for) ends the code that user was sent before, exactly as a
//     real send would.
//   - A decoy is counted against the same limits as a real send: its
//     subject, and a destination. When the request names an address of the
//     channel (the identifier itself, or custom_email and
//     custom_phone_number), that address is the destination, as for a real
//     send. Otherwise the destination is a stand-in unique to the channel
//     and subject (see standIn), so a decoy never shares a counter that a
//     real send to the same user would not share: a prober cannot fill an
//     email address's cooldown through a decoy SMS.
//   - The SMS country check judges only numbers the request names. A user's
//     own number in a country the app does not send to gets a decoy, since
//     refusing would tell that the user exists, and where.
//
// What remains: a prober who already holds two identifiers of one user (an
// email address and the user's phone number, say) can see that sends to
// both share the user's counters; no limit tells whether one identifier
// alone names a user. The direct channel returns the code to the app's own
// backend, which can look users up anyway.

// hidden applies hide_unknown_users to an answer that would reveal that the
// user exists but cannot receive the code (disabled, or without the address
// the channel needs): with the setting on, the send goes ahead as a decoy,
// and nothing is delivered.
func hidden(app latchkey.App, t target, err error) (target, error) {
	if !app.Policy.HideUnknownUsers {
		return t, err
	}
	t.decoy = true
	return t, nil
}

// isMissingAddress reports whether err says the user has no address for
// the channel.
func isMissingAddress(err error) bool {
	code := latchkey.ErrorCode(err)
	return code == latchkey.CodeEmailMissing || code == latchkey.CodePhoneMissing
}

// standInPrefix starts every stand-in destination; no address does.
const standInPrefix = "nowhere:"

// standIn is the destination a decoy is counted against when the request
// names no address of the channel: unique to the channel and the subject,
// shared with no real address.
func standIn(ch latchkey.Channel, subject string) string {
	return standInPrefix + string(ch) + ":" + subject
}

// route decides where a send to t by ch goes, given the address the
// request resolved to (named when the request itself names it) or the
// error of a user without one: the target, as a decoy when the app hides
// what the real answer would reveal, and the destination it is counted
// against.
func (s *Service) route(app latchkey.App, t target, ch latchkey.Channel, a address, err error) (target, address, error) {
	if isMissingAddress(err) {
		t, err = hidden(app, t, err)
	}
	if err != nil {
		return t, a, err
	}
	if !t.decoy && !a.named && ch == latchkey.ChannelSMS && app.Policy.HideUnknownUsers && !s.smsAllowed(app, a.value) {
		t.decoy = true
	}
	if t.decoy && !a.named && ch != latchkey.ChannelDirect {
		a = address{value: standIn(ch, t.subject), standIn: true}
	}
	return t, a, nil
}

// smsAllowed reports whether the app's limits let an SMS go to number;
// without a limiter every number is allowed.
func (s *Service) smsAllowed(app latchkey.App, number string) bool {
	return s.cfg.Limiter == nil || s.cfg.Limiter.SMSAllowed(app, number)
}
