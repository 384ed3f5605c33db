package postgres

import (
	"context"
	"errors"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/latchkeyhq/latchkey"
)

const challengeColumns = `id, app_id, kind, subject, user_id, channel, destination, code_hash, request_id,
	redirect_uri, state, approval_data, created_at, expires_at, consumed_at`

const selectLiveChallenge = "SELECT " + challengeColumns +
	" FROM challenges WHERE app_id = $1 AND kind = $2 AND subject = $3 AND consumed_at = 0"

// challengeLockClass is the first half of the advisory lock key that sends
// and attempts on one subject take ("LKCH"); the second half hashes the
// app, kind and subject.
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
// adds the new one and queues its message, all in one transaction sent in
// one round trip; with counters to spend, in two: BEGIN with the locks and
// the counters' read, then the counters' writes, the challenge and the
// message with COMMIT (or, when spend refuses, ROLLBACK).
//
// Two sends to one subject at once would otherwise each miss the other's
// uncommitted challenge and one would fail on the one-live-challenge index;
// an advisory lock on the app, kind and subject makes the second wait and
// then invalidate the first, as SQLite's single writer does.
func (s *Store) CreateChallenge(ctx context.Context, c latchkey.Challenge, msg *latchkey.Message, spend *latchkey.CounterUpdate) error {
	if spend == nil {
		return s.inBatch(ctx, func(b *pgx.Batch) {
			queueSubjectLock(b, c.AppID, c.Kind, c.Subject)
			queueChallenge(b, c, msg)
		})
	}
	var r counterRead
	read := func(b *pgx.Batch) {
		queueSubjectLock(b, c.AppID, c.Kind, c.Subject)
		queueCounterRead(b, spend.Keys, &r)
	}
	return s.inPipeline(ctx, read, func(*pgx.Conn) (*pgx.Batch, error) {
		b := &pgx.Batch{}
		if err := r.apply(b, spend.Update); err != nil {
			return nil, err
		}
		queueChallenge(b, c, msg)
		return b, nil
	})
}

// queueChallenge queues the writes of a send: the subject's live challenge
// invalidated, the new one and its message added.
func queueChallenge(b *pgx.Batch, c latchkey.Challenge, msg *latchkey.Message) {
	b.Queue("UPDATE challenges SET consumed_at = $1 WHERE app_id = $2 AND kind = $3 AND subject = $4 AND consumed_at = 0",
		ms(c.CreatedAt), c.AppID, string(c.Kind), c.Subject)
	b.Queue("INSERT INTO challenges ("+challengeColumns+") VALUES ("+placeholders(1, 15)+")",
		c.ID, c.AppID, string(c.Kind), c.Subject, nullIfEmpty(c.UserID), string(c.Channel), c.Destination, c.CodeHash,
		c.RequestID, c.RedirectURI, c.State, rawOrEmpty(c.ApprovalData), ms(c.CreatedAt), ms(c.ExpiresAt), ms(c.ConsumedAt))
	if msg != nil {
		queueMessage(b, *msg)
	}
}

// queueSubjectLock queues the advisory lock that sends and attempts on one
// app, kind and subject take, held until their transaction ends.
func queueSubjectLock(b *pgx.Batch, appID string, kind latchkey.ChallengeKind, subject string) {
	b.Queue("SELECT pg_advisory_xact_lock($1::int4, $2::int4)", int32(challengeLockClass), subjectLockKey(appID, kind, subject))
}

// subjectLockKey hashes an app, kind and subject into the second half of
// the subject's lock key. A collision only makes two unrelated subjects'
// sends and attempts wait for each other.
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
	var consumed, exists bool
	consume := func(b *pgx.Batch) {
		consumed, exists = false, false
		b.Queue("UPDATE challenges SET consumed_at = $1 WHERE id = $2 AND consumed_at = 0", ms(now), id).
			Exec(func(tag pgconn.CommandTag) error {
				consumed = tag.RowsAffected() == 1
				return nil
			})
		b.Queue("SELECT 1 FROM challenges WHERE id = $1", id).QueryRow(func(row pgx.Row) error {
			var one int
			err := row.Scan(&one)
			exists = err == nil
			return ignoreNoRows(err)
		})
	}
	return s.inPipeline(ctx, consume, func(conn *pgx.Conn) (*pgx.Batch, error) {
		switch {
		case !exists:
			return nil, latchkey.ErrNotFound
		case !consumed:
			return nil, latchkey.ErrConflict
		case in == nil:
			return &pgx.Batch{}, nil
		}
		return signIn(ctx, conn, &pgx.Batch{}, *in)
	})
}

