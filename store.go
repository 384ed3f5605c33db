package latchkey

import (
	"context"
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
