package login

import (
	"errors"

	"github.com/latchkeyhq/latchkey"
)

// Observing. The Service tells its Observer how every send and every
// authentication ended (package metrics counts them), from the four
// methods that answer the API; the rules themselves never see it. What it
// is told names the app, the kind of challenge, a channel and an outcome,
// never the user, the address or the code.

// Observer is told the outcome of every send and authentication.
type Observer interface {
	// Sent is told of a send of a passcode (KindOTP) or a magic link
	// (KindLink) by ch, the channel the request asked for (checked or
	// not), and how it ended. A send answered as sent is a success, a
	// decoy's too (its message is suppressed by the outbox).
	Sent(app latchkey.App, kind latchkey.ChallengeKind, ch latchkey.Channel, outcome Outcome)
	// Authenticated is told of an authentication with a passcode or a
	// magic link, the channel its code was sent by ("" when no live code
	// was found for it), and how it ended.
	Authenticated(app latchkey.App, kind latchkey.ChallengeKind, ch latchkey.Channel, outcome Outcome)
}

// Outcome is how a send or an authentication ended.
type Outcome string

// The outcomes.
const (
	OutcomeSuccess       Outcome = "success"         // sent; or signed in
	OutcomeInvalid       Outcome = "invalid"         // a wrong code, or no live code or link for it
	OutcomeExpired       Outcome = "expired"         // the code had expired
	OutcomeLocked        Outcome = "locked"          // the subject is locked out after failed attempts
	OutcomeRateLimited   Outcome = "rate_limited"    // refused by one of the app's limits
	OutcomeUserNotFound  Outcome = "user_not_found"  // no such user, or none with the channel's address
	OutcomeUserNotActive Outcome = "user_not_active" // the user is disabled
	OutcomeRejected      Outcome = "rejected"        // any other refusal of the request (bad input, no provider...)
	OutcomeError         Outcome = "error"           // the server failed (the database, a bug)
)

// Outcomes lists every outcome, for observers that prepare their counts.
var Outcomes = []Outcome{OutcomeSuccess, OutcomeInvalid, OutcomeExpired, OutcomeLocked, OutcomeRateLimited,
	OutcomeUserNotFound, OutcomeUserNotActive, OutcomeRejected, OutcomeError}

// outcomeOf tells how a request that returned err ended.
func outcomeOf(err error) Outcome {
	if err == nil {
		return OutcomeSuccess
	}
	if errors.Is(err, errInvalidLink) {
		return OutcomeInvalid
	}
	switch latchkey.ErrorCode(err) {
	case latchkey.CodeInvalidCredentials:
		return OutcomeInvalid
	case latchkey.CodePasscodeExpired:
		return OutcomeExpired
	case latchkey.CodeLocked:
		return OutcomeLocked
	case latchkey.CodeRateLimited:
		return OutcomeRateLimited
	case latchkey.CodeUserNotFound, latchkey.CodeEmailMissing, latchkey.CodePhoneMissing:
		return OutcomeUserNotFound
	case latchkey.CodeUserNotActive:
		return OutcomeUserNotActive
	case latchkey.CodeInternal, latchkey.CodeUnavailable:
		return OutcomeError
	default:
		return OutcomeRejected
	}
}

// observeSend tells the Observer, if any, how a send ended.
func (s *Service) observeSend(app latchkey.App, kind latchkey.ChallengeKind, ch latchkey.Channel, err error) {
	if s.cfg.Observer != nil {
		s.cfg.Observer.Sent(app, kind, ch, outcomeOf(err))
	}
}

// observeLogin tells the Observer, if any, how an authentication ended.
func (s *Service) observeLogin(app latchkey.App, kind latchkey.ChallengeKind, ch latchkey.Channel, err error) {
	if s.cfg.Observer != nil {
		s.cfg.Observer.Authenticated(app, kind, ch, outcomeOf(err))
	}
}