// AttemptChallenge runs one attempt in a transaction that holds the
// subject's advisory lock (the one CreateChallenge takes), so attempts on
// one subject, on any node, run one after the other, each seeing the
// failures counted before it. The subject's live challenge is also locked,
// against ConsumeChallenge. The transaction costs two round trips: its
// BEGIN with the reads, then the writes with COMMIT; a sign-in adds one.
func (s *Store) AttemptChallenge(ctx context.Context, appID string, kind latchkey.ChallengeKind, subject string, now time.Time,
	attempt func(*latchkey.AttemptCounter, *latchkey.Challenge) (latchkey.AttemptResult, error)) error {
	var (
		c    latchkey.AttemptCounter
		live *latchkey.Challenge
	)
	read := func(b *pgx.Batch) {
		c, live = latchkey.AttemptCounter{AppID: appID, Subject: subject}, nil
		queueSubjectLock(b, appID, kind, subject)
		b.Queue("SELECT failures, consecutive, lockouts, locked_until FROM attempt_counters WHERE app_id = $1 AND subject = $2",
			appID, subject).QueryRow(func(row pgx.Row) error {
			var locked int64
			err := row.Scan(&c.Failures, &c.Consecutive, &c.Lockouts, &locked)
			c.LockedUntil = fromMS(locked)
			return ignoreNoRows(err)
		})
		b.Queue(selectLiveChallenge+" FOR UPDATE", appID, string(kind), subject).QueryRow(func(row pgx.Row) error {
			ch, err := scanChallenge(row)
			if err == nil {
				live = &ch
			}
			return ignoreNotFound(err)
		})
	}
	return s.inPipeline(ctx, read, func(conn *pgx.Conn) (*pgx.Batch, error) {
		before := c
		result, err := attempt(&c, live)
		if err != nil {
			return nil, err
		}
		c.AppID, c.Subject = appID, subject
		b := &pgx.Batch{}
		if c != before { // an unchanged counter costs no write
			b.Queue(`INSERT INTO attempt_counters (app_id, subject, failures, consecutive, lockouts, locked_until)
				VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (app_id, subject) DO UPDATE SET failures = excluded.failures,
				consecutive = excluded.consecutive, lockouts = excluded.lockouts, locked_until = excluded.locked_until`,
				appID, subject, c.Failures, c.Consecutive, c.Lockouts, ms(c.LockedUntil))
		}
		consume := result.Consume && live != nil
		if consume {
			b.Queue("UPDATE challenges SET consumed_at = $1 WHERE id = $2 AND consumed_at = 0", ms(now), live.ID).
				Exec(func(tag pgconn.CommandTag) error { return affectedOne(tag, nil) })
		}
		if consume && result.SignIn != nil {
			return signIn(ctx, conn, b, *result.SignIn)
		}
		return b, nil
	})
}

// signIn sends the statements in b with the signing-in user's row, read
// for update, and returns the batch of the login's writes (the user's
// update, the new session), for the caller to send with its COMMIT. An
// attempt counter to reset is removed first, under the lock attempts on
// passcodes take (the only kind attempts are made on), before the user's
// row is locked: attempts lock in that order too, so the two cannot
// deadlock.
func signIn(ctx context.Context, q batchSender, b *pgx.Batch, in latchkey.SignIn) (*pgx.Batch, error) {
	if r := in.ResetAttempts; r != nil {
		queueSubjectLock(b, r.AppID, latchkey.KindOTP, r.Subject)
		b.Queue("DELETE FROM attempt_counters WHERE app_id = $1 AND subject = $2", r.AppID, r.Subject)
	}
	var u latchkey.User
	if in.UpdateUser != nil {
		b.Queue(selectUser+"WHERE id = $1 FOR UPDATE", in.UserID).QueryRow(func(row pgx.Row) (err error) {
			u, err = scanUser(row)
			return err
		})
	}
	if err := sendBatch(ctx, q, b); err != nil {
		return nil, err
	}
	writes := &pgx.Batch{}
	if in.UpdateUser != nil {
		if err := in.UpdateUser(&u); err != nil {
			return nil, err
		}
		if _, err := queueUserWrite(writes, in.UserID, u); err != nil {
			return nil, err
		}
	}
	if in.Session.ID != "" {
		row, err := sessionRow(in.Session)
		if err != nil {
			return nil, err
		}
		queueSession(writes, row, in.Refresh)
	}
	return writes, nil
}

// ignoreNoRows treats a missing row as no error, for optional reads.
func ignoreNoRows(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	return err
}

// ignoreNotFound treats ErrNotFound as no error, for optional reads.
func ignoreNotFound(err error) error {
	if errors.Is(err, latchkey.ErrNotFound) {
		return nil
	}
	return err
}

// DeleteExpiredChallenges removes challenges past use and idle counters.
func (s *Store) DeleteExpiredChallenges(ctx context.Context, before time.Time) (int, error) {
	n, err := s.deleteChunked(ctx, "challenges", "expires_at < $1 OR (consumed_at <> 0 AND consumed_at < $1)", ms(before))
	if err != nil {
		return n, err
	}
	_, err = s.pool.Exec(ctx, "DELETE FROM attempt_counters WHERE failures = 0 AND consecutive = 0 AND locked_until < $1", ms(before))
	return n, translate(err)
}
