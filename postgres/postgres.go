// Package postgres implements latchkey.Store on PostgreSQL through pgx, for
// deployments that run several Latchkey nodes against one database. It
// behaves exactly like the sqlite package, as the storetest conformance suite
// proves: the same columns and encodings (Unix milliseconds, JSON text, NULL
// for an empty unique value), the same errors and the same orderings.
//
// What SQLite gets from its single write connection, PostgreSQL must get from
// locks, because here many connections on many nodes write at once:
//
//   - Connections come from a pgxpool pool. With Options.Schema every
//     connection starts with that search_path, so one database can hold
//     several independent installations (the tests use a schema per run).
//   - Migrate runs each step in a transaction that first takes a
//     transaction-scoped advisory lock for the schema, so nodes starting
//     together apply each migration, and create the tenant, exactly once.
//   - Every read-modify-write (UpdateApp, UpdateUser, ExtendSession,
//     RotateRefreshToken, a sign-in's user...) reads its row with SELECT ...
//     FOR UPDATE in the transaction that writes it back, so concurrent
//     changes queue up on the row instead of overwriting each other.
//     Single-use changes (consuming a challenge, rotating keys) are
//     conditional UPDATEs whose WHERE clause PostgreSQL re-checks after
//     waiting for a competing writer, so exactly one of them matches.
//   - CreateChallenge and AttemptChallenge take an advisory lock on the
//     app, kind and subject, so concurrent sends to one subject replace
//     each other in turn instead of colliding on the one-live-challenge
//     index, and concurrent attempts each see the failures counted before.
//   - The hot paths (a send, an attempt, a magic link's consumption) send
//     their statements in pipelined batches (inBatch, inPipeline): a login
//     costs six round trips, not one per statement.
//   - ClaimMessages selects due outbox rows FOR UPDATE SKIP LOCKED, so
//     concurrent workers take disjoint batches without waiting on each
//     other.
//
// Transactions run at READ COMMITTED. One that PostgreSQL aborts as a
// deadlock or serialization failure is retried from the start, which is why
// the closures passed to the Update methods may run more than once.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/latchkeyhq/latchkey"
)

// Store is a latchkey.Store on a PostgreSQL database.
type Store struct {
	pool   *pgxpool.Pool
	schema string // Options.Schema; "" for the server's default search_path
}

var _ latchkey.Store = (*Store)(nil)

// defaultMinConns is the smallest default pool. Concurrent transactions
// share PostgreSQL's WAL flushes, and requests waiting for a connection
// cost CPU of their own: on two CPUs, 32 connections served 5-10 % more
// logins a second than 8 or 16, and 64 no more (BENCHMARKS.md).
const defaultMinConns = 32

// Options tune the connection pool.
type Options struct {
	// MaxConns is the pool size. 0 means 4 × GOMAXPROCS, at least
	// defaultMinConns.
	MaxConns int32
	// ConnectTimeout bounds each connection attempt. 0 means the URL's
	// connect_timeout when it sets one, otherwise 5 seconds.
	ConnectTimeout time.Duration
	// Schema, when set, is the search_path of every connection: all of
	// Latchkey's tables live in that schema, which Migrate creates if
	// needed.
	Schema string
}

const defaultConnectTimeout = 5 * time.Second

// Open connects to the database at url (a postgres:// URL or a key=value
// connection string) and checks that it answers. It does not migrate; call
// Migrate before use. An unreachable database gives an error wrapping
// latchkey.ErrUnavailable.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	cfg, err := poolConfig(url, opts)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: open: %w: %w", latchkey.ErrUnavailable, err)
	}
	return &Store{pool: pool, schema: opts.Schema}, nil
}

// poolConfig turns the URL and options into a pool configuration.
func poolConfig(url string, opts Options) (*pgxpool.Config, error) {
	if opts.MaxConns < 0 {
		return nil, fmt.Errorf("postgres: MaxConns must not be negative, got %d", opts.MaxConns)
	}
	if opts.ConnectTimeout < 0 {
		return nil, fmt.Errorf("postgres: ConnectTimeout must not be negative, got %s", opts.ConnectTimeout)
	}
	if strings.ContainsRune(opts.Schema, 0) {
		return nil, errors.New("postgres: schema name contains a NUL byte")
	}
	// pgconn.ParseConfigError redacts any password in the URL.
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse database URL: %w", err)
	}
	cfg.MaxConns = opts.MaxConns
	if cfg.MaxConns == 0 {
		cfg.MaxConns = int32(max(defaultMinConns, 4*runtime.GOMAXPROCS(0)))
	}
	switch {
	case opts.ConnectTimeout > 0:
		cfg.ConnConfig.ConnectTimeout = opts.ConnectTimeout
	case cfg.ConnConfig.ConnectTimeout == 0:
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	cfg.ConnConfig.DialFunc = newDialer().DialContext
	if opts.Schema != "" {
		// A startup parameter costs no extra round trip per connection;
		// the quoted identifier keeps any schema name literal.
		cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{opts.Schema}.Sanitize()
	}
	return cfg, nil
}

