package storehook

import (
	"context"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// Every method of latchkey.Store but Close, each through the hooks with its
// own name as the op, grouped as the contract groups them.

// Ping runs the wrapped store's Ping through the hooks.
func (s *Store) Ping(ctx context.Context) error {
	return s.do(ctx, "Ping", func(ctx context.Context) error { return s.Store.Ping(ctx) })
}

// TenantStore methods.

// TenantID runs the wrapped store's TenantID through the hooks.
func (s *Store) TenantID(ctx context.Context) (string, error) {
	return value(s, ctx, "TenantID", func(ctx context.Context) (string, error) { return s.Store.TenantID(ctx) })
}

// AppStore methods.

// CreateApp runs the wrapped store's CreateApp through the hooks.
func (s *Store) CreateApp(ctx context.Context, app latchkey.App) error {
	return s.do(ctx, "CreateApp", func(ctx context.Context) error { return s.Store.CreateApp(ctx, app) })
}

// GetApp runs the wrapped store's GetApp through the hooks.
func (s *Store) GetApp(ctx context.Context, id string) (latchkey.App, error) {
	return value(s, ctx, "GetApp", func(ctx context.Context) (latchkey.App, error) { return s.Store.GetApp(ctx, id) })
}

// GetAppByClientID runs the wrapped store's GetAppByClientID through the hooks.
func (s *Store) GetAppByClientID(ctx context.Context, clientID string) (latchkey.App, error) {
	return value(s, ctx, "GetAppByClientID", func(ctx context.Context) (latchkey.App, error) {
		return s.Store.GetAppByClientID(ctx, clientID)
	})
}

// ListApps runs the wrapped store's ListApps through the hooks.
func (s *Store) ListApps(ctx context.Context) ([]latchkey.App, error) {
	return value(s, ctx, "ListApps", func(ctx context.Context) ([]latchkey.App, error) { return s.Store.ListApps(ctx) })
}

// UpdateApp runs the wrapped store's UpdateApp through the hooks.
func (s *Store) UpdateApp(ctx context.Context, id string, update func(*latchkey.App) error) (latchkey.App, error) {
	return value(s, ctx, "UpdateApp", func(ctx context.Context) (latchkey.App, error) {
		return s.Store.UpdateApp(ctx, id, update)
	})
}

// DeleteApp runs the wrapped store's DeleteApp through the hooks.
func (s *Store) DeleteApp(ctx context.Context, id string) error {
	return s.do(ctx, "DeleteApp", func(ctx context.Context) error { return s.Store.DeleteApp(ctx, id) })
}

// UserStore methods.

// CreateUser runs the wrapped store's CreateUser through the hooks.
func (s *Store) CreateUser(ctx context.Context, user latchkey.User, member latchkey.AppUser) error {
	return s.do(ctx, "CreateUser", func(ctx context.Context) error { return s.Store.CreateUser(ctx, user, member) })
}

// GetUser runs the wrapped store's GetUser through the hooks.
func (s *Store) GetUser(ctx context.Context, id string) (latchkey.User, error) {
	return value(s, ctx, "GetUser", func(ctx context.Context) (latchkey.User, error) { return s.Store.GetUser(ctx, id) })
}

// GetUserByEmail runs the wrapped store's GetUserByEmail through the hooks.
func (s *Store) GetUserByEmail(ctx context.Context, emailKey string) (latchkey.User, error) {
	return value(s, ctx, "GetUserByEmail", func(ctx context.Context) (latchkey.User, error) {
		return s.Store.GetUserByEmail(ctx, emailKey)
	})
}

// GetUserByPhone runs the wrapped store's GetUserByPhone through the hooks.
func (s *Store) GetUserByPhone(ctx context.Context, phone string) (latchkey.User, error) {
	return value(s, ctx, "GetUserByPhone", func(ctx context.Context) (latchkey.User, error) {
		return s.Store.GetUserByPhone(ctx, phone)
	})
}

// GetUserByUsername runs the wrapped store's GetUserByUsername through the hooks.
func (s *Store) GetUserByUsername(ctx context.Context, usernameKey string) (latchkey.User, error) {
	return value(s, ctx, "GetUserByUsername", func(ctx context.Context) (latchkey.User, error) {
		return s.Store.GetUserByUsername(ctx, usernameKey)
	})
}

// GetUserByExternalID runs the wrapped store's GetUserByExternalID through the hooks.
func (s *Store) GetUserByExternalID(ctx context.Context, externalID string) (latchkey.User, error) {
	return value(s, ctx, "GetUserByExternalID", func(ctx context.Context) (latchkey.User, error) {
		return s.Store.GetUserByExternalID(ctx, externalID)
	})
}

// GetMember runs the wrapped store's GetMember through the hooks.
func (s *Store) GetMember(ctx context.Context, appID string, key latchkey.UserKey, val string) (latchkey.User, latchkey.AppUser, error) {
	return pair(s, ctx, "GetMember", func(ctx context.Context) (latchkey.User, latchkey.AppUser, error) {
		return s.Store.GetMember(ctx, appID, key, val)
	})
}

// ListUsers runs the wrapped store's ListUsers through the hooks.
func (s *Store) ListUsers(ctx context.Context, filter latchkey.UserFilter) (latchkey.UserPage, error) {
	return value(s, ctx, "ListUsers", func(ctx context.Context) (latchkey.UserPage, error) {
		return s.Store.ListUsers(ctx, filter)
	})
}

// UpdateUser runs the wrapped store's UpdateUser through the hooks.
func (s *Store) UpdateUser(ctx context.Context, id string, update func(*latchkey.User) error) (latchkey.User, error) {
	return value(s, ctx, "UpdateUser", func(ctx context.Context) (latchkey.User, error) {
		return s.Store.UpdateUser(ctx, id, update)
	})
}

// DeleteUser runs the wrapped store's DeleteUser through the hooks.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	return s.do(ctx, "DeleteUser", func(ctx context.Context) error { return s.Store.DeleteUser(ctx, id) })
}

