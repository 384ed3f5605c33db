package sqlite

import (
	"context"
	"time"

	"github.com/latchkeyhq/latchkey"
)

const sessionColumns = "id, app_id, user_id, methods, authenticated_at, created_at, expires_at, revoked_at"

func scanSession(row scanner) (latchkey.Session, error) {
	var (
		s                                 latchkey.Session
		methods                           string
		authAt, created, expires, revoked int64
	)
	if err := row.Scan(&s.ID, &s.AppID, &s.UserID, &methods, &authAt, &created, &expires, &revoked); err != nil {
		return s, translate(err)
	}
	if err := decodeJSON(methods, &s.Methods); err != nil {
		return s, err
	}
	s.AuthenticatedAt, s.CreatedAt, s.ExpiresAt, s.RevokedAt = fromMS(authAt), fromMS(created), fromMS(expires), fromMS(revoked)
	return s, nil
}

func sessionRow(s latchkey.Session) ([]any, error) {
	m, err := encodeJSON(nonNil(s.Methods))
	if err != nil {
		return nil, err
	}
	return []any{s.ID, s.AppID, s.UserID, m, ms(s.AuthenticatedAt), ms(s.CreatedAt), ms(s.ExpiresAt), ms(s.RevokedAt)}, nil
}

const refreshColumns = "id, hash, family_id, session_id, app_id, user_id, audience, created_at, expires_at, used_at, revoked_at"

func scanRefresh(row scanner) (latchkey.RefreshToken, error) {
	var (
		t                               latchkey.RefreshToken
		created, expires, used, revoked int64
	)
	err := row.Scan(&t.ID, &t.Hash, &t.FamilyID, &t.SessionID, &t.AppID, &t.UserID, &t.Audience, &created, &expires, &used, &revoked)
	if err != nil {
		return t, translate(err)
	}
	t.CreatedAt, t.ExpiresAt, t.UsedAt, t.RevokedAt = fromMS(created), fromMS(expires), fromMS(used), fromMS(revoked)
	return t, nil
}

func insertRefresh(ctx context.Context, tx *tx, t latchkey.RefreshToken) error {
	_, err := tx.ExecContext(ctx, "INSERT INTO refresh_tokens ("+refreshColumns+") VALUES ("+placeholders(11)+")",
		t.ID, t.Hash, t.FamilyID, t.SessionID, t.AppID, t.UserID, t.Audience,
		ms(t.CreatedAt), ms(t.ExpiresAt), ms(t.UsedAt), ms(t.RevokedAt))
	return translate(err)
}

// CreateSession adds a session with its first refresh token.
func (s *Store) CreateSession(ctx context.Context, sess latchkey.Session, t latchkey.RefreshToken) error {
	return s.inTx(ctx, func(tx *tx) error {
		return insertSession(ctx, tx, sess, t)
	})
}

// insertSession adds a session with its first refresh token.
func insertSession(ctx context.Context, tx *tx, sess latchkey.Session, t latchkey.RefreshToken) error {
	row, err := sessionRow(sess)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO sessions ("+sessionColumns+") VALUES ("+placeholders(8)+")", row...); err != nil {
		return translate(err)
	}
	return insertRefresh(ctx, tx, t)
}

// GetSession returns the session.
func (s *Store) GetSession(ctx context.Context, id string) (latchkey.Session, error) {
	return scanSession(s.write.QueryRowContext(ctx, "SELECT "+sessionColumns+" FROM sessions WHERE id = ?", id))
}

