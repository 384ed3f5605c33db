package login

import (
	"context"
	"encoding/hex"
	"errors"
	"net/netip"
	"strings"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/secrets"
	"github.com/latchkeyhq/latchkey/users"
)

// Limiter judges sends and authentications against the app's abuse limits
// (package ratelimit implements it).
type Limiter interface {
	// ForSend returns the counter update a send commits with its
	// challenge (nil when no limit applies), or refuses the send.
	ForSend(ctx context.Context, app latchkey.App, send latchkey.SendFacts) (*latchkey.CounterUpdate, error)
	// CheckAuthenticate refuses an authenticate call, before any code is
	// evaluated, while the app's guess budget or the end user's address's
	// failure budget is spent.
	CheckAuthenticate(ctx context.Context, app latchkey.App, endUser netip.Addr) error
	// Failed records a failed authentication.
	Failed(ctx context.Context, app latchkey.App, endUser netip.Addr) error
	// SMSAllowed reports whether the app's limits let an SMS go to number.
	SMSAllowed(app latchkey.App, number string) bool
}

// otpLimits is what the limits make of a passcode send: the counters it
// spends, or, when it goes to a test identifier, none and that identifier.
func (s *Service) otpLimits(ctx context.Context, app latchkey.App, req SendOTP, t target, dest address) (*latchkey.CounterUpdate, *latchkey.TestIdentifier, error) {
	if test := testIdentifier(app, req.Channel, t, dest.value); test != nil {
		return nil, test, nil
	}
	spend, err := s.limitSend(ctx, app, req.Channel, t, dest, req.EndUser)
	return spend, nil, err
}

// limitSend asks the limiter for the counters a send to dest spends: the
// subject's, the destination's (none for the direct channel, which sends
// nowhere) and the end user's address's. nil without a limiter.
func (s *Service) limitSend(ctx context.Context, app latchkey.App, ch latchkey.Channel, t target, dest address, endUser netip.Addr) (*latchkey.CounterUpdate, error) {
	if s.cfg.Limiter == nil {
		return nil, nil
	}
	facts := latchkey.SendFacts{Channel: ch, Subject: t.subject, EndUser: endUser}
	if ch != latchkey.ChannelDirect {
		facts.Destination, facts.StandIn = canonicalDestination(ch, dest.value), dest.standIn
	}
	return s.cfg.Limiter.ForSend(ctx, app, facts)
}

// canonicalDestination is the form a destination is counted and matched
// by: an email address's key (so that the spellings of one mailbox share
// a counter), or the E.164 number as it is.
func canonicalDestination(ch latchkey.Channel, dest string) string {
	if ch == latchkey.ChannelEmail {
		if _, key, err := users.CanonicalEmail(dest); err == nil {
			return key
		}
	}
	return dest
}

// checkGuesses refuses an authenticate call while a failure budget is
// spent.
func (s *Service) checkGuesses(ctx context.Context, app latchkey.App, endUser netip.Addr) error {
	if s.cfg.Limiter == nil {
		return nil
	}
	return s.cfg.Limiter.CheckAuthenticate(ctx, app, endUser)
}

// countGuess records an authentication that failed as a guess does (a
// wrong, expired or locked-out code, an unknown link) and returns its
// error; a failure to record it is returned instead, so the budget fails
// closed.
func (s *Service) countGuess(ctx context.Context, app latchkey.App, endUser netip.Addr, err error) error {
	if s.cfg.Limiter == nil || !isGuess(err) {
		return err
	}
	if ferr := s.cfg.Limiter.Failed(ctx, app, endUser); ferr != nil {
		return ferr
	}
	return err
}

// isGuess reports whether an authentication failed on the code it
// brought.
func isGuess(err error) bool {
	switch latchkey.ErrorCode(err) {
	case latchkey.CodeInvalidCredentials, latchkey.CodePasscodeExpired, latchkey.CodeLocked:
		return true
	}
	return errors.Is(err, errInvalidLink)
}

// Test identifiers. An app may give an email address or phone number a
// fixed passcode, for CI and app store reviewers. A passcode sent to one by
// email or SMS is not sent and counts against no limit; its challenge is
// made from the test identifier's stored hash instead of a code, so that
// only the fixed code opens it, through the usual check (single use,
// failures counted and locked out as for any code). Only a keyed hash of
// the fixed code is stored: a copy of the database does not yield a working
// login.

