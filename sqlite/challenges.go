package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/latchkeyhq/latchkey"
)

const challengeColumns = `id, app_id, kind, subject, user_id, channel, destination, code_hash, request_id,
	redirect_uri, state, approval_data, created_at, expires_at, consumed_at`

func scanChallenge(row scanner) (latchkey.Challenge, error) {
	var (
		c                          latchkey.Challenge
		kind, channel, approval    string
		userID                     sql.NullString
		created, expires, consumed int64
	)
	err := row.Scan(&c.ID, &c.AppID, &kind, &c.Subject, &userID, &channel, &c.Destination, &c.CodeHash, &c.RequestID,
		&c.RedirectURI, &c.State, &approval, &created, &expires, &consumed)
	if err != nil {
		return c, translate(err)
	}
	c.Kind, c.Channel, c.UserID = latchkey.ChallengeKind(kind), latchkey.Channel(channel), userID.String
	c.ApprovalData = emptyRaw(approval)
	c.CreatedAt, c.ExpiresAt, c.ConsumedAt = fromMS(created), fromMS(expires), fromMS(consumed)
	return c, nil
}

// CreateChallenge spends the send's counters, invalidates the subject's
// live challenge of this kind, adds the new one and queues its message, all
// in one transaction.
func (s *Store) CreateChallenge(ctx context.Context, c latchkey.Challenge, msg *latchkey.Message, spend *latchkey.CounterUpdate) error {
	return s.inTx(ctx, func(tx *tx) error {
		if spend != nil {
			if err := updateCounters(ctx, tx, spend.Keys, spend.Update); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx,
			"UPDATE challenges SET consumed_at = ? WHERE app_id = ? AND kind = ? AND subject = ? AND consumed_at = 0",
			ms(c.CreatedAt), c.AppID, string(c.Kind), c.Subject); err != nil {
			return translate(err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO challenges ("+challengeColumns+") VALUES ("+placeholders(15)+")",
			c.ID, c.AppID, string(c.Kind), c.Subject, nullIfEmpty(c.UserID), string(c.Channel), c.Destination, c.CodeHash,
			c.RequestID, c.RedirectURI, c.State, rawOrEmpty(c.ApprovalData), ms(c.CreatedAt), ms(c.ExpiresAt), ms(c.ConsumedAt)); err != nil {
			return translate(err)
		}
		if msg == nil {
			return nil
		}
		return insertMessage(ctx, tx, *msg)
	})
}

// GetLiveChallenge returns the subject's unconsumed challenge of this kind.
func (s *Store) GetLiveChallenge(ctx context.Context, appID string, kind latchkey.ChallengeKind, subject string) (latchkey.Challenge, error) {
	return scanChallenge(s.write.QueryRowContext(ctx, "SELECT "+challengeColumns+
		" FROM challenges WHERE app_id = ? AND kind = ? AND subject = ? AND consumed_at = 0", appID, string(kind), subject))
}

// GetChallengeByCodeHash returns the challenge with this code hash.
func (s *Store) GetChallengeByCodeHash(ctx context.Context, kind latchkey.ChallengeKind, hash []byte) (latchkey.Challenge, error) {
	return scanChallenge(s.write.QueryRowContext(ctx, "SELECT "+challengeColumns+
		" FROM challenges WHERE code_hash = ? AND kind = ?", hash, string(kind)))
}

// ConsumeChallenge marks a live challenge used and signs its user in; the
// condition on consumed_at makes it single use however many requests race.
func (s *Store) ConsumeChallenge(ctx context.Context, id string, now time.Time, in *latchkey.SignIn) error {
	return s.inTx(ctx, func(tx *tx) error {
		err := affectedOne(tx.ExecContext(ctx, "UPDATE challenges SET consumed_at = ? WHERE id = ? AND consumed_at = 0", ms(now), id))
		if errors.Is(err, latchkey.ErrNotFound) {
			var exists int
			if err := tx.QueryRowContext(ctx, "SELECT 1 FROM challenges WHERE id = ?", id).Scan(&exists); err != nil {
				return translate(err)
			}
			return latchkey.ErrConflict
		}
		if err != nil || in == nil {
			return err
		}
		return signIn(ctx, tx, *in)
	})
}

// AttemptChallenge runs one attempt in a write transaction; the single
// write connection serialises every attempt, so each sees the failures of
// those before it.
func (s *Store) AttemptChallenge(ctx context.Context, appID string, kind latchkey.ChallengeKind, subject string, now time.Time,
	attempt func(*latchkey.AttemptCounter, *latchkey.Challenge) (latchkey.AttemptResult, error)) error {
	return s.inTx(ctx, func(tx *tx) error {
		c := latchkey.AttemptCounter{AppID: appID, Subject: subject}
		var locked int64
		err := tx.QueryRowContext(ctx, "SELECT failures, consecutive, lockouts, locked_until FROM attempt_counters WHERE app_id = ? AND subject = ?",
			appID, subject).Scan(&c.Failures, &c.Consecutive, &c.Lockouts, &locked)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return translate(err)
		}
		c.LockedUntil = fromMS(locked)
		var live *latchkey.Challenge
		ch, err := scanChallenge(tx.QueryRowContext(ctx, "SELECT "+challengeColumns+
			" FROM challenges WHERE app_id = ? AND kind = ? AND subject = ? AND consumed_at = 0", appID, string(kind), subject))
		switch {
		case err == nil:
			live = &ch
		case !errors.Is(err, latchkey.ErrNotFound):
			return err
		}
		before := c
		result, err := attempt(&c, live)
		if err != nil {
			return err
		}
		c.AppID, c.Subject = appID, subject
		// A counter left as it was (the common success with no failures)
		// costs no write; a zero counter and a missing one are the same.
		if c != before {
			if _, err := tx.ExecContext(ctx, `INSERT INTO attempt_counters (app_id, subject, failures, consecutive, lockouts, locked_until)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (app_id, subject) DO UPDATE SET failures = excluded.failures,
			consecutive = excluded.consecutive, lockouts = excluded.lockouts, locked_until = excluded.locked_until`,
				appID, subject, c.Failures, c.Consecutive, c.Lockouts, ms(c.LockedUntil)); err != nil {
				return translate(err)
			}
		}
		if !result.Consume || live == nil {
			return nil
		}
		if err := affectedOne(tx.ExecContext(ctx, "UPDATE challenges SET consumed_at = ? WHERE id = ? AND consumed_at = 0", ms(now), live.ID)); err != nil {
			return err
		}
		if result.SignIn != nil {
			return signIn(ctx, tx, *result.SignIn)
		}
		return nil
	})
}

