package latchkey

import (
	"context"
	"errors"
	"time"
)

// Store is everything Latchkey keeps. Each database backend implements it
// with the same behaviour, proven by the storetest conformance suite. A store
// holds no business rules: it stores, finds and changes rows, enforces
// uniqueness, and makes the conditional changes that must be atomic.
//
// Every method returns ErrNotFound, ErrConflict or ErrUnavailable (possibly
// wrapped) for those conditions, as its comment says, and other errors only
// for unexpected failures.
type Store interface {
	TenantStore
	AppStore
	UserStore
	KeyStore
	ChallengeStore
	SessionStore
	OutboxStore
	DevInboxStore
	LimitStore
	// Ping reports whether the database answers; ErrUnavailable when not.
	Ping(ctx context.Context) error
	// Close releases the database.
	Close() error
}

// TenantStore keeps the facts about the tenant this database serves.
type TenantStore interface {
	// TenantID returns the tenant's ID, created with the database.
	TenantID(ctx context.Context) (string, error)
}

// AppStore keeps applications.
type AppStore interface {
	// CreateApp adds app. ErrConflict if its ID or client ID is taken.
	CreateApp(ctx context.Context, app App) error
	// GetApp returns the app with this ID, or ErrNotFound.
	GetApp(ctx context.Context, id string) (App, error)
	// GetAppByClientID returns the app owning this client ID, or ErrNotFound.
	GetAppByClientID(ctx context.Context, clientID string) (App, error)
	// ListApps returns every app, oldest first.
	ListApps(ctx context.Context) ([]App, error)
	// UpdateApp reads the app, applies update and writes the result in one
	// transaction, so concurrent updates never lose each other's changes.
	// ErrNotFound if there is no such app; update's error aborts the change
	// and is returned as is. The ID and client ID cannot change.
	UpdateApp(ctx context.Context, id string, update func(*App) error) (App, error)
	// DeleteApp removes the app and its memberships (its users stay in the
	// tenant). ErrNotFound if there is no such app.
	DeleteApp(ctx context.Context, id string) error
}

// UserStore keeps users and their app memberships. Look-ups take canonical
// identifiers (see the users package).
type UserStore interface {
	// CreateUser adds user as a member of member.AppID. ErrConflict if the
	// ID, email key, phone, username key or external user ID is taken.
	CreateUser(ctx context.Context, user User, member AppUser) error
	// GetUser returns the user with this ID, or ErrNotFound.
	GetUser(ctx context.Context, id string) (User, error)
	// GetUserByEmail returns the user whose primary email has this
	// canonical key, or ErrNotFound.
	GetUserByEmail(ctx context.Context, emailKey string) (User, error)
	// GetUserByPhone returns the user with this primary E.164 phone number,
	// or ErrNotFound.
	GetUserByPhone(ctx context.Context, phone string) (User, error)
	// GetUserByUsername returns the user with this lower-case username, or
	// ErrNotFound.
	GetUserByUsername(ctx context.Context, usernameKey string) (User, error)
	// GetUserByExternalID returns the user with this external user ID, or
	// ErrNotFound.
	GetUserByExternalID(ctx context.Context, externalID string) (User, error)
	// GetMember returns the user whose key is value together with its
	// membership in the app, in one look-up. ErrNotFound if there is no
	// such user or it is not a member of the app.
	GetMember(ctx context.Context, appID string, key UserKey, value string) (User, AppUser, error)
	// ListUsers returns one page of the users of filter.AppID.
	ListUsers(ctx context.Context, filter UserFilter) (UserPage, error)
	// UpdateUser reads the user, applies update and writes the result in
	// one transaction. ErrNotFound if there is no such user, ErrConflict if
	// the change takes a unique value already in use; update's error aborts
	// the change and is returned as is. The ID cannot change.
	UpdateUser(ctx context.Context, id string, update func(*User) error) (User, error)
	// DeleteUser removes the user from the tenant with everything that
	// refers to it. ErrNotFound if there is no such user.
	DeleteUser(ctx context.Context, id string) error

	// GetAppUser returns the user's membership in the app, or ErrNotFound
	// when the user does not belong to it.
	GetAppUser(ctx context.Context, appID, userID string) (AppUser, error)
	// AddAppUser makes the user a member of the app. ErrConflict if it
	// already is, ErrNotFound if the user or the app does not exist.
	AddAppUser(ctx context.Context, member AppUser) error
	// UpdateUserInApp reads the user and its membership in the app,
	// applies update to both and writes them in one transaction. ErrNotFound
	// if the user is not a member of the app, ErrConflict if the change
	// takes a unique value already in use; update's error aborts the change
	// and is returned as is. IDs cannot change.
	UpdateUserInApp(ctx context.Context, appID, userID string, update func(*User, *AppUser) error) (User, AppUser, error)
	// RemoveAppUser ends the user's membership in the app. ErrNotFound if
	// the user is not a member.
	RemoveAppUser(ctx context.Context, appID, userID string) error
}

