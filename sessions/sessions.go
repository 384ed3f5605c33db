// Package sessions turns a successful authentication into user tokens, and
// keeps the backend sessions and refresh tokens behind them.
//
// An authentication either opens a session or, when the caller names one
// (multi-factor login), adds its method to that session. Tokens are issued
// in a session: a JWT access token, a JWT ID token and an opaque refresh
// token of 256 random bits stored only as a keyed hash. Each refresh rotates
// the refresh token; presenting a rotated token again revokes every token of
// its family and ends the session (RFC 9700 §4.14.2). Logging out ends a
// session and its refresh tokens.
package sessions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/secrets"
	"github.com/latchkeyhq/latchkey/token"
)

// refreshPurpose separates refresh-token hashes from other keyed hashes.
const refreshPurpose = "refresh_token"

// tokenBytes is the entropy of refresh tokens and session IDs: 256 bits.
// A session ID is also prefixed with its creation time, which keeps the
// session indexes in order (secrets.SortableToken).
const tokenBytes = 32

// MinAbsoluteLifetime is the shortest absolute limit on a session: however
// often it is extended, a session ends at most this long (or its app's
// session lifetime, if longer) after it began, and the user signs in again.
const MinAbsoluteLifetime = 30 * 24 * time.Hour

// AccessScope is the "scope" of user access tokens.
const AccessScope = "offline_access"

// Store is what the service needs from the database.
type Store interface {
	latchkey.SessionStore
	GetUser(ctx context.Context, id string) (latchkey.User, error)
	GetAppUser(ctx context.Context, appID, userID string) (latchkey.AppUser, error)
}

// Service issues user tokens and manages sessions.
type Service struct {
	store    Store
	keyring  *secrets.Keyring
	issuer   *token.Issuer
	tenantID string
	now      func() time.Time
	rand     io.Reader
}

// Config configures a Service.
type Config struct {
	Store    Store
	Keyring  *secrets.Keyring
	Issuer   *token.Issuer
	TenantID string
	Now      func() time.Time
	Rand     io.Reader
}

// New returns a Service.
func New(cfg Config) *Service {
	return &Service{store: cfg.Store, keyring: cfg.Keyring, issuer: cfg.Issuer, tenantID: cfg.TenantID, now: cfg.Now, rand: cfg.Rand}
}

