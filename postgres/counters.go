package postgres

import (
	"context"
	"hash/fnv"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/latchkeyhq/latchkey"
)

// Rate-limit counters. An update of some keys takes a transaction-scoped
// advisory lock per key before it reads them, so concurrent updates of one
// key, on any node, run one after the other and each reads what the one
// before wrote (at READ COMMITTED every statement sees what committed
// before it started). The locks are taken in ascending order of their lock
// keys, so two updates of overlapping key sets always queue in the same
// order and cannot deadlock. A send takes its subject's lock (see
// challenges.go) before its counters' locks, and nothing takes them in the
// other order.

// counterLockClass is the first half of a counter's advisory lock key
// ("LKRC"); the second half hashes the counter's key.
const counterLockClass = 0x4c4b5243

const upsertCounter = `INSERT INTO rate_counters (counter_key, events, count, blocked_until, expires_at) VALUES ($1, $2, $3, $4, $5)
	ON CONFLICT (counter_key) DO UPDATE SET events = excluded.events, count = excluded.count,
	blocked_until = excluded.blocked_until, expires_at = excluded.expires_at`

// counterRead is the state of one counter update between its read and its
// write: the counters as read (and then as update leaves them) and as they
// were.
type counterRead struct {
	keys     []string
	counters []*latchkey.Counter
	before   []latchkey.Counter
}

// queueCounterRead queues the locks of keys, in ascending lock-key order,
// and the read of their counters into r.
func queueCounterRead(b *pgx.Batch, keys []string, r *counterRead) {
	*r = counterRead{keys: keys, counters: make([]*latchkey.Counter, len(keys)), before: make([]latchkey.Counter, len(keys))}
	for i, key := range keys {
		r.counters[i] = &latchkey.Counter{Key: key}
	}
	for _, lock := range counterLocks(keys) {
		b.Queue("SELECT pg_advisory_xact_lock($1::int4, $2::int4)", int32(counterLockClass), lock)
	}
	b.Queue("SELECT counter_key, events, count, blocked_until, expires_at FROM rate_counters WHERE counter_key = ANY($1)", keys).
		Query(func(rows pgx.Rows) error {
			for rows.Next() {
				if err := r.scan(rows); err != nil {
					return err
				}
			}
			return rows.Err()
		})
}

// scan reads one counter row into the counter of its key.
func (r *counterRead) scan(row pgx.Rows) error {
	var (
		key             string
		events          []byte
		count           int
		blocked, expiry int64
	)
	if err := row.Scan(&key, &events, &count, &blocked, &expiry); err != nil {
		return err
	}
	i := slices.Index(r.keys, key)
	if i < 0 {
		return nil // not asked for
	}
	decoded, err := latchkey.DecodeEvents(events)
	if err != nil {
		return err
	}
	*r.counters[i] = latchkey.Counter{Key: key, Events: decoded, Count: count, BlockedUntil: fromMS(blocked), ExpiresAt: fromMS(expiry)}
	return nil
}

// counterLocks returns the distinct lock keys of keys in ascending order.
func counterLocks(keys []string) []int32 {
	locks := make([]int32, 0, len(keys))
	for _, key := range keys {
		h := fnv.New32a()
		h.Write([]byte(key))
		locks = append(locks, int32(h.Sum32()))
	}
	slices.Sort(locks)
	return slices.Compact(locks)
}

// apply runs update on the counters read and queues the writes of those it
// changed into b.
func (r *counterRead) apply(b *pgx.Batch, update func([]*latchkey.Counter) error) error {
	for i, c := range r.counters {
		r.before[i] = *c
	}
	if err := update(r.counters); err != nil {
		return err
	}
	for i, c := range r.counters {
		c.Key = r.keys[i]
		if c.Same(r.before[i]) {
			continue // an unchanged counter costs no write
		}
		b.Queue(upsertCounter, c.Key, latchkey.EncodeEvents(c.Events), c.Count, ms(c.BlockedUntil), ms(c.ExpiresAt))
	}
	return nil
}

// UpdateCounters reads, updates and writes the counters of keys in one
// transaction of two round trips: BEGIN with the locks and the read, then
// the writes with COMMIT.
func (s *Store) UpdateCounters(ctx context.Context, keys []string, update func([]*latchkey.Counter) error) error {
	var r counterRead
	return s.inPipeline(ctx, func(b *pgx.Batch) { queueCounterRead(b, keys, &r) },
		func(*pgx.Conn) (*pgx.Batch, error) {
			b := &pgx.Batch{}
			return b, r.apply(b, update)
		})
}

// BlockedUntil reads the keys' blocked-until times, taking no lock.
func (s *Store) BlockedUntil(ctx context.Context, keys []string) ([]time.Time, error) {
	rows, err := s.pool.Query(ctx, "SELECT counter_key, blocked_until FROM rate_counters WHERE counter_key = ANY($1)", keys)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	out := make([]time.Time, len(keys))
	for rows.Next() {
		var (
			key     string
			blocked int64
		)
		if err := rows.Scan(&key, &blocked); err != nil {
			return nil, translate(err)
		}
		if i := slices.Index(keys, key); i >= 0 {
			out[i] = fromMS(blocked)
		}
	}
	return out, translate(rows.Err())
}

// DeleteExpiredCounters removes counters whose windows have all ended.
func (s *Store) DeleteExpiredCounters(ctx context.Context, before time.Time) (int, error) {
	return s.deleteChunked(ctx, "rate_counters", "expires_at < $1", ms(before))
}
