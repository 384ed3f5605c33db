package login

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/delivery"
	"github.com/latchkeyhq/latchkey/secrets"
	"github.com/latchkeyhq/latchkey/sessions"
	"github.com/latchkeyhq/latchkey/users"
)

// SendOTP is a request to send a one-time passcode (Mosaic's
// ApiOtpInitRequestDto).
type SendOTP struct {
	Channel           latchkey.Channel
	IdentifierType    string
	Identifier        string
	EmailContent      *delivery.EmailContent
	CustomSMS         *delivery.SMSInput
	ApprovalData      json.RawMessage
	CustomEmail       string
	CustomPhoneNumber string
	ExpiresIn         *float64 // minutes
	GenerateRequestID bool
	// EndUser is the end user's address, when the backend forwarded it.
	EndUser netip.Addr
}

// SentOTP is the answer to a send.
type SentOTP struct {
	Message      string          `json:"message"`
	ApprovalData json.RawMessage `json:"approval_data,omitempty"`
	Code         string          `json:"code,omitempty"`
	RequestID    string          `json:"request_id,omitempty"`
}

// SendOTP sends (or, for the direct channel, returns) a passcode.
func (s *Service) SendOTP(ctx context.Context, app latchkey.App, req SendOTP) (SentOTP, error) {
	out, err := s.sendOTP(ctx, app, req)
	s.observeSend(app, latchkey.KindOTP, req.Channel, err)
	return out, err
}

func (s *Service) sendOTP(ctx context.Context, app latchkey.App, req SendOTP) (SentOTP, error) {
	if err := s.checkSendOTP(&req); err != nil {
		return SentOTP{}, err
	}
	ttl, err := expiry("expires_in", req.ExpiresIn, app.Policy.OTPExpiry)
	if err != nil {
		return SentOTP{}, err
	}
	t, err := s.sendTarget(ctx, app, req.IdentifierType, req.Identifier)
	if err != nil {
		return SentOTP{}, err
	}
	dest, err := otpDestination(req, t)
	if t, dest, err = s.route(app, t, req.Channel, dest, err); err != nil {
		return SentOTP{}, err
	}
	spend, test, err := s.otpLimits(ctx, app, req, t, dest)
	if err != nil {
		return SentOTP{}, err
	}
	code, err := secrets.Digits(s.cfg.Rand, app.Policy.OTPLength)
	if err != nil {
		return SentOTP{}, err
	}
	c, err := s.newChallenge(app, t, latchkey.KindOTP, req.Channel, dest.value, ttl, req.GenerateRequestID)
	if err != nil {
		return SentOTP{}, err
	}
	c.CodeHash = s.cfg.Keyring.Hash(otpPurpose, c.ID+":"+code)
	c.ApprovalData = req.ApprovalData
	msg, err := s.otpMessage(app, c, code, req)
	if err != nil {
		return SentOTP{}, err
	}
	if msg != nil && t.decoy {
		msg.Suppressed = true // the same work, nothing delivered
	}
	if test != nil {
		// A test identifier: its fixed code opens the challenge, and
		// nothing is delivered.
		c.CodeHash, msg = s.cfg.Keyring.Hash(otpPurpose, c.ID+":"+testSecret(*test)), nil
	}
	if err := s.createChallenge(ctx, c, msg, spend); err != nil {
		return SentOTP{}, err
	}
	out := SentOTP{Message: "OTP sent", ApprovalData: req.ApprovalData, RequestID: c.RequestID}
	if req.Channel == latchkey.ChannelDirect {
		out.Code = code
	}
	return out, nil
}

func (s *Service) checkSendOTP(req *SendOTP) error {
	switch req.Channel {
	case latchkey.ChannelEmail, latchkey.ChannelSMS:
		if !s.cfg.Delivery.Available(req.Channel) {
			return errNoProvider(req.Channel)
		}
	case latchkey.ChannelDirect:
	case "":
		return invalid("channel is required")
	default:
		return invalid("channel must be one of email, sms, direct")
	}
	if req.EmailContent != nil {
		if err := req.EmailContent.Validate(); err != nil {
			return err
		}
	}
	if req.CustomSMS != nil {
		if err := req.CustomSMS.Validate(); err != nil {
			return err
		}
	}
	var err error
	req.ApprovalData, err = checkApprovalData(req.ApprovalData)
	return err
}

