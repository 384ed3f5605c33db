package postgres

import (
	"context"
	"errors"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/latchkeyhq/latchkey"
)

const challengeColumns = `id, app_id, kind, subject, user_id, channel, destination, code_hash, request_id,
	redirect_uri, state, approval_data, created_at, expires_at, consumed_at`

const selectLiveChallenge = "SELECT " + challengeColumns +
	" FROM challenges WHERE app_id = $1 AND kind = $2 AND subject = $3 AND consumed_at = 0"

// challengeLockClass is the first half of the advisory lock key that
// CreateChallenge takes ("LKCH"); the second half hashes the app, kind and
// subject.
const challengeLockClass = 0x4c4b4348

func scanChallenge(row scanner) (latchkey.Challenge, error) {
	var (
		c                          latchkey.Challenge
		kind, channel, approval    string
		userID                     *string
		created, expires, consumed int64
	)
	err := row.Scan(&c.ID, &c.AppID, &kind, &c.Subject, &userID, &channel, &c.Destination, &c.CodeHash, &c.RequestID,
		&c.RedirectURI, &c.State, &approval, &created, &expires, &consumed)
	if err != nil {
		return c, translate(err)
	}
	c.Kind, c.Channel, c.UserID = latchkey.ChallengeKind(kind), latchkey.Channel(channel), deref(userID)
	c.ApprovalData = emptyRaw(approval)
	c.CreatedAt, c.ExpiresAt, c.ConsumedAt = fromMS(created), fromMS(expires), fromMS(consumed)
	return c, nil
}