// KeyStore keeps JWT signing keys.
type KeyStore interface {
	// ListKeys returns every stored key, newest first.
	ListKeys(ctx context.Context) ([]SigningKey, error)
	// CreateKey adds a key. ErrConflict if the ID is taken, or if the key
	// is Current or Next and a key in that state already exists.
	CreateKey(ctx context.Context, key SigningKey) error
	// DeleteKey removes a key that is not Current. ErrNotFound if there is
	// no such key, ErrConflict if it is the Current key.
	DeleteKey(ctx context.Context, id string) error
	// RotateKeys applies r atomically. ErrConflict if r.PromoteID is not
	// the Next key or r.RetireID is not the Current key any more (another
	// node rotated first).
	RotateKeys(ctx context.Context, r KeyRotation) error
	// DeleteRetiredKeys removes Retired keys whose PublishUntil is at or
	// before now, and returns how many it removed.
	DeleteRetiredKeys(ctx context.Context, now time.Time) (int, error)
}

// ChallengeStore keeps passcodes and magic links, and the failure counters
// that guard them.
type ChallengeStore interface {
	// CreateChallenge adds c and, in the same transaction, invalidates
	// every live challenge of the same app, kind and subject, queues msg
	// (when not nil) in the outbox and applies spend (when not nil) as
	// LimitStore.UpdateCounters does, atomically with every other update of
	// those counters. An error from spend.Update aborts it all (no
	// challenge, no message, the previous challenge still live) and is
	// returned as is. ErrConflict if c.ID or c.CodeHash is taken.
	//
	// msg is written as given. A msg whose NextAttemptAt lies after its
	// CreatedAt is written already claimed, exactly as ClaimMessages
	// would leave it with leaseUntil = NextAttemptAt (a claim changes
	// nothing else: not Attempts, not Status): the node that commits a
	// send delivers it straight away under that lease, with no claim
	// of its own, and if that node dies the message is claimed by
	// another once the lease has passed.
	CreateChallenge(ctx context.Context, c Challenge, msg *Message, spend *CounterUpdate) error
	// GetLiveChallenge returns the unconsumed challenge of this app, kind
	// and subject (expired or not), or ErrNotFound.
	GetLiveChallenge(ctx context.Context, appID string, kind ChallengeKind, subject string) (Challenge, error)
	// GetChallengeByCodeHash returns the challenge of this kind whose code
	// hash is hash, in any state, or ErrNotFound.
	GetChallengeByCodeHash(ctx context.Context, kind ChallengeKind, hash []byte) (Challenge, error)
	// ConsumeChallenge marks the challenge used at now, only if it is
	// still live: of any number of concurrent calls, exactly one succeeds.
	// It writes in (when not nil) in the same transaction. ErrConflict if
	// the challenge was already consumed, ErrNotFound if it does not
	// exist; an error writing in undoes the consumption.
	ConsumeChallenge(ctx context.Context, id string, now time.Time, in *SignIn) error
	// AttemptChallenge runs one authentication attempt on the subject's
	// live challenge of this kind, atomically with every other attempt on
	// the same app and subject, on any node: in one transaction it reads
	// the subject's failure counter (zero when none is stored) and live
	// challenge (nil when there is none), calls attempt, writes the counter
	// as attempt left it, marks the challenge consumed when the result
	// says Consume, and writes the result's SignIn with it. An error from
	// attempt or SignIn aborts all of it and is returned as is.
	AttemptChallenge(ctx context.Context, appID string, kind ChallengeKind, subject string, now time.Time,
		attempt func(counter *AttemptCounter, live *Challenge) (AttemptResult, error)) error
	// DeleteExpiredChallenges removes challenges that expired before now
	// or were consumed before now, and counters that count no failure
	// (Failures and Consecutive zero) and whose lockout ended before then.
	DeleteExpiredChallenges(ctx context.Context, before time.Time) (int, error)
}