// signIn writes a login's user update and new session, and resets the
// attempt counter it names. The one write connection serialises it with
// every attempt.
func signIn(ctx context.Context, tx *tx, in latchkey.SignIn) error {
	if r := in.ResetAttempts; r != nil {
		if _, err := tx.ExecContext(ctx, "DELETE FROM attempt_counters WHERE app_id = ? AND subject = ?", r.AppID, r.Subject); err != nil {
			return translate(err)
		}
	}
	if in.UpdateUser != nil {
		if _, err := updateUser(ctx, tx, in.UserID, in.UpdateUser); err != nil {
			return err
		}
	}
	if in.Session.ID == "" {
		return nil
	}
	return insertSession(ctx, tx, in.Session, in.Refresh)
}

// DeleteExpiredChallenges removes challenges past use and idle counters.
func (s *Store) DeleteExpiredChallenges(ctx context.Context, before time.Time) (int, error) {
	n, err := s.deleteChunked(ctx, "challenges", "expires_at < ? OR (consumed_at <> 0 AND consumed_at < ?)", ms(before), ms(before))
	if err != nil {
		return n, err
	}
	_, err = s.write.ExecContext(ctx, "DELETE FROM attempt_counters WHERE failures = 0 AND consecutive = 0 AND locked_until < ?", ms(before))
	return n, translate(err)
}