// GetAppUser runs the wrapped store's GetAppUser through the hooks.
func (s *Store) GetAppUser(ctx context.Context, appID string, userID string) (latchkey.AppUser, error) {
	return value(s, ctx, "GetAppUser", func(ctx context.Context) (latchkey.AppUser, error) {
		return s.Store.GetAppUser(ctx, appID, userID)
	})
}

// AddAppUser runs the wrapped store's AddAppUser through the hooks.
func (s *Store) AddAppUser(ctx context.Context, member latchkey.AppUser) error {
	return s.do(ctx, "AddAppUser", func(ctx context.Context) error { return s.Store.AddAppUser(ctx, member) })
}

// UpdateUserInApp runs the wrapped store's UpdateUserInApp through the hooks.
func (s *Store) UpdateUserInApp(ctx context.Context, appID, userID string, update func(*latchkey.User, *latchkey.AppUser) error) (latchkey.User, latchkey.AppUser, error) {
	return pair(s, ctx, "UpdateUserInApp", func(ctx context.Context) (latchkey.User, latchkey.AppUser, error) {
		return s.Store.UpdateUserInApp(ctx, appID, userID, update)
	})
}

// RemoveAppUser runs the wrapped store's RemoveAppUser through the hooks.
func (s *Store) RemoveAppUser(ctx context.Context, appID string, userID string) error {
	return s.do(ctx, "RemoveAppUser", func(ctx context.Context) error { return s.Store.RemoveAppUser(ctx, appID, userID) })
}

// KeyStore methods.

// ListKeys runs the wrapped store's ListKeys through the hooks.
func (s *Store) ListKeys(ctx context.Context) ([]latchkey.SigningKey, error) {
	return value(s, ctx, "ListKeys", func(ctx context.Context) ([]latchkey.SigningKey, error) {
		return s.Store.ListKeys(ctx)
	})
}