// SessionStore keeps sessions and refresh tokens.
type SessionStore interface {
	// CreateSession adds s, with the refresh token issued with it.
	// ErrConflict if either ID is taken.
	CreateSession(ctx context.Context, s Session, t RefreshToken) error
	// GetSession returns the session, or ErrNotFound.
	GetSession(ctx context.Context, id string) (Session, error)
	// ExtendSession applies update to a live session (not revoked, not
	// expired at now) and adds the refresh token t (when its ID is set) in
	// one transaction. ErrNotFound if the session does not exist or is not
	// live.
	ExtendSession(ctx context.Context, id string, now time.Time, update func(*Session) error, t RefreshToken) (Session, error)
	// ListSessions returns the user's live sessions in the app, newest
	// first.
	ListSessions(ctx context.Context, appID, userID string, now time.Time) ([]Session, error)
	// RevokeSession ends the session and every refresh token issued in
	// it. ErrNotFound if there is no such session.
	RevokeSession(ctx context.Context, id string, now time.Time) error
	// RevokeUserSessions ends every live session of the user, in one app
	// or (appID empty) in all, with their refresh tokens, and returns how
	// many it ended.
	RevokeUserSessions(ctx context.Context, appID, userID string, now time.Time) (int, error)
	// RotateRefreshToken exchanges the refresh token of app appID whose
	// hash is hash for the one next returns, atomically: of concurrent
	// rotations of one token exactly one succeeds. ErrNotFound if no such
	// token of this app exists, it has expired or been revoked, or its
	// session is no longer live. If the token was already used, the store
	// revokes its whole family and its session, keeps that revocation, and
	// returns ErrReplayed.
	RotateRefreshToken(ctx context.Context, appID string, hash []byte, now time.Time, next func(old RefreshToken) (RefreshToken, error)) (RefreshToken, error)
	// RevokeRefreshToken revokes the family of the app's refresh token
	// whose hash is hash. ErrNotFound if there is no such token.
	RevokeRefreshToken(ctx context.Context, appID string, hash []byte, now time.Time) error
	// DeleteEndedSessions removes sessions that expired or were revoked
	// before the given time, with their refresh tokens.
	DeleteEndedSessions(ctx context.Context, before time.Time) (int, error)
}

// ErrReplayed means a refresh token was presented after it had already
// been used: its family and session have been revoked.
var ErrReplayed = errors.New("refresh token replayed")

// OutboxStore keeps the messages waiting to be delivered.
type OutboxStore interface {
	// ClaimMessages takes up to limit queued messages due at now, oldest
	// first, and moves their next attempt to leaseUntil so that no other
	// worker takes them meanwhile. Each message is claimed by exactly one
	// of any number of concurrent callers.
	ClaimMessages(ctx context.Context, now, leaseUntil time.Time, limit int) ([]Message, error)
	// UpdateMessage reads the message, applies update and writes it in one
	// transaction. ErrNotFound if there is no such message. A message that
	// leaves the queued status has its content (text, HTML, subject)
	// erased.
	UpdateMessage(ctx context.Context, id string, update func(*Message) error) (Message, error)
	// UpdateMessages applies each of updates to its message as
	// UpdateMessage does, all in one transaction, so that the outcomes of
	// many deliveries cost one write. It returns the messages as written,
	// in the order of updates, leaving out those that do not exist. An
	// update's error aborts them all and is returned as is. IDs must be
	// distinct.
	UpdateMessages(ctx context.Context, updates []MessageUpdate) ([]Message, error)
	// ListMessages returns up to limit messages, newest first, optionally
	// only those with the given status, without their content.
	ListMessages(ctx context.Context, status MessageStatus, limit int) ([]Message, error)
	// DeleteFinishedMessages removes sent and failed messages created
	// before the given time.
	DeleteFinishedMessages(ctx context.Context, before time.Time) (int, error)
	// OutboxBacklog counts the queued messages and finds when the oldest
	// of them was created.
	OutboxBacklog(ctx context.Context) (OutboxBacklog, error)
}

// LimitStore keeps the counters behind rate limits (see Counter). It
// stores; package ratelimit decides.
type LimitStore interface {
	// UpdateCounters reads the counters of keys (a zero Counter with only
	// Key set for a key with none stored), calls update with them in the
	// order of keys, and writes back those update changed, in one
	// transaction, atomically with every other update of any of those keys
	// on any node: of concurrent updates of one key, each sees the one
	// before. Keys must be distinct. update's error aborts the whole change
	// and is returned as is; update may run more than once if the database
	// retries the transaction.
	UpdateCounters(ctx context.Context, keys []string, update func([]*Counter) error) error
	// BlockedUntil returns the BlockedUntil of each key, in the order of
	// keys (zero for a key with no counter), without taking any lock.
	BlockedUntil(ctx context.Context, keys []string) ([]time.Time, error)
	// DeleteExpiredCounters removes counters whose ExpiresAt is before the
	// given time, and returns how many it removed.
	DeleteExpiredCounters(ctx context.Context, before time.Time) (int, error)
}

// DevInboxStore keeps the messages the dev inbox captured.
type DevInboxStore interface {
	// AddDevMessage stores a captured message.
	AddDevMessage(ctx context.Context, m DevMessage) error
	// ListDevMessages returns up to limit captured messages, newest first:
	// all of them, or only those to the address or number to when it is
	// not empty.
	ListDevMessages(ctx context.Context, to string, limit int) ([]DevMessage, error)
	// DeleteDevMessages removes captured messages older than before.
	DeleteDevMessages(ctx context.Context, before time.Time) (int, error)
}
