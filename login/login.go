// Package login holds the rules of one-time login: sending passcodes and
// magic links, and exchanging what the user brings back for tokens.
//
// A send resolves the identifier to a user of the app (or, by the app's
// policy, creates the user or answers for an unknown one exactly as for a
// real one), makes a challenge, keeps only a keyed hash of its code, and
// queues the message in the same transaction, already leased to this
// node's outbox worker, which gets it in memory once the transaction
// commits. Only the newest challenge of a user is valid.
//
// Authenticating a passcode counts the attempt and checks the code in one
// atomic step, so concurrent guesses cannot outrun the failure limit; after
// MaxFailures consecutive failures every attempt fails with auth_locked
// until the lockout ends, even with the right code; consecutive lockouts
// escalate up to a bound (lockout.go). A new code does not reset the
// count; a success by any method does. A code is consumed by a conditional
// update, so of any number of concurrent requests with the right code
// exactly one gets tokens. The success records the login on the user and
// opens the session in the same transaction: a login is all written or not
// at all, and costs the database one transaction.
//
// The app's abuse limits enter in two places (limits.go): a send asks the
// Limiter for the counters it spends and commits them with its challenge,
// so a refused send changes nothing; an authenticate call is refused while
// a failure budget is spent, and a failed one is counted. A passcode sent
// to one of the app's test identifiers is not delivered and not counted,
// and its fixed code is what opens it.
//
// A magic link's code is 256 random bits. Opening the link (GET) only
// redirects to the app's registered redirect URI; the code is consumed when
// the app's backend authenticates it.
package login

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"io"
	"regexp"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/secrets"
	"github.com/latchkeyhq/latchkey/sessions"
	"github.com/latchkeyhq/latchkey/users"
)

// Hash purposes of the two kinds of code.
const (
	otpPurpose  = "otp"
	linkPurpose = "magic_link"
)

// linkBytes is the entropy of a magic link's code: 256 bits.
const linkBytes = 32

// requestIDBytes is the entropy of a generated request ID.
const requestIDBytes = 16

// Store is what login needs from the database.
type Store interface {
	latchkey.ChallengeStore
}

// Delivery is the outbox's front: whether a channel can deliver, and the
// handover of a message queued (delivery.Worker).
type Delivery interface {
	Available(latchkey.Channel) bool
	// Handoff prepares msg, about to be queued, for this node's worker
	// (leasing it to the worker when it can take it), and returns
	// handed, to be called once the transaction writing msg has ended,
	// with whether it committed.
	Handoff(ctx context.Context, msg *latchkey.Message) (handed func(committed bool))
}

// Config configures a Service.
type Config struct {
	Store    Store
	Users    *users.Service
	Sessions *sessions.Service
	Keyring  *secrets.Keyring
	Delivery Delivery
	// Limiter applies the app's abuse limits; nil applies none.
	Limiter Limiter
	// Observer, when set, is told how every send and authentication
	// ended (observe.go).
	Observer Observer
	// PublicURL is the base of the links in emails, never taken from a
	// request.
	PublicURL string
	Now       func() time.Time
	Rand      io.Reader
}

// Service runs one-time logins.
type Service struct {
	cfg Config
}

// New returns a Service.
func New(cfg Config) *Service { return &Service{cfg: cfg} }

// Errors with Mosaic's codes and wording.
var (
	errInvalidCredentials = &latchkey.Error{Code: latchkey.CodeInvalidCredentials, Message: "Invalid credentials"}
	errExpired            = &latchkey.Error{Code: latchkey.CodePasscodeExpired, Message: "One time passcode expired"}
	errLocked             = &latchkey.Error{Code: latchkey.CodeLocked, Message: "One time code invalid due to multiple failed attempts"}
	errUserNotFound       = &latchkey.Error{Code: latchkey.CodeUserNotFound, Message: "User not found"}
	errUserNotActive      = &latchkey.Error{Code: latchkey.CodeUserNotActive, Message: "User is not active"}
	errEmailMissing       = &latchkey.Error{Code: latchkey.CodeEmailMissing, Message: "User has no email address"}
	errPhoneMissing       = &latchkey.Error{Code: latchkey.CodePhoneMissing, Message: "User has no phone number"}
)

// providerVariable names the setting that gives each channel a provider.
var providerVariable = map[latchkey.Channel]string{
	latchkey.ChannelEmail: "LATCHKEY_EMAIL_PROVIDER",
	latchkey.ChannelSMS:   "LATCHKEY_SMS_PROVIDER",
}

// errNoProvider answers a send on a channel that has no provider. The
// fault is the server's configuration, not the application's request, so
// the message names the variable that mends it.
func errNoProvider(ch latchkey.Channel) error {
	return latchkey.Errorf(latchkey.CodeProviderNotConfigured,
		"No %s provider is configured on this Latchkey server: its operator must set %s", ch, providerVariable[ch])
}