// CreateKey runs the wrapped store's CreateKey through the hooks.
func (s *Store) CreateKey(ctx context.Context, key latchkey.SigningKey) error {
	return s.do(ctx, "CreateKey", func(ctx context.Context) error { return s.Store.CreateKey(ctx, key) })
}

// DeleteKey runs the wrapped store's DeleteKey through the hooks.
func (s *Store) DeleteKey(ctx context.Context, id string) error {
	return s.do(ctx, "DeleteKey", func(ctx context.Context) error { return s.Store.DeleteKey(ctx, id) })
}

// RotateKeys runs the wrapped store's RotateKeys through the hooks.
func (s *Store) RotateKeys(ctx context.Context, r latchkey.KeyRotation) error {
	return s.do(ctx, "RotateKeys", func(ctx context.Context) error { return s.Store.RotateKeys(ctx, r) })
}

// DeleteRetiredKeys runs the wrapped store's DeleteRetiredKeys through the hooks.
func (s *Store) DeleteRetiredKeys(ctx context.Context, now time.Time) (int, error) {
	return value(s, ctx, "DeleteRetiredKeys", func(ctx context.Context) (int, error) {
		return s.Store.DeleteRetiredKeys(ctx, now)
	})
}

// ChallengeStore methods.

// CreateChallenge runs the wrapped store's CreateChallenge through the hooks.
func (s *Store) CreateChallenge(ctx context.Context, c latchkey.Challenge, msg *latchkey.Message, spend *latchkey.CounterUpdate) error {
	return s.do(ctx, "CreateChallenge", func(ctx context.Context) error { return s.Store.CreateChallenge(ctx, c, msg, spend) })
}

// GetLiveChallenge runs the wrapped store's GetLiveChallenge through the hooks.
func (s *Store) GetLiveChallenge(ctx context.Context, appID string, kind latchkey.ChallengeKind, subject string) (latchkey.Challenge, error) {
	return value(s, ctx, "GetLiveChallenge", func(ctx context.Context) (latchkey.Challenge, error) {
		return s.Store.GetLiveChallenge(ctx, appID, kind, subject)
	})
}

// GetChallengeByCodeHash runs the wrapped store's GetChallengeByCodeHash through the hooks.
func (s *Store) GetChallengeByCodeHash(ctx context.Context, kind latchkey.ChallengeKind, hash []byte) (latchkey.Challenge, error) {
	return value(s, ctx, "GetChallengeByCodeHash", func(ctx context.Context) (latchkey.Challenge, error) {
		return s.Store.GetChallengeByCodeHash(ctx, kind, hash)
	})
}

// ConsumeChallenge runs the wrapped store's ConsumeChallenge through the hooks.
func (s *Store) ConsumeChallenge(ctx context.Context, id string, now time.Time, in *latchkey.SignIn) error {
	return s.do(ctx, "ConsumeChallenge", func(ctx context.Context) error {
		return s.Store.ConsumeChallenge(ctx, id, now, in)
	})
}

// AttemptChallenge runs the wrapped store's AttemptChallenge through the hooks.
func (s *Store) AttemptChallenge(ctx context.Context, appID string, kind latchkey.ChallengeKind, subject string, now time.Time,
	attempt func(counter *latchkey.AttemptCounter, live *latchkey.Challenge) (latchkey.AttemptResult, error)) error {
	return s.do(ctx, "AttemptChallenge", func(ctx context.Context) error {
		return s.Store.AttemptChallenge(ctx, appID, kind, subject, now, attempt)
	})
}

// DeleteExpiredChallenges runs the wrapped store's DeleteExpiredChallenges through the hooks.
func (s *Store) DeleteExpiredChallenges(ctx context.Context, before time.Time) (int, error) {
	return value(s, ctx, "DeleteExpiredChallenges", func(ctx context.Context) (int, error) {
		return s.Store.DeleteExpiredChallenges(ctx, before)
	})
}

// SessionStore methods.