// PoolStat returns the connection pool's statistics, for metrics.
func (s *Store) PoolStat() *pgxpool.Stat { return s.pool.Stat() }

// Close closes every connection of the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Ping checks that the database answers. Any failure wraps
// latchkey.ErrUnavailable: whatever the cause, the database cannot be used.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w: %w", latchkey.ErrUnavailable, err)
	}
	return nil
}

// TenantID returns the tenant created by Migrate.
func (s *Store) TenantID(ctx context.Context) (string, error) {
	var id string
	err := s.pool.QueryRow(ctx, "SELECT id FROM tenant LIMIT 1").Scan(&id)
	return id, translate(err)
}

// querier is what the pool and a transaction have in common, so helpers can
// run on either.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// scanner is what pgx.Row and pgx.Rows have in common.
type scanner interface {
	Scan(dest ...any) error
}

// rollbackTimeout bounds the rollback of a failed pipelined transaction.
const rollbackTimeout = 5 * time.Second

// maxTxAttempts bounds the retries of a transaction that PostgreSQL aborted
// to break a deadlock or a serialization conflict.
const maxTxAttempts = 5

// inTx runs fn in a transaction and commits it when fn succeeds. fn's own
// errors are returned as is. A transaction aborted as a deadlock or a
// serialization failure is retried from the start, so fn must only touch
// the database through tx and must be safe to run again.
func (s *Store) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return retry(ctx, func() error { return s.tryTx(ctx, fn) })
}

// tryTx is one attempt of inTx.
func (s *Store) tryTx(ctx context.Context, fn func(pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return translate(err)
	}
	// Rollback after Commit is a no-op; after a failure it ends the
	// transaction (or, if ctx is done, closes the connection).
	defer tx.Rollback(ctx)
	if err := fn(tx); err != nil {
		return err
	}
	return translate(tx.Commit(ctx))
}

// inBatch runs the statements that build queues in one round trip, as one
// implicit transaction: PostgreSQL commits them together when the batch
// ends, or none of them if one fails. It suits a transaction that needs no
// answer from the database before its last statement, and is retried as
// inTx is.
func (s *Store) inBatch(ctx context.Context, build func(*pgx.Batch)) error {
	return retry(ctx, func() error {
		b := &pgx.Batch{}
		build(b)
		return translate(s.pool.SendBatch(ctx, b).Close())
	})
}

// inPipeline runs a transaction in as few round trips as its logic allows,
// for the hot paths: BEGIN travels with the statements first queues (their
// results read by their callbacks), and COMMIT with the batch fn returns.
// In between, fn may send batches of its own on conn. An error from fn or
// from any statement rolls everything back; retried as inTx is.
func (s *Store) inPipeline(ctx context.Context, first func(*pgx.Batch), fn func(conn *pgx.Conn) (*pgx.Batch, error)) error {
	return retry(ctx, func() error {
		pc, err := s.pool.Acquire(ctx)
		if err != nil {
			return translate(err)
		}
		defer pc.Release()
		conn := pc.Conn()
		err = runPipeline(ctx, conn, first, fn)
		if err != nil && conn.PgConn().TxStatus() != 'I' {
			// The transaction is still open (failed, or never told to
			// end): roll it back, or drop a connection that cannot. The
			// caller's context may have ended, which is why it failed; the
			// rollback gets a deadline of its own, so that a server gone
			// silent cannot hold it.
			rbCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
			if _, rbErr := conn.Exec(rbCtx, "ROLLBACK"); rbErr != nil {
				_ = conn.Close(rbCtx)
			}
			cancel()
		}
		return err
	})
}

// runPipeline is one attempt of inPipeline, leaving any open transaction to
// its caller.
func runPipeline(ctx context.Context, conn *pgx.Conn, first func(*pgx.Batch), fn func(conn *pgx.Conn) (*pgx.Batch, error)) error {
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	first(b)
	if err := sendBatch(ctx, conn, b); err != nil {
		return err
	}
	last, err := fn(conn)
	if err != nil {
		return err
	}
	last.Queue("COMMIT").Exec(func(tag pgconn.CommandTag) error {
		if tag.String() == "ROLLBACK" { // the transaction had failed
			return pgx.ErrTxCommitRollback
		}
		return nil
	})
	return sendBatch(ctx, conn, last)
}