// ExtendSession updates a live session and adds a refresh token.
func (s *Store) ExtendSession(ctx context.Context, id string, now time.Time, update func(*latchkey.Session) error, t latchkey.RefreshToken) (latchkey.Session, error) {
	var out latchkey.Session
	err := s.inTx(ctx, func(tx *tx) error {
		sess, err := scanSession(tx.QueryRowContext(ctx, "SELECT "+sessionColumns+" FROM sessions WHERE id = ?", id))
		if err != nil {
			return err
		}
		if !sess.Live(now) {
			return latchkey.ErrNotFound
		}
		if err := update(&sess); err != nil {
			return err
		}
		sess.ID = id
		row, err := sessionRow(sess)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE sessions SET methods = ?, authenticated_at = ?, expires_at = ?, revoked_at = ?
			WHERE id = ?`, row[3], row[4], row[6], row[7], id); err != nil {
			return translate(err)
		}
		out = sess
		if t.ID == "" {
			return nil
		}
		return insertRefresh(ctx, tx, t)
	})
	return out, err
}

// ListSessions returns the user's live sessions in the app, newest first.
func (s *Store) ListSessions(ctx context.Context, appID, userID string, now time.Time) ([]latchkey.Session, error) {
	rows, err := s.read.QueryContext(ctx, "SELECT "+sessionColumns+` FROM sessions
		WHERE app_id = ? AND user_id = ? AND revoked_at = 0 AND expires_at > ? ORDER BY created_at DESC, id`,
		appID, userID, ms(now))
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []latchkey.Session
	for rows.Next() {
		sess, err := scanSession(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, sess)
	}
	return out, translate(rows.Err())
}

// RevokeSession ends a session and its refresh tokens.
func (s *Store) RevokeSession(ctx context.Context, id string, now time.Time) error {
	return s.inTx(ctx, func(tx *tx) error {
		var exists int
		if err := tx.QueryRowContext(ctx, "SELECT 1 FROM sessions WHERE id = ?", id).Scan(&exists); err != nil {
			return translate(err)
		}
		_, err := revokeSessions(ctx, tx, now, "id = ?", id)
		return err
	})
}

// revokeSessions ends the live sessions matching where, and every unrevoked
// refresh token issued in them, and returns how many sessions it ended.
func revokeSessions(ctx context.Context, tx *tx, now time.Time, where string, args ...any) (int, error) {
	if _, err := tx.ExecContext(ctx, "UPDATE refresh_tokens SET revoked_at = ? WHERE revoked_at = 0 AND session_id IN (SELECT id FROM sessions WHERE "+where+")",
		append([]any{ms(now)}, args...)...); err != nil {
		return 0, translate(err)
	}
	res, err := tx.ExecContext(ctx, "UPDATE sessions SET revoked_at = ? WHERE revoked_at = 0 AND "+where, append([]any{ms(now)}, args...)...)
	if err != nil {
		return 0, translate(err)
	}
	n, err := res.RowsAffected()
	return int(n), translate(err)
}

// RevokeUserSessions ends the user's live sessions in one app or in all.
func (s *Store) RevokeUserSessions(ctx context.Context, appID, userID string, now time.Time) (int, error) {
	where, args := "user_id = ? AND expires_at > ?", []any{userID, ms(now)}
	if appID != "" {
		where, args = where+" AND app_id = ?", append(args, appID)
	}
	var n int
	err := s.inTx(ctx, func(tx *tx) (err error) {
		n, err = revokeSessions(ctx, tx, now, where, args...)
		return err
	})
	return n, err
}

// RotateRefreshToken exchanges a refresh token for the next one. A replayed
// token revokes its family and session and that revocation is committed
// before ErrReplayed is returned.
func (s *Store) RotateRefreshToken(ctx context.Context, appID string, hash []byte, now time.Time, next func(latchkey.RefreshToken) (latchkey.RefreshToken, error)) (latchkey.RefreshToken, error) {
	var (
		old      latchkey.RefreshToken
		replayed bool
	)
	err := s.inTx(ctx, func(tx *tx) error {
		var err error
		old, err = scanRefresh(tx.QueryRowContext(ctx, "SELECT "+refreshColumns+" FROM refresh_tokens WHERE hash = ? AND app_id = ?", hash, appID))
		if err != nil {
			return err
		}
		if !old.RevokedAt.IsZero() || !now.Before(old.ExpiresAt) {
			return latchkey.ErrNotFound
		}
		if !old.UsedAt.IsZero() {
			replayed = true
			return revokeFamily(ctx, tx, old, now)
		}
		sess, err := scanSession(tx.QueryRowContext(ctx, "SELECT "+sessionColumns+" FROM sessions WHERE id = ?", old.SessionID))
		if err != nil {
			return err
		}
		if !sess.Live(now) {
			return latchkey.ErrNotFound
		}
		t, err := next(old)
		if err != nil {
			return err
		}
		if err := affectedOne(tx.ExecContext(ctx, "UPDATE refresh_tokens SET used_at = ? WHERE id = ? AND used_at = 0", ms(now), old.ID)); err != nil {
			return err
		}
		return insertRefresh(ctx, tx, t)
	})
	if err == nil && replayed {
		return old, latchkey.ErrReplayed
	}
	return old, err
}

// revokeFamily revokes every token of old's family and the session they
// belong to.
func revokeFamily(ctx context.Context, tx *tx, old latchkey.RefreshToken, now time.Time) error {
	if _, err := tx.ExecContext(ctx, "UPDATE refresh_tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at = 0",
		ms(now), old.FamilyID); err != nil {
		return translate(err)
	}
	_, err := revokeSessions(ctx, tx, now, "id = ?", old.SessionID)
	return err
}

// RevokeRefreshToken revokes the family of one of the app's refresh tokens.
func (s *Store) RevokeRefreshToken(ctx context.Context, appID string, hash []byte, now time.Time) error {
	return s.inTx(ctx, func(tx *tx) error {
		old, err := scanRefresh(tx.QueryRowContext(ctx, "SELECT "+refreshColumns+" FROM refresh_tokens WHERE hash = ? AND app_id = ?", hash, appID))
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "UPDATE refresh_tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at = 0", ms(now), old.FamilyID)
		return translate(err)
	})
}

// DeleteEndedSessions removes sessions that ended before the given time;
// their refresh tokens go with them.
func (s *Store) DeleteEndedSessions(ctx context.Context, before time.Time) (int, error) {
	return s.deleteChunked(ctx, "sessions", "expires_at < ? OR (revoked_at <> 0 AND revoked_at < ?)", ms(before), ms(before))
}
