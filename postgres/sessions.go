package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/latchkeyhq/latchkey"
)

const sessionColumns = "id, app_id, user_id, methods, authenticated_at, created_at, expires_at, revoked_at"

const selectSession = "SELECT " + sessionColumns + " FROM sessions WHERE id = $1"

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

const selectRefreshByHash = "SELECT " + refreshColumns + " FROM refresh_tokens WHERE hash = $1 AND app_id = $2"

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

func insertRefresh(ctx context.Context, tx pgx.Tx, t latchkey.RefreshToken) error {
	b := &pgx.Batch{}
	queueRefresh(b, t)
	return sendBatch(ctx, tx, b)
}

func queueRefresh(b *pgx.Batch, t latchkey.RefreshToken) {
	b.Queue("INSERT INTO refresh_tokens ("+refreshColumns+") VALUES ("+placeholders(1, 11)+")",
		t.ID, t.Hash, t.FamilyID, t.SessionID, t.AppID, t.UserID, t.Audience,
		ms(t.CreatedAt), ms(t.ExpiresAt), ms(t.UsedAt), ms(t.RevokedAt))
}

// CreateSession adds a session with its first refresh token, in one round
// trip.
func (s *Store) CreateSession(ctx context.Context, sess latchkey.Session, t latchkey.RefreshToken) error {
	row, err := sessionRow(sess)
	if err != nil {
		return err
	}
	return s.inBatch(ctx, func(b *pgx.Batch) { queueSession(b, row, t) })
}

// queueSession queues the insertion of a session, given as sessionRow
// encodes it, and its first refresh token.
func queueSession(b *pgx.Batch, row []any, t latchkey.RefreshToken) {
	b.Queue("INSERT INTO sessions ("+sessionColumns+") VALUES ("+placeholders(1, 8)+")", row...)
	queueRefresh(b, t)
}

// GetSession returns the session.
func (s *Store) GetSession(ctx context.Context, id string) (latchkey.Session, error) {
	return scanSession(s.pool.QueryRow(ctx, selectSession, id))
}

// ExtendSession updates a live session and adds a refresh token in one
// transaction. The session is read FOR UPDATE, so a concurrent extension or
// revocation waits and cannot be overwritten.
func (s *Store) ExtendSession(ctx context.Context, id string, now time.Time, update func(*latchkey.Session) error, t latchkey.RefreshToken) (latchkey.Session, error) {
	var out latchkey.Session
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		sess, err := scanSession(tx.QueryRow(ctx, selectSession+" FOR UPDATE", id))
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
		if _, err := tx.Exec(ctx, `UPDATE sessions SET methods = $1, authenticated_at = $2, expires_at = $3, revoked_at = $4
			WHERE id = $5`, row[3], row[4], row[6], row[7], id); err != nil {
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
	rows, err := s.pool.Query(ctx, "SELECT "+sessionColumns+` FROM sessions
		WHERE app_id = $1 AND user_id = $2 AND revoked_at = 0 AND expires_at > $3 ORDER BY created_at DESC, id COLLATE "C"`,
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
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var exists int
		if err := tx.QueryRow(ctx, "SELECT 1 FROM sessions WHERE id = $1", id).Scan(&exists); err != nil {
			return translate(err)
		}
		_, err := revokeSessions(ctx, tx, now, "id = $2", id)
		return err
	})
}

// revokeSessions ends the live sessions matching where (whose parameters
// start at $2; $1 is now), and every unrevoked refresh token issued in
// them, and returns how many sessions it ended. Tokens are locked before
// sessions, the order RotateRefreshToken takes them in, so a revocation and
// a rotation never deadlock.
func revokeSessions(ctx context.Context, tx pgx.Tx, now time.Time, where string, args ...any) (int, error) {
	args = append([]any{ms(now)}, args...)
	if _, err := tx.Exec(ctx, "UPDATE refresh_tokens SET revoked_at = $1 WHERE revoked_at = 0 AND session_id IN (SELECT id FROM sessions WHERE "+where+")",
		args...); err != nil {
		return 0, translate(err)
	}
	return affected(tx.Exec(ctx, "UPDATE sessions SET revoked_at = $1 WHERE revoked_at = 0 AND "+where, args...))
}

// RevokeUserSessions ends the user's live sessions in one app or in all. It
// counts the sessions its own UPDATE ended, which is what SQLite's count
// before the update amounts to when nothing runs between them.
func (s *Store) RevokeUserSessions(ctx context.Context, appID, userID string, now time.Time) (int, error) {
	where, args := "user_id = $2 AND expires_at > $3", []any{userID, ms(now)}
	if appID != "" {
		where, args = where+" AND app_id = $4", append(args, appID)
	}
	var n int
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		n, err = revokeSessions(ctx, tx, now, where, args...)
		return err
	})
	return n, err
}

// RotateRefreshToken exchanges a refresh token for the next one. The token
// row is read FOR UPDATE, so concurrent rotations of one token run one after
// the other: the first marks it used, and every later one finds it used,
// which is a replay. A replayed token revokes its family and session, and
// that revocation is committed before ErrReplayed is returned.
func (s *Store) RotateRefreshToken(ctx context.Context, appID string, hash []byte, now time.Time, next func(latchkey.RefreshToken) (latchkey.RefreshToken, error)) (latchkey.RefreshToken, error) {
	var (
		old      latchkey.RefreshToken
		replayed bool
	)
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		replayed = false
		var err error
		old, err = scanRefresh(tx.QueryRow(ctx, selectRefreshByHash+" FOR UPDATE", hash, appID))
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
		return rotate(ctx, tx, old, now, next)
	})
	if err == nil && replayed {
		return old, latchkey.ErrReplayed
	}
	return old, err
}

// rotate marks the locked, unused token old used and adds the token next
// makes, if old's session is still live.
func rotate(ctx context.Context, tx pgx.Tx, old latchkey.RefreshToken, now time.Time, next func(latchkey.RefreshToken) (latchkey.RefreshToken, error)) error {
	sess, err := scanSession(tx.QueryRow(ctx, selectSession, old.SessionID))
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
	if err := affectedOne(tx.Exec(ctx, "UPDATE refresh_tokens SET used_at = $1 WHERE id = $2 AND used_at = 0", ms(now), old.ID)); err != nil {
		return err
	}
	return insertRefresh(ctx, tx, t)
}

// revokeFamily revokes every token of old's family and the session they
// belong to.
func revokeFamily(ctx context.Context, tx pgx.Tx, old latchkey.RefreshToken, now time.Time) error {
	if _, err := tx.Exec(ctx, "UPDATE refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at = 0",
		ms(now), old.FamilyID); err != nil {
		return translate(err)
	}
	_, err := revokeSessions(ctx, tx, now, "id = $2", old.SessionID)
	return err
}

// RevokeRefreshToken revokes the family of one of the app's refresh tokens.
func (s *Store) RevokeRefreshToken(ctx context.Context, appID string, hash []byte, now time.Time) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		old, err := scanRefresh(tx.QueryRow(ctx, selectRefreshByHash, hash, appID))
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "UPDATE refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at = 0", ms(now), old.FamilyID)
		return translate(err)
	})
}

// DeleteEndedSessions removes sessions that ended before the given time;
// their refresh tokens go with them.
func (s *Store) DeleteEndedSessions(ctx context.Context, before time.Time) (int, error) {
	return s.deleteChunked(ctx, "sessions", "expires_at < $1 OR (revoked_at <> 0 AND revoked_at < $1)", ms(before))
}