// Tokens is what an authentication, a refresh or a silent authentication
// returns: Mosaic's ApiTokenResponse.
type Tokens struct {
	AccessToken  string `json:"access_token"`
	IDToken      string `json:"id_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	SessionID    string `json:"session_id,omitempty"`
}

// Authentication is a successful authentication of User for App.
type Authentication struct {
	App  latchkey.App
	User latchkey.User
	// Method is the "amr" value of the authentication: eotp, sms, otp or
	// eml.
	Method string
	// NewUser reports that this is the user's first login.
	NewUser      bool
	ApprovalData json.RawMessage
	Options
}

// Options are the optional parts of a token request.
type Options struct {
	// Resource, when set, must be one of the app's resources and becomes
	// the access token's audience.
	Resource string
	// SessionID, when set, names the session to add the authentication to.
	SessionID string
	// Claims is the OIDC claims request parameter.
	Claims json.RawMessage
}

// Errors the service returns. Their wording is Mosaic's.
var (
	ErrSessionNotFound = &latchkey.Error{Code: latchkey.CodeInvalid, Message: "Session not found"}
	ErrInvalidRefresh  = &latchkey.Error{Code: latchkey.CodeInvalid, Message: "Invalid refresh token"}
)

// Check validates the options before a code is consumed, so that a bad
// resource, claims request or session does not cost the user their code.
func (s *Service) Check(ctx context.Context, app latchkey.App, userID string, o Options) error {
	if err := checkRequest(app, o); err != nil {
		return err
	}
	if o.SessionID == "" {
		return nil
	}
	_, err := s.usableSession(ctx, app, userID, o.SessionID)
	return err
}

// checkRequest checks the resource and claims request, which need no
// database.
func checkRequest(app latchkey.App, o Options) error {
	if o.Resource != "" && !app.HasResource(o.Resource) {
		return latchkey.Errorf(latchkey.CodeInvalid, "resource %q is not one of this app's resources", o.Resource)
	}
	return checkClaims(o.Claims)
}

// usableSession reads a session that app may use for userID (any user when
// userID is empty); anything else is ErrSessionNotFound.
func (s *Service) usableSession(ctx context.Context, app latchkey.App, userID, sessionID string) (latchkey.Session, error) {
	sess, err := s.store.GetSession(ctx, sessionID)
	if errors.Is(err, latchkey.ErrNotFound) || (err == nil && !s.usable(sess, app, userID)) {
		return latchkey.Session{}, ErrSessionNotFound
	}
	return sess, err
}

// usable reports whether sess may be used by app for userID (any user when
// userID is empty).
func (s *Service) usable(sess latchkey.Session, app latchkey.App, userID string) bool {
	return sess.AppID == app.ID && (userID == "" || sess.UserID == userID) && sess.Live(s.now())
}

// AddToSession adds the authentication to the session it names (a second
// factor), checked in the transaction that extends it, and returns new
// tokens. The caller has checked the request with Check.
func (s *Service) AddToSession(ctx context.Context, a Authentication) (Tokens, error) {
	now := s.now()
	rt, refresh, err := s.newRefresh(a.App, a.User.ID, a.Resource, now)
	if err != nil {
		return Tokens{}, err
	}
	rt.SessionID = a.SessionID
	sess, err := s.store.ExtendSession(ctx, a.SessionID, now, func(x *latchkey.Session) error {
		if !s.usable(*x, a.App, a.User.ID) {
			return ErrSessionNotFound
		}
		if !slices.Contains(x.Methods, a.Method) {
			x.Methods = append(x.Methods, a.Method)
		}
		x.AuthenticatedAt = now
		x.ExpiresAt = s.expiry(*x, a.App, now)
		return nil
	}, rt)
	if errors.Is(err, latchkey.ErrNotFound) {
		return Tokens{}, ErrSessionNotFound
	}
	if err != nil {
		return Tokens{}, err
	}
	return s.tokens(ctx, a, sess, refresh)
}

// Opening is a new session prepared for an authentication, with its first
// refresh token, not yet stored.
type Opening struct {
	Session latchkey.Session
	Refresh latchkey.RefreshToken
	// refresh is the refresh token itself, of which Refresh keeps a hash.
	refresh string
}

// Open prepares a new session for the authentication a (of which it uses
// the app, the user's ID, the method and the resource), once the request
// has passed Check. The caller stores it in the transaction of the login
// itself (latchkey.SignIn), then calls Opened for the tokens.
func (s *Service) Open(a Authentication) (Opening, error) {
	now := s.now()
	rt, refresh, err := s.newRefresh(a.App, a.User.ID, a.Resource, now)
	if err != nil {
		return Opening{}, err
	}
	id, err := secrets.SortableToken(now, s.rand, tokenBytes)
	if err != nil {
		return Opening{}, err
	}
	sess := latchkey.Session{ID: id, AppID: a.App.ID, UserID: a.User.ID, Methods: []string{a.Method},
		AuthenticatedAt: now, CreatedAt: now}
	sess.ExpiresAt = s.expiry(sess, a.App, now)
	rt.SessionID = id
	return Opening{Session: sess, Refresh: rt, refresh: refresh}, nil
}

// Opened returns the tokens of the session o, which Open prepared for the
// authentication a and the caller stored.
func (s *Service) Opened(ctx context.Context, a Authentication, o Opening) (Tokens, error) {
	return s.tokens(ctx, a, o.Session, o.refresh)
}

// tokens mints the tokens of an authentication in sess.
func (s *Service) tokens(ctx context.Context, a Authentication, sess latchkey.Session, refresh string) (Tokens, error) {
	tokens, err := s.mint(ctx, a.App, a.User, sess, mintOptions{resource: a.Resource, claims: a.Claims,
		newUser: a.NewUser, approvalData: a.ApprovalData})
	if err != nil {
		return Tokens{}, err
	}
	tokens.RefreshToken, tokens.SessionID = refresh, sess.ID
	return tokens, nil
}

// expiry is when a session used at now expires: its app's session lifetime
// from now, but never past its absolute limit.
func (s *Service) expiry(sess latchkey.Session, app latchkey.App, now time.Time) time.Time {
	limit := sess.CreatedAt.Add(max(MinAbsoluteLifetime, app.Policy.SessionTTL))
	exp := now.Add(app.Policy.SessionTTL)
	if exp.After(limit) {
		return limit
	}
	return exp
}

// newRefresh makes a refresh token of a new family; the caller sets its
// session.
func (s *Service) newRefresh(app latchkey.App, userID, resource string, now time.Time) (latchkey.RefreshToken, string, error) {
	raw, err := secrets.Token(s.rand, tokenBytes)
	if err != nil {
		return latchkey.RefreshToken{}, "", err
	}
	id, err := secrets.NewSortableID(now, s.rand)
	if err != nil {
		return latchkey.RefreshToken{}, "", err
	}
	return latchkey.RefreshToken{ID: id, Hash: s.keyring.Hash(refreshPurpose, raw), FamilyID: id, AppID: app.ID,
		UserID: userID, Audience: resource, CreatedAt: now, ExpiresAt: now.Add(app.Policy.RefreshTokenTTL)}, raw, nil
}

// Refresh rotates a refresh token of app and returns new tokens for its
// session, without a session_id: a refresh does not change the session.
// An unknown, expired or revoked token, or one whose session has ended, is
// ErrInvalidRefresh; a replayed token also ends its family and session.
func (s *Service) Refresh(ctx context.Context, app latchkey.App, refresh string) (Tokens, error) {
	if refresh == "" || len(refresh) > 256 {
		return Tokens{}, ErrInvalidRefresh
	}
	now := s.now()
	raw, err := secrets.Token(s.rand, tokenBytes)
	if err != nil {
		return Tokens{}, err
	}
	id, err := secrets.NewSortableID(now, s.rand)
	if err != nil {
		return Tokens{}, err
	}
	var old latchkey.RefreshToken
	for _, hash := range s.keyring.Hashes(refreshPurpose, refresh) {
		old, err = s.store.RotateRefreshToken(ctx, app.ID, hash, now, func(old latchkey.RefreshToken) (latchkey.RefreshToken, error) {
			next := old
			next.ID, next.Hash, next.CreatedAt = id, s.keyring.Hash(refreshPurpose, raw), now
			next.UsedAt, next.RevokedAt = time.Time{}, time.Time{}
			return next, nil
		})
		if !errors.Is(err, latchkey.ErrNotFound) {
			break
		}
	}
	switch {
	case errors.Is(err, latchkey.ErrNotFound), errors.Is(err, latchkey.ErrReplayed):
		return Tokens{}, &latchkey.Error{Code: latchkey.CodeInvalid, Message: ErrInvalidRefresh.Message, Err: err}
	case err != nil:
		return Tokens{}, err
	}
	sess, user, err := s.sessionAndUser(ctx, old.SessionID)
	if err != nil {
		return Tokens{}, err
	}
	tokens, err := s.mint(ctx, app, user, sess, mintOptions{resource: old.Audience})
	if err != nil {
		return Tokens{}, err
	}
	tokens.RefreshToken = raw
	return tokens, nil
}

func (s *Service) sessionAndUser(ctx context.Context, sessionID string) (latchkey.Session, latchkey.User, error) {
	sess, err := s.store.GetSession(ctx, sessionID)
	if err != nil {
		return sess, latchkey.User{}, fmt.Errorf("load session: %w", err)
	}
	user, err := s.store.GetUser(ctx, sess.UserID)
	if err != nil {
		return sess, user, fmt.Errorf("load user: %w", err)
	}
	return sess, user, nil
}

// Authenticate is silent authentication: new tokens, and a new refresh
// token, from a live session of the app, which it extends.
func (s *Service) Authenticate(ctx context.Context, app latchkey.App, o Options) (Tokens, error) {
	if o.SessionID == "" {
		return Tokens{}, latchkey.Errorf(latchkey.CodeInvalid, "session_id is required")
	}
	if err := checkRequest(app, o); err != nil {
		return Tokens{}, err
	}
	now := s.now()
	current, err := s.usableSession(ctx, app, "", o.SessionID)
	if err != nil {
		return Tokens{}, err
	}
	rt, refresh, err := s.newRefresh(app, current.UserID, o.Resource, now)
	if err != nil {
		return Tokens{}, err
	}
	rt.SessionID = o.SessionID
	sess, err := s.store.ExtendSession(ctx, o.SessionID, now, func(x *latchkey.Session) error {
		if !s.usable(*x, app, "") {
			return ErrSessionNotFound
		}
		x.ExpiresAt = s.expiry(*x, app, now)
		return nil
	}, rt)
	if errors.Is(err, latchkey.ErrNotFound) {
		return Tokens{}, ErrSessionNotFound
	}
	if err != nil {
		return Tokens{}, err
	}
	user, err := s.store.GetUser(ctx, sess.UserID)
	if err != nil {
		return Tokens{}, err
	}
	if user.Status == latchkey.UserDisabled {
		return Tokens{}, &latchkey.Error{Code: latchkey.CodeForbidden, Message: "User is not active"}
	}
	return s.tokens(ctx, Authentication{App: app, User: user, Options: o}, sess, refresh)
}

// Logout ends one of the app's sessions and its refresh tokens. Ending an
// already ended session succeeds; another app's session is not found.
func (s *Service) Logout(ctx context.Context, app latchkey.App, sessionID string) error {
	sess, err := s.store.GetSession(ctx, sessionID)
	if errors.Is(err, latchkey.ErrNotFound) || (err == nil && sess.AppID != app.ID) {
		return &latchkey.Error{Code: latchkey.CodeNotFound, Message: "Session not found"}
	}
	if err != nil {
		return err
	}
	return s.store.RevokeSession(ctx, sessionID, s.now())
}

// List returns the user's live sessions in the app.
func (s *Service) List(ctx context.Context, app latchkey.App, userID string) ([]latchkey.Session, error) {
	if err := s.member(ctx, app, userID); err != nil {
		return nil, err
	}
	return s.store.ListSessions(ctx, app.ID, userID, s.now())
}

// RevokeAll ends every session of the user in the app.
func (s *Service) RevokeAll(ctx context.Context, app latchkey.App, userID string) error {
	if err := s.member(ctx, app, userID); err != nil {
		return err
	}
	_, err := s.store.RevokeUserSessions(ctx, app.ID, userID, s.now())
	return err
}

func (s *Service) member(ctx context.Context, app latchkey.App, userID string) error {
	_, err := s.store.GetAppUser(ctx, app.ID, userID)
	if errors.Is(err, latchkey.ErrNotFound) {
		return &latchkey.Error{Code: latchkey.CodeNotFound, Message: "User not found"}
	}
	return err
}

// RevokeRefreshToken revokes the family of one of the app's refresh tokens.
// It reports whether the token was one; anything else is ignored, as RFC
// 7009 §2.2 asks.
func (s *Service) RevokeRefreshToken(ctx context.Context, app latchkey.App, refresh string) (bool, error) {
	if refresh == "" || len(refresh) > 256 {
		return false, nil
	}
	for _, hash := range s.keyring.Hashes(refreshPurpose, refresh) {
		err := s.store.RevokeRefreshToken(ctx, app.ID, hash, s.now())
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, latchkey.ErrNotFound) {
			return false, err
		}
	}
	return false, nil
}