func invalid(format string, args ...any) error {
	return latchkey.Errorf(latchkey.CodeInvalid, format, args...)
}

// maxExpiryMinutes bounds expires_in and email_expiration.
const maxExpiryMinutes = 24 * 60

// expiry turns an optional lifetime in minutes into a duration, or the
// default when absent.
func expiry(field string, minutes *float64, def time.Duration) (time.Duration, error) {
	if minutes == nil {
		return def, nil
	}
	if *minutes <= 0 || *minutes > maxExpiryMinutes {
		return 0, invalid("%s must be a number of minutes from 1 to %d", field, maxExpiryMinutes)
	}
	d := time.Duration(*minutes * float64(time.Minute))
	if d < time.Minute {
		return 0, invalid("%s must be a number of minutes from 1 to %d", field, maxExpiryMinutes)
	}
	return d, nil
}

// approvalKey is an approval_data key: letters, digits, _, - and .
var approvalKey = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

const (
	maxApprovalKeys  = 10
	maxApprovalValue = 256
)

// checkApprovalData accepts a flat object of at most 10 keys with scalar
// values.
func checkApprovalData(raw json.RawMessage) (json.RawMessage, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, invalid("approval_data must be a flat object")
	}
	if len(m) > maxApprovalKeys {
		return nil, invalid("approval_data may hold at most %d keys", maxApprovalKeys)
	}
	for k, v := range m {
		if !approvalKey.MatchString(k) {
			return nil, invalid("approval_data keys may hold only letters, digits, underscores, hyphens and periods")
		}
		var scalar any
		if err := json.Unmarshal(v, &scalar); err != nil || len(v) > maxApprovalValue {
			return nil, invalid("approval_data.%s is too long", k)
		}
		switch scalar.(type) {
		case string, float64, bool, nil:
		default:
			return nil, invalid("approval_data must be a flat object: %s is not a string, number or boolean", k)
		}
	}
	return raw, nil
}

// ClientAttributes is Mosaic's client_attributes: accepted and checked,
// not stored. The HTTP layer takes ip_address as the end user's address.
type ClientAttributes struct {
	UserAgent string `json:"user_agent"`
	IPAddress string `json:"ip_address"`
}

// newRequestID makes a request ID when the caller asked for one.
func (s *Service) newRequestID(generate bool) (string, error) {
	if !generate {
		return "", nil
	}
	return secrets.Token(s.cfg.Rand, requestIDBytes)
}

// requestIDMatches compares the request ID a challenge demands with the one
// presented, in constant time.
func requestIDMatches(want, got string) bool {
	if want == "" {
		return true
	}
	return subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

// completion is a successful authentication on its way to tokens: the
// user's login record and, unless the request adds to a named session, the
// session it opens, both written in the transaction that consumes the code
// (latchkey.SignIn), then turned into tokens by finish.
type completion struct {
	auth    sessions.Authentication
	opening *sessions.Opening
}

// signIn prepares the writes of a successful authentication of c's user
// by method, which records the login as authType.
func (s *Service) signIn(app latchkey.App, c latchkey.Challenge, authType, method string, o sessions.Options) (*completion, *latchkey.SignIn, error) {
	done := &completion{auth: sessions.Authentication{App: app, User: latchkey.User{ID: c.UserID}, Method: method,
		ApprovalData: c.ApprovalData, Options: o}}
	login := users.Login{Channel: c.Channel, AuthType: authType, Destination: c.Destination}
	in := &latchkey.SignIn{UserID: c.UserID, UpdateUser: func(u *latchkey.User) error {
		done.auth.NewUser = u.LastAuthAt.IsZero()
		s.cfg.Users.ApplyLogin(u, login)
		done.auth.User = *u
		return nil
	}}
	if o.SessionID == "" {
		opening, err := s.cfg.Sessions.Open(done.auth)
		if err != nil {
			return nil, nil, err
		}
		done.opening = &opening
		in.Session, in.Refresh = opening.Session, opening.Refresh
	}
	return done, in, nil
}

// finish returns the tokens of a completed authentication: those of the
// session it opened, or of the named session it now extends.
func (s *Service) finish(ctx context.Context, done *completion) (sessions.Tokens, error) {
	if done.opening != nil {
		return s.cfg.Sessions.Opened(ctx, done.auth, *done.opening)
	}
	return s.cfg.Sessions.AddToSession(ctx, done.auth)
}

// createChallenge writes a send's challenge with its message, if any,
// which it hands to this node's outbox worker: leased to it in the same
// transaction, and handed over once committed.
func (s *Service) createChallenge(ctx context.Context, c latchkey.Challenge, msg *latchkey.Message, spend *latchkey.CounterUpdate) error {
	if msg == nil {
		return s.cfg.Store.CreateChallenge(ctx, c, nil, spend)
	}
	handed := s.cfg.Delivery.Handoff(ctx, msg)
	err := s.cfg.Store.CreateChallenge(ctx, c, msg, spend)
	handed(err == nil)
	return err
}
