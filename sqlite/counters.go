package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// Rate-limit counters. The single write connection serialises every update,
// so a counter read and written in one transaction sees every update before
// it, and N concurrent updates of one key are applied one after the other.

const selectCounter = "SELECT events, count, blocked_until, expires_at FROM rate_counters WHERE counter_key = ?"

const upsertCounter = `INSERT INTO rate_counters (counter_key, events, count, blocked_until, expires_at) VALUES (?, ?, ?, ?, ?)
	ON CONFLICT (counter_key) DO UPDATE SET events = excluded.events, count = excluded.count,
	blocked_until = excluded.blocked_until, expires_at = excluded.expires_at`

// UpdateCounters reads, updates and writes the counters of keys in one
// write transaction.
func (s *Store) UpdateCounters(ctx context.Context, keys []string, update func([]*latchkey.Counter) error) error {
	return s.inTx(ctx, func(tx *tx) error {
		return updateCounters(ctx, tx, keys, update)
	})
}

// updateCounters runs one counter update inside tx: reads every key, calls
// update, writes the counters it changed.
func updateCounters(ctx context.Context, tx *tx, keys []string, update func([]*latchkey.Counter) error) error {
	counters := make([]*latchkey.Counter, len(keys))
	before := make([]latchkey.Counter, len(keys))
	for i, key := range keys {
		c, err := readCounter(ctx, tx, key)
		if err != nil {
			return err
		}
		counters[i], before[i] = &c, c
	}
	if err := update(counters); err != nil {
		return err
	}
	for i, c := range counters {
		c.Key = keys[i]
		if c.Same(before[i]) {
			continue // an unchanged counter costs no write
		}
		if _, err := tx.ExecContext(ctx, upsertCounter, c.Key, latchkey.EncodeEvents(c.Events), c.Count,
			ms(c.BlockedUntil), ms(c.ExpiresAt)); err != nil {
			return translate(err)
		}
	}
	return nil
}

// readCounter reads one counter; a key with no row is a zero counter.
func readCounter(ctx context.Context, tx *tx, key string) (latchkey.Counter, error) {
	c := latchkey.Counter{Key: key}
	var (
		events          []byte
		blocked, expiry int64
	)
	err := tx.QueryRowContext(ctx, selectCounter, key).Scan(&events, &c.Count, &blocked, &expiry)
	if errors.Is(err, sql.ErrNoRows) {
		return c, nil
	}
	if err != nil {
		return c, translate(err)
	}
	if c.Events, err = latchkey.DecodeEvents(events); err != nil {
		return c, err
	}
	c.BlockedUntil, c.ExpiresAt = fromMS(blocked), fromMS(expiry)
	return c, nil
}

// BlockedUntil reads the keys' blocked-until times on the write connection,
// whose cache is warm; it takes no write lock.
func (s *Store) BlockedUntil(ctx context.Context, keys []string) ([]time.Time, error) {
	out := make([]time.Time, len(keys))
	for i, key := range keys {
		var blocked int64
		err := s.write.QueryRowContext(ctx, "SELECT blocked_until FROM rate_counters WHERE counter_key = ?", key).Scan(&blocked)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, translate(err)
		}
		out[i] = fromMS(blocked)
	}
	return out, nil
}

// DeleteExpiredCounters removes counters whose windows have all ended.
func (s *Store) DeleteExpiredCounters(ctx context.Context, before time.Time) (int, error) {
	return s.deleteChunked(ctx, "rate_counters", "expires_at < ?", ms(before))
}