// testPurpose separates test identifiers' hashes from every other keyed
// hash.
const testPurpose = "test_identifier_code"

// ParseTestIdentifier reads "IDENTIFIER=CODE": an email address or an
// E.164 phone number, returned in canonical form, and 4 to 8 digits.
func ParseTestIdentifier(spec string) (identifier, code string, err error) {
	at := strings.LastIndexByte(spec, '=')
	if at < 0 {
		return "", "", invalid("a test identifier is IDENTIFIER=CODE, such as ada@example.com=424242")
	}
	if identifier, err = CanonicalTestIdentifier(spec[:at]); err != nil {
		return "", "", err
	}
	code = spec[at+1:]
	if len(code) < 4 || len(code) > 8 || !isDigits(code) {
		return "", "", invalid("a test identifier's code must be 4 to 8 digits")
	}
	return identifier, code, nil
}

// NewTestIdentifier returns the app's test identifier (canonical, as
// ParseTestIdentifier returns it) with a fixed code, of which it keeps only
// a keyed hash, bound to the app.
func NewTestIdentifier(keyring *secrets.Keyring, appID, identifier, code string) latchkey.TestIdentifier {
	return latchkey.TestIdentifier{Identifier: identifier, CodeHash: keyring.Hash(testPurpose, testCodeValue(appID, identifier, code))}
}

// testCodeValue is what a test identifier's code hash is taken of.
func testCodeValue(appID, identifier, code string) string {
	return appID + ":" + identifier + ":" + code
}

// CanonicalTestIdentifier returns an email address's key or a phone
// number's E.164 form, as test identifiers are kept and matched.
func CanonicalTestIdentifier(raw string) (string, error) {
	if strings.Contains(raw, "@") {
		return canonicalIdentifier(TypeEmail, raw)
	}
	if strings.HasPrefix(strings.TrimSpace(raw), "+") {
		return canonicalIdentifier(TypePhone, raw)
	}
	return "", invalid("a test identifier must be an email address or a phone number in E.164 format, got %q", raw)
}

// testSecret stands in for a code when a test challenge's hash is made:
// the test identifier's own hash, which only its fixed code reproduces.
func testSecret(t latchkey.TestIdentifier) string {
	return "test:" + hex.EncodeToString(t.CodeHash)
}

// testIdentifier returns the app's test identifier that a passcode sent by
// ch to dest, for t, goes to (matched by the identifier the request named,
// when an email address or phone number, or else by the destination), or
// nil. Only email and SMS passcodes have test identifiers: a direct code is
// returned to the backend anyway.
func testIdentifier(app latchkey.App, ch latchkey.Channel, t target, dest string) *latchkey.TestIdentifier {
	for _, id := range testCandidates(app, ch, t, dest) {
		if ti := app.Limits.TestIdentifier(id); ti != nil {
			return ti
		}
	}
	return nil
}

// testCandidates are the canonical forms a send may match a test
// identifier by, in order: the identifier the request named, the
// destination.
func testCandidates(app latchkey.App, ch latchkey.Channel, t target, dest string) []string {
	if len(app.Limits.TestIdentifiers) == 0 || (ch != latchkey.ChannelEmail && ch != latchkey.ChannelSMS) {
		return nil
	}
	var ids []string
	if t.idType == TypeEmail || t.idType == TypePhone {
		ids = append(ids, t.canonical)
	}
	return append(ids, canonicalDestination(ch, dest))
}

// testCodeMatches reports whether passcode is the fixed code of a test
// identifier that live may have been sent to, and live was made for it.
func (s *Service) testCodeMatches(app latchkey.App, t target, live latchkey.Challenge, passcode string) bool {
	for _, id := range testCandidates(app, live.Channel, t, live.Destination) {
		ti := app.Limits.TestIdentifier(id)
		if ti != nil && s.cfg.Keyring.Verify(testPurpose, testCodeValue(app.ID, ti.Identifier, passcode), ti.CodeHash) &&
			s.cfg.Keyring.Verify(otpPurpose, live.ID+":"+testSecret(*ti), live.CodeHash) {
			return true
		}
	}
	return false
}