// CreateSession runs the wrapped store's CreateSession through the hooks.
func (s *Store) CreateSession(ctx context.Context, session latchkey.Session, t latchkey.RefreshToken) error {
	return s.do(ctx, "CreateSession", func(ctx context.Context) error { return s.Store.CreateSession(ctx, session, t) })
}

// GetSession runs the wrapped store's GetSession through the hooks.
func (s *Store) GetSession(ctx context.Context, id string) (latchkey.Session, error) {
	return value(s, ctx, "GetSession", func(ctx context.Context) (latchkey.Session, error) {
		return s.Store.GetSession(ctx, id)
	})
}

// ExtendSession runs the wrapped store's ExtendSession through the hooks.
func (s *Store) ExtendSession(ctx context.Context, id string, now time.Time, update func(*latchkey.Session) error, t latchkey.RefreshToken) (latchkey.Session, error) {
	return value(s, ctx, "ExtendSession", func(ctx context.Context) (latchkey.Session, error) {
		return s.Store.ExtendSession(ctx, id, now, update, t)
	})
}

// ListSessions runs the wrapped store's ListSessions through the hooks.
func (s *Store) ListSessions(ctx context.Context, appID string, userID string, now time.Time) ([]latchkey.Session, error) {
	return value(s, ctx, "ListSessions", func(ctx context.Context) ([]latchkey.Session, error) {
		return s.Store.ListSessions(ctx, appID, userID, now)
	})
}

// RevokeSession runs the wrapped store's RevokeSession through the hooks.
func (s *Store) RevokeSession(ctx context.Context, id string, now time.Time) error {
	return s.do(ctx, "RevokeSession", func(ctx context.Context) error { return s.Store.RevokeSession(ctx, id, now) })
}

// RevokeUserSessions runs the wrapped store's RevokeUserSessions through the hooks.
func (s *Store) RevokeUserSessions(ctx context.Context, appID string, userID string, now time.Time) (int, error) {
	return value(s, ctx, "RevokeUserSessions", func(ctx context.Context) (int, error) {
		return s.Store.RevokeUserSessions(ctx, appID, userID, now)
	})
}

// RotateRefreshToken runs the wrapped store's RotateRefreshToken through the hooks.
func (s *Store) RotateRefreshToken(ctx context.Context, appID string, hash []byte, now time.Time,
	next func(old latchkey.RefreshToken) (latchkey.RefreshToken, error)) (latchkey.RefreshToken, error) {
	return value(s, ctx, "RotateRefreshToken", func(ctx context.Context) (latchkey.RefreshToken, error) {
		return s.Store.RotateRefreshToken(ctx, appID, hash, now, next)
	})
}

// RevokeRefreshToken runs the wrapped store's RevokeRefreshToken through the hooks.
func (s *Store) RevokeRefreshToken(ctx context.Context, appID string, hash []byte, now time.Time) error {
	return s.do(ctx, "RevokeRefreshToken", func(ctx context.Context) error {
		return s.Store.RevokeRefreshToken(ctx, appID, hash, now)
	})
}

// DeleteEndedSessions runs the wrapped store's DeleteEndedSessions through the hooks.
func (s *Store) DeleteEndedSessions(ctx context.Context, before time.Time) (int, error) {
	return value(s, ctx, "DeleteEndedSessions", func(ctx context.Context) (int, error) {
		return s.Store.DeleteEndedSessions(ctx, before)
	})
}

// OutboxStore methods.

// ClaimMessages runs the wrapped store's ClaimMessages through the hooks.
func (s *Store) ClaimMessages(ctx context.Context, now time.Time, leaseUntil time.Time, limit int) ([]latchkey.Message, error) {
	return value(s, ctx, "ClaimMessages", func(ctx context.Context) ([]latchkey.Message, error) {
		return s.Store.ClaimMessages(ctx, now, leaseUntil, limit)
	})
}