// otpDestination is where the code goes: the custom address or number when
// given, else the target's own address on the channel; none for the direct
// channel.
func otpDestination(req SendOTP, t target) (address, error) {
	switch req.Channel {
	case latchkey.ChannelEmail:
		if req.CustomEmail != "" {
			display, _, err := users.CanonicalEmail(req.CustomEmail)
			if err != nil {
				return address{}, invalid("custom_email is not a valid email address")
			}
			return address{value: display, named: true}, nil
		}
	case latchkey.ChannelSMS:
		if req.CustomPhoneNumber != "" {
			p, err := users.NormalizePhone(req.CustomPhoneNumber)
			if err != nil {
				return address{}, invalid("custom_phone_number is not a phone number in E.164 format")
			}
			return address{value: p, named: true}, nil
		}
	default:
		return address{}, nil
	}
	return t.addressOn(req.Channel)
}

// newChallenge makes a challenge for t, without its code hash.
func (s *Service) newChallenge(app latchkey.App, t target, kind latchkey.ChallengeKind, ch latchkey.Channel, dest string, ttl time.Duration, requestID bool) (latchkey.Challenge, error) {
	now := s.cfg.Now()
	id, err := secrets.NewSortableID(now, s.cfg.Rand)
	if err != nil {
		return latchkey.Challenge{}, err
	}
	rid, err := s.newRequestID(requestID)
	if err != nil {
		return latchkey.Challenge{}, err
	}
	c := latchkey.Challenge{ID: id, AppID: app.ID, Kind: kind, Subject: t.subject, Channel: ch, Destination: dest,
		RequestID: rid, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if t.user != nil && !t.decoy {
		c.UserID = t.user.ID // a decoy has none: it never succeeds
	}
	return c, nil
}

// otpMessage composes the message that carries a passcode; nil for the
// direct channel.
func (s *Service) otpMessage(app latchkey.App, c latchkey.Challenge, code string, req SendOTP) (*latchkey.Message, error) {
	var (
		content delivery.Content
		err     error
	)
	switch c.Channel {
	case latchkey.ChannelEmail:
		content, err = delivery.ComposeEmail(delivery.Email{AppName: app.Name, Branding: app.Branding, Code: code,
			Expiry: c.ExpiresAt.Sub(c.CreatedAt), Custom: req.EmailContent})
	case latchkey.ChannelSMS:
		content, err = delivery.ComposeSMS(delivery.SMS{AppName: app.Name, Code: code, Expiry: c.ExpiresAt.Sub(c.CreatedAt), Custom: req.CustomSMS})
	default:
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return s.message(app, c, content)
}

// message wraps composed content for the outbox, sealed: the code or link
// it carries is never stored in clear.
func (s *Service) message(app latchkey.App, c latchkey.Challenge, content delivery.Content) (*latchkey.Message, error) {
	id, err := secrets.NewSortableID(c.CreatedAt, s.cfg.Rand)
	if err != nil {
		return nil, err
	}
	m := &latchkey.Message{ID: id, AppID: app.ID, Channel: c.Channel, To: c.Destination, Subject: content.Subject,
		Text: content.Text, HTML: content.HTML, From: content.From, Status: latchkey.MessageQueued,
		CreatedAt: c.CreatedAt, NextAttemptAt: c.CreatedAt, ExpiresAt: c.ExpiresAt}
	return m, delivery.Seal(s.cfg.Keyring, m)
}

// AuthenticateOTP is a request to exchange a passcode for tokens (Mosaic's
// ApiOtpTokenRequestDto).
type AuthenticateOTP struct {
	Passcode       string
	IdentifierType string
	Identifier     string
	RequestID      string
	// EndUser is the end user's address, when the backend forwarded it.
	EndUser netip.Addr
	sessions.Options
}

// maxPasscodeLength bounds what is even compared.
const maxPasscodeLength = 16

// AuthenticateOTP checks a passcode and returns user tokens.
func (s *Service) AuthenticateOTP(ctx context.Context, app latchkey.App, req AuthenticateOTP) (sessions.Tokens, error) {
	var sentBy latchkey.Channel
	tokens, err := s.authenticateOTP(ctx, app, req, &sentBy)
	s.observeLogin(app, latchkey.KindOTP, sentBy, err)
	return tokens, err
}

// authenticateOTP checks a passcode and sets sentBy to the channel of the
// live code it was checked against, if any.
func (s *Service) authenticateOTP(ctx context.Context, app latchkey.App, req AuthenticateOTP, sentBy *latchkey.Channel) (sessions.Tokens, error) {
	if !isDigits(req.Passcode) {
		return sessions.Tokens{}, invalid("passcode must be a string of 1 to %d digits", maxPasscodeLength)
	}
	if err := s.checkGuesses(ctx, app, req.EndUser); err != nil {
		return sessions.Tokens{}, err
	}
	t, err := s.resolve(ctx, app, req.IdentifierType, req.Identifier)
	switch {
	case errors.Is(err, errUserNotFound):
		// Unknown: counted and checked like any other, so the answer
		// reveals nothing (a hidden unknown identifier has a decoy).
		t.decoy = true
	case err != nil:
		return sessions.Tokens{}, err
	case t.user.Status == latchkey.UserDisabled:
		// Hidden, it is counted and checked as any user, and never
		// succeeds.
		if t, err = hidden(app, t, errUserNotActive); err != nil {
			return sessions.Tokens{}, err
		}
	}
	// An unknown identifier's session can be no session: its subject is
	// no user's ID.
	userID := t.subject
	if t.user != nil {
		userID = t.user.ID
	}
	if err := s.cfg.Sessions.Check(ctx, app, userID, req.Options); err != nil {
		return sessions.Tokens{}, err
	}
	done, err := s.checkPasscode(ctx, app, t, req, sentBy)
	if err != nil {
		return sessions.Tokens{}, s.countGuess(ctx, app, req.EndUser, err)
	}
	return s.finish(ctx, done)
}

// The amr value and identity auth_type of each passcode channel.
var (
	otpMethod   = map[latchkey.Channel]string{latchkey.ChannelEmail: "eotp", latchkey.ChannelSMS: "sms", latchkey.ChannelDirect: "otp"}
	otpAuthType = map[latchkey.Channel]string{latchkey.ChannelEmail: "email_otp", latchkey.ChannelSMS: "sms_otp", latchkey.ChannelDirect: "direct_otp"}
)

func isDigits(s string) bool {
	if s == "" || len(s) > maxPasscodeLength {
		return false
	}
	return strings.Trim(s, "0123456789") == ""
}

// checkPasscode checks a passcode against the subject's live challenge, in
// one atomic attempt: every attempt on a subject waits for the one before,
// so concurrent guesses each see the failures already counted and cannot
// outrun the limit. A lockout refuses even the right code; a wrong code
// counts a failure, and the failure that locks the subject out
// (lockout.go) invalidates the challenge; the right code consumes the
// challenge, resets the count and signs the user in, all in the same
// transaction. A missing or expired challenge evaluates no code and counts
// nothing. The fixed code of a test identifier opens the challenge made for
// it, with the same rules. It returns the completed authentication, and
// sets sentBy to the live challenge's channel.
func (s *Service) checkPasscode(ctx context.Context, app latchkey.App, t target, req AuthenticateOTP, sentBy *latchkey.Channel) (*completion, error) {
	now := s.cfg.Now()
	var (
		outcome error
		done    *completion
	)
	keep, invalidate := latchkey.AttemptResult{}, latchkey.AttemptResult{Consume: true}
	err := s.cfg.Store.AttemptChallenge(ctx, app.ID, latchkey.KindOTP, t.subject, now,
		func(c *latchkey.AttemptCounter, live *latchkey.Challenge) (latchkey.AttemptResult, error) {
			outcome = nil
			if live != nil {
				*sentBy = live.Channel
			}
			switch {
			case lockedOut(c, now):
				outcome = errLocked
				return keep, nil
			case live == nil:
				outcome = errInvalidCredentials
				return keep, nil
			case live.Expired(now):
				outcome = errExpired
				return keep, nil
			}
			codeOK := s.cfg.Keyring.Verify(otpPurpose, live.ID+":"+req.Passcode, live.CodeHash) ||
				s.testCodeMatches(app, t, *live, req.Passcode)
			if codeOK && requestIDMatches(live.RequestID, req.RequestID) && live.UserID != "" && !t.decoy {
				*c = latchkey.AttemptCounter{}
				var in *latchkey.SignIn
				var err error
				done, in, err = s.signIn(app, *live, otpAuthType[live.Channel], otpMethod[live.Channel], req.Options)
				return latchkey.AttemptResult{Consume: true, SignIn: in}, err
			}
			outcome = errInvalidCredentials
			if countFailure(c, app.Policy, now) {
				return invalidate, nil // the challenge dies with the lockout
			}
			return keep, nil
		})
	if err != nil {
		return nil, err
	}
	return done, outcome
}