// CreateChallenge invalidates the subject's live challenge of this kind,
// adds the new one and queues its message, all in one transaction.
//
// Two sends to one subject at once would otherwise each miss the other's
// uncommitted challenge and one would fail on the one-live-challenge index;
// an advisory lock on the app, kind and subject makes the second wait and
// then invalidate the first, as SQLite's single writer does.
func (s *Store) CreateChallenge(ctx context.Context, c latchkey.Challenge, msg *latchkey.Message) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1::int4, $2::int4)",
			int32(challengeLockClass), subjectLockKey(c.AppID, c.Kind, c.Subject)); err != nil {
			return translate(err)
		}
		if _, err := tx.Exec(ctx,
			"UPDATE challenges SET consumed_at = $1 WHERE app_id = $2 AND kind = $3 AND subject = $4 AND consumed_at = 0",
			ms(c.CreatedAt), c.AppID, string(c.Kind), c.Subject); err != nil {
			return translate(err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO challenges ("+challengeColumns+") VALUES ("+placeholders(1, 15)+")",
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

// subjectLockKey hashes an app, kind and subject into the second half of
// CreateChallenge's lock key. A collision only makes two unrelated sends
// wait for each other.
func subjectLockKey(appID string, kind latchkey.ChallengeKind, subject string) int32 {
	h := fnv.New32a()
	for _, part := range []string{appID, string(kind), subject} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return int32(h.Sum32())
}

// GetLiveChallenge returns the subject's unconsumed challenge of this kind.
func (s *Store) GetLiveChallenge(ctx context.Context, appID string, kind latchkey.ChallengeKind, subject string) (latchkey.Challenge, error) {
	return scanChallenge(s.pool.QueryRow(ctx, selectLiveChallenge, appID, string(kind), subject))
}

// GetChallengeByCodeHash returns the challenge with this code hash.
func (s *Store) GetChallengeByCodeHash(ctx context.Context, kind latchkey.ChallengeKind, hash []byte) (latchkey.Challenge, error) {
	return scanChallenge(s.pool.QueryRow(ctx, "SELECT "+challengeColumns+
		" FROM challenges WHERE code_hash = $1 AND kind = $2", hash, string(kind)))
}

// ConsumeChallenge marks a live challenge used and signs its user in.
// Concurrent calls queue on the row lock and PostgreSQL re-checks
// consumed_at = 0 for each after the one before commits, so exactly one
// matches; the others then learn whether the challenge exists
// (ErrConflict) or not (ErrNotFound).
func (s *Store) ConsumeChallenge(ctx context.Context, id string, now time.Time, in *latchkey.SignIn) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		err := affectedOne(tx.Exec(ctx, "UPDATE challenges SET consumed_at = $1 WHERE id = $2 AND consumed_at = 0", ms(now), id))
		if errors.Is(err, latchkey.ErrNotFound) {
			var exists int
			if err := tx.QueryRow(ctx, "SELECT 1 FROM challenges WHERE id = $1", id).Scan(&exists); err != nil {
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

// AttemptChallenge runs one attempt in a transaction that first takes the
// subject's counter row lock. Every attempt on the same app and subject, on
// any node, queues on that lock, so each sees the failures recorded by the
// ones before it.
//
// The counter is claimed with an upsert whose no-op update locks the row
// whether it was just inserted or already there: unlike INSERT ... DO
// NOTHING followed by SELECT ... FOR UPDATE, no purge can delete the row
// between the two statements.
func (s *Store) AttemptChallenge(ctx context.Context, appID string, kind latchkey.ChallengeKind, subject string, now time.Time,
	attempt func(*latchkey.AttemptCounter, *latchkey.Challenge) (latchkey.AttemptResult, error)) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		c, err := lockCounter(ctx, tx, appID, subject)
		if err != nil {
			return err
		}
		live, err := lockLiveChallenge(ctx, tx, appID, kind, subject)
		if err != nil {
			return err
		}
		before := c
		result, err := attempt(&c, live)
		if err != nil {
			return err
		}
		c.AppID, c.Subject = appID, subject
		if c != before { // an unchanged counter costs no write
			if _, err := tx.Exec(ctx, "UPDATE attempt_counters SET failures = $1, locked_until = $2 WHERE app_id = $3 AND subject = $4",
				c.Failures, ms(c.LockedUntil), appID, subject); err != nil {
				return translate(err)
			}
		}
		if !result.Consume || live == nil {
			return nil
		}
		if err := affectedOne(tx.Exec(ctx, "UPDATE challenges SET consumed_at = $1 WHERE id = $2 AND consumed_at = 0", ms(now), live.ID)); err != nil {
			return err
		}
		if result.SignIn != nil {
			return signIn(ctx, tx, *result.SignIn)
		}
		return nil
	})
}

// signIn writes a login's user update and new session.
func signIn(ctx context.Context, tx pgx.Tx, in latchkey.SignIn) error {
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

// lockCounter creates the subject's counter if needed, locks it until the
// transaction ends and returns its values. A missing app is a foreign key
// violation, reported as ErrNotFound.
func lockCounter(ctx context.Context, tx pgx.Tx, appID, subject string) (latchkey.AttemptCounter, error) {
	c := latchkey.AttemptCounter{AppID: appID, Subject: subject}
	var locked int64
	err := tx.QueryRow(ctx, `INSERT INTO attempt_counters (app_id, subject) VALUES ($1, $2)
		ON CONFLICT (app_id, subject) DO UPDATE SET failures = attempt_counters.failures
		RETURNING failures, locked_until`, appID, subject).Scan(&c.Failures, &locked)
	if err != nil {
		return c, translate(err)
	}
	c.LockedUntil = fromMS(locked)
	return c, nil
}

// lockLiveChallenge returns the subject's live challenge, locked so that no
// ConsumeChallenge or CreateChallenge changes it while the attempt decides;
// nil when there is none.
func lockLiveChallenge(ctx context.Context, tx pgx.Tx, appID string, kind latchkey.ChallengeKind, subject string) (*latchkey.Challenge, error) {
	ch, err := scanChallenge(tx.QueryRow(ctx, selectLiveChallenge+" FOR UPDATE", appID, string(kind), subject))
	switch {
	case err == nil:
		return &ch, nil
	case errors.Is(err, latchkey.ErrNotFound):
		return nil, nil
	default:
		return nil, err
	}
}

// DeleteExpiredChallenges removes challenges past use and idle counters.
func (s *Store) DeleteExpiredChallenges(ctx context.Context, before time.Time) (int, error) {
	var n int
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		n, err = affected(tx.Exec(ctx,
			"DELETE FROM challenges WHERE expires_at < $1 OR (consumed_at <> 0 AND consumed_at < $1)", ms(before)))
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "DELETE FROM attempt_counters WHERE failures = 0 AND locked_until < $1", ms(before))
		return translate(err)
	})
	return n, err
}