// batchSender is what a transaction and a connection have in common for
// sending batches.
type batchSender interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// sendBatch sends b's statements on q in one round trip and reads every
// result; the first error is returned.
func sendBatch(ctx context.Context, q batchSender, b *pgx.Batch) error {
	if b.Len() == 0 {
		return nil
	}
	return translate(q.SendBatch(ctx, b).Close())
}

// retry runs once again when PostgreSQL aborted its transaction as a
// deadlock or a serialization failure, up to maxTxAttempts in all.
func retry(ctx context.Context, once func() error) error {
	for attempt := 1; ; attempt++ {
		err := once()
		if attempt < maxTxAttempts && retryable(err) && ctx.Err() == nil {
			continue
		}
		return err
	}
}

// retryable reports whether PostgreSQL aborted the transaction only because
// of its timing with another: a serialization failure or a deadlock.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	return pgErr.Code == "40001" || pgErr.Code == "40P01"
}

// purgeChunk bounds the rows one purge statement deletes, so that a purge
// after a busy minute (a hundred thousand used codes) is a series of short
// transactions, not one long one with a burst of WAL.
const purgeChunk = 500

// deleteChunked deletes the rows of table matching where, at most
// purgeChunk at a time, and returns how many it deleted. Each chunk is
// its own statement and transaction.
func (s *Store) deleteChunked(ctx context.Context, table, where string, args ...any) (int, error) {
	query := "DELETE FROM " + table + " WHERE ctid = ANY (ARRAY(SELECT ctid FROM " + table + " WHERE " + where +
		" LIMIT " + strconv.Itoa(purgeChunk) + "))"
	total := 0
	for {
		n, err := affected(s.pool.Exec(ctx, query, args...))
		total += n
		if err != nil || n < purgeChunk {
			return total, err
		}
	}
}

// translate maps driver errors onto the store sentinels, keeping the driver
// error in the chain: no rows is ErrNotFound, a unique violation is
// ErrConflict, a foreign key violation (the row referred to is missing) is
// ErrNotFound, and a database that cannot be reached, is shutting down, is
// out of resources or did not answer before the caller's deadline is
// ErrUnavailable. A context the caller cancelled is not the database's
// fault and stays a plain error.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("postgres: %w: %w", latchkey.ErrNotFound, err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "23505": // unique_violation
			return fmt.Errorf("postgres: %w: %w", latchkey.ErrConflict, err)
		case pgErr.Code == "23503": // foreign_key_violation
			return fmt.Errorf("postgres: %w: %w", latchkey.ErrNotFound, err)
		case unavailableState(pgErr.Code):
			return fmt.Errorf("postgres: %w: %w", latchkey.ErrUnavailable, err)
		}
		return fmt.Errorf("postgres: %w", err)
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("postgres: %w", err)
	}
	if errors.Is(err, context.DeadlineExceeded) || connectionFailure(err) {
		return fmt.Errorf("postgres: %w: %w", latchkey.ErrUnavailable, err)
	}
	return fmt.Errorf("postgres: %w", err)
}

// unavailableState reports whether a SQLSTATE says the server cannot serve
// the request right now: class 08 (connection exception), 57P (operator
// intervention: shutdown, crash recovery, cannot connect now) and 53
// (insufficient resources: disk full, out of memory, too many connections).
func unavailableState(code string) bool {
	return strings.HasPrefix(code, "08") || strings.HasPrefix(code, "57P") || strings.HasPrefix(code, "53")
}

// connectionFailure reports whether err means the server could not be
// reached or the connection broke: a failed connect (including one that ran
// out of time), an error pgconn raised before sending anything, or a
// network error.
func connectionFailure(err error) bool {
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) ||
		pgconn.SafeToRetry(err) ||
		errors.As(err, &netErr) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, io.EOF)
}

// affectedOne returns ErrNotFound unless the statement changed exactly one
// row.
func affectedOne(tag pgconn.CommandTag, err error) error {
	if err != nil {
		return translate(err)
	}
	if tag.RowsAffected() != 1 {
		return latchkey.ErrNotFound
	}
	return nil
}

// affected returns how many rows the statement changed.
func affected(tag pgconn.CommandTag, err error) (int, error) {
	if err != nil {
		return 0, translate(err)
	}
	return int(tag.RowsAffected()), nil
}