// UpdateMessage runs the wrapped store's UpdateMessage through the hooks.
func (s *Store) UpdateMessage(ctx context.Context, id string, update func(*latchkey.Message) error) (latchkey.Message, error) {
	return value(s, ctx, "UpdateMessage", func(ctx context.Context) (latchkey.Message, error) {
		return s.Store.UpdateMessage(ctx, id, update)
	})
}

// UpdateMessages runs the wrapped store's UpdateMessages through the hooks.
func (s *Store) UpdateMessages(ctx context.Context, updates []latchkey.MessageUpdate) ([]latchkey.Message, error) {
	return value(s, ctx, "UpdateMessages", func(ctx context.Context) ([]latchkey.Message, error) {
		return s.Store.UpdateMessages(ctx, updates)
	})
}

// ListMessages runs the wrapped store's ListMessages through the hooks.
func (s *Store) ListMessages(ctx context.Context, status latchkey.MessageStatus, limit int) ([]latchkey.Message, error) {
	return value(s, ctx, "ListMessages", func(ctx context.Context) ([]latchkey.Message, error) {
		return s.Store.ListMessages(ctx, status, limit)
	})
}

// OutboxBacklog runs the wrapped store's OutboxBacklog through the hooks.
func (s *Store) OutboxBacklog(ctx context.Context) (latchkey.OutboxBacklog, error) {
	return value(s, ctx, "OutboxBacklog", func(ctx context.Context) (latchkey.OutboxBacklog, error) { return s.Store.OutboxBacklog(ctx) })
}

// DeleteFinishedMessages runs the wrapped store's DeleteFinishedMessages through the hooks.
func (s *Store) DeleteFinishedMessages(ctx context.Context, before time.Time) (int, error) {
	return value(s, ctx, "DeleteFinishedMessages", func(ctx context.Context) (int, error) {
		return s.Store.DeleteFinishedMessages(ctx, before)
	})
}

// DevInboxStore methods.

// AddDevMessage runs the wrapped store's AddDevMessage through the hooks.
func (s *Store) AddDevMessage(ctx context.Context, m latchkey.DevMessage) error {
	return s.do(ctx, "AddDevMessage", func(ctx context.Context) error { return s.Store.AddDevMessage(ctx, m) })
}

// ListDevMessages runs the wrapped store's ListDevMessages through the hooks.
func (s *Store) ListDevMessages(ctx context.Context, to string, limit int) ([]latchkey.DevMessage, error) {
	return value(s, ctx, "ListDevMessages", func(ctx context.Context) ([]latchkey.DevMessage, error) {
		return s.Store.ListDevMessages(ctx, to, limit)
	})
}

// DeleteDevMessages runs the wrapped store's DeleteDevMessages through the hooks.
func (s *Store) DeleteDevMessages(ctx context.Context, before time.Time) (int, error) {
	return value(s, ctx, "DeleteDevMessages", func(ctx context.Context) (int, error) {
		return s.Store.DeleteDevMessages(ctx, before)
	})
}

// LimitStore methods.

// UpdateCounters runs the wrapped store's UpdateCounters through the hooks.
func (s *Store) UpdateCounters(ctx context.Context, keys []string, update func([]*latchkey.Counter) error) error {
	return s.do(ctx, "UpdateCounters", func(ctx context.Context) error { return s.Store.UpdateCounters(ctx, keys, update) })
}

// BlockedUntil runs the wrapped store's BlockedUntil through the hooks.
func (s *Store) BlockedUntil(ctx context.Context, keys []string) ([]time.Time, error) {
	return value(s, ctx, "BlockedUntil", func(ctx context.Context) ([]time.Time, error) {
		return s.Store.BlockedUntil(ctx, keys)
	})
}

// DeleteExpiredCounters runs the wrapped store's DeleteExpiredCounters through the hooks.
func (s *Store) DeleteExpiredCounters(ctx context.Context, before time.Time) (int, error) {
	return value(s, ctx, "DeleteExpiredCounters", func(ctx context.Context) (int, error) {
		return s.Store.DeleteExpiredCounters(ctx, before)
	})
}
