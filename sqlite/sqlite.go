// Package sqlite implements latchkey.Store on an embedded SQLite database
// through the pure-Go modernc.org/sqlite driver, so the binary needs no cgo.
//
// The database runs in WAL mode with foreign keys on. Writes go through a
// single connection, so SQLite never has to arbitrate between writers and a
// conditional update (a code consumed once, a counter incremented) is
// serialised by construction. Concurrent write transactions are committed
// in groups (batch.go), and every statement is prepared once
// (prepared.go). Point reads share the write connection, whose page cache
// stays warm; listings use a separate pool of connections that WAL lets run
// beside the writer. The schema is a series of numbered SQL files embedded
// in the binary and applied in order by Migrate.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/secrets"
	sqlite3 "modernc.org/sqlite"
	sqlite3lib "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is a latchkey.Store on one SQLite file.
type Store struct {
	// write is the one connection that writes, and also serves point
	// reads: its page cache stays warm, while any other connection must
	// drop its cache after every write another connection commits.
	write *pool
	// read is a pool for listings, which may take a while and should not
	// hold up logins on the write connection.
	read  *pool
	batch *batcher // commits the write transactions in groups
	path  string

	stopCheckpoints chan struct{}
	checkpointsDone chan struct{}
	closeOnce       sync.Once
}

// checkpointInterval is how often the WAL is copied back into the
// database file. At the peak a login adds about ten pages to the WAL; in
// 50 ms that stays well under the writer's own threshold (walSafetyPages).
const checkpointInterval = 50 * time.Millisecond

// walSafetyPages is the WAL size at which the writer checkpoints itself:
// only when checkpointLoop falls behind, since a checkpoint on the writer
// stalls every write behind it (fsyncs included).
const walSafetyPages = 16384

// checkpointLoop copies the WAL back into the database file from a reading
// connection, which SQLite lets run while the writer goes on (a PASSIVE
// checkpoint never blocks it), so the write path never pauses for it.
func (s *Store) checkpointLoop() {
	defer close(s.checkpointsDone)
	tick := time.NewTicker(checkpointInterval)
	defer tick.Stop()
	for {
		select {
		case <-s.stopCheckpoints:
			return
		case <-tick.C:
			_, _ = s.read.DB.ExecContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)")
		}
	}
}

var _ latchkey.Store = (*Store)(nil)

// PoolStats returns the statistics of the writing connection and of the
// pool of reading connections, for metrics.
func (s *Store) PoolStats() (write, read sql.DBStats) { return s.write.Stats(), s.read.Stats() }

// Options tune how the database file is opened.
type Options struct {
	// Synchronous is SQLite's synchronous pragma: "NORMAL" (the default)
	// keeps every committed write across a killed process; "FULL" also
	// keeps it across a power loss, at the cost of an fsync per commit.
	Synchronous string
}

// Open opens (creating if needed) the SQLite database at path. It does not
// migrate; call Migrate before use.
func Open(path string, opts Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	sync := strings.ToUpper(opts.Synchronous)
	if sync == "" {
		sync = "NORMAL"
	}
	if sync != "NORMAL" && sync != "FULL" {
		return nil, fmt.Errorf("sqlite: synchronous must be NORMAL or FULL, got %q", opts.Synchronous)
	}
	if err := createPrivate(path); err != nil {
		return nil, fmt.Errorf("sqlite: create %s: %w", path, err)
	}
	write, err := sql.Open("sqlite", dataSourceName(path, sync, writeCacheKB))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetConnMaxIdleTime(0)
	read, err := sql.Open("sqlite", dataSourceName(path, sync, readCacheKB))
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	read.SetMaxOpenConns(max(4, runtime.GOMAXPROCS(0)*2))
	read.SetMaxIdleConns(max(4, runtime.GOMAXPROCS(0)*2))
	s := &Store{write: newPool(write), read: newPool(read), path: path}
	s.batch = newBatcher(s.write)
	s.stopCheckpoints = make(chan struct{})
	s.checkpointsDone = make(chan struct{})
	go s.checkpointLoop()
	if err := s.Ping(context.Background()); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	return s, nil
}

// createPrivate creates the database file readable by its owner only, if it
// does not exist yet: it holds hashes and sealed keys.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return f.Close()
}

// Page cache sizes. The write connection serves every write and point read,
// so its cache holds the hot part of the database (the user indexes of a
// million users fit); the listing connections start cold after each write
// anyway and need little.
const (
	writeCacheKB = 16 << 10
	readCacheKB  = 4 << 10
)

// dataSourceName builds the driver DSN: WAL, foreign keys, a busy timeout for
// the rare reader that meets a checkpoint, BEGIN IMMEDIATE so that a
// transaction takes the write lock up front instead of failing to upgrade,
// and secure_delete, so that what is deleted or overwritten (an erased
// message, a purged code hash, a deleted user's addresses) is zeroed in
// its page instead of lingering in free space for anyone who copies the
// file.
func dataSourceName(path, sync string, cacheKB int) string {
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "secure_delete(1)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "synchronous("+sync+")")
	q.Add("_pragma", "cache_size(-"+strconv.Itoa(cacheKB)+")")
	// checkpointLoop keeps the WAL short; the writer checkpoints only as a
	// safety net, past walSafetyPages (64 MB).
	q.Add("_pragma", "wal_autocheckpoint("+strconv.Itoa(walSafetyPages)+")")
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode()
}

// Close closes both connection pools.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.stopCheckpoints)
		<-s.checkpointsDone
	})
	s.batch.close()
	return errors.Join(s.write.Close(), s.read.Close())
}

// Ping checks that the database file can be read.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.read.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("%w: %v", latchkey.ErrUnavailable, err)
	}
	return nil
}

// Migrate applies every embedded migration not yet applied, each in its own
// transaction, and creates the tenant on a new database. It returns the
// versions it applied. A database migrated by a newer build is refused
// with a *latchkey.SchemaTooNewError, before anything changes.
func (s *Store) Migrate(ctx context.Context, rand io.Reader, now time.Time) ([]int, error) {
	if _, err := s.write.DB.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return nil, fmt.Errorf("sqlite: migrate: %w", err)
	}
	files, err := migrationFiles()
	if err != nil {
		return nil, err
	}
	list, err := s.Migrations(ctx)
	if err != nil {
		return nil, err
	}
	if err := latchkey.CheckSchema(list); err != nil {
		return nil, err
	}
	var applied []int
	for _, f := range files {
		done, err := s.applyMigration(ctx, f, now)
		if err != nil {
			return applied, err
		}
		if done {
			applied = append(applied, f.version)
		}
	}
	return applied, s.ensureTenant(ctx, rand, now)
}

type migrationFile struct {
	version int
	name    string
	sql     string
}

func migrationFiles() ([]migrationFile, error) {
	entries, err := fs.ReadDir(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("sqlite: read migrations: %w", err)
	}
	var files []migrationFile
	for _, e := range entries {
		prefix, _, ok := strings.Cut(e.Name(), "_")
		version, err := strconv.Atoi(prefix)
		if !ok || err != nil {
			return nil, fmt.Errorf("sqlite: migration %s: name must start with a number and _", e.Name())
		}
		body, err := migrations.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, fmt.Errorf("sqlite: read migration %s: %w", e.Name(), err)
		}
		files = append(files, migrationFile{version: version, name: e.Name(), sql: string(body)})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].version < files[j].version })
	return files, nil
}

// applyMigration runs one migration unless it is recorded as applied.
func (s *Store) applyMigration(ctx context.Context, f migrationFile, now time.Time) (bool, error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("sqlite: migration %s: %w", f.name, err)
	}
	defer tx.Rollback()
	var exists int
	err = tx.QueryRowContext(ctx, "SELECT 1 FROM schema_migrations WHERE version = ?", f.version).Scan(&exists)
	if err == nil {
		return false, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("sqlite: migration %s: %w", f.name, err)
	}
	if _, err := tx.Tx.ExecContext(ctx, f.sql); err != nil { // a script of several statements: not prepared
		return false, fmt.Errorf("sqlite: migration %s: %w", f.name, err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
		f.version, latchkey.Millis(now)); err != nil {
		return false, fmt.Errorf("sqlite: migration %s: %w", f.name, err)
	}
	return true, tx.Commit()
}

func (s *Store) ensureTenant(ctx context.Context, rand io.Reader, now time.Time) error {
	id, err := secrets.NewID(rand)
	if err != nil {
		return err
	}
	if _, err := s.write.ExecContext(ctx,
		"INSERT INTO tenant (id, created_at) SELECT ?, ? WHERE NOT EXISTS (SELECT 1 FROM tenant)",
		id, latchkey.Millis(now)); err != nil {
		return fmt.Errorf("sqlite: create tenant: %w", err)
	}
	return nil
}

// QueryPragma reads one PRAGMA value, for checks of the database settings.
func (s *Store) QueryPragma(ctx context.Context, name string, dest any) error {
	if !validPragma.MatchString(name) {
		return fmt.Errorf("sqlite: invalid pragma name %q", name)
	}
	return s.write.DB.QueryRowContext(ctx, "PRAGMA "+name).Scan(dest)
}

var validPragma = regexp.MustCompile(`^[a-z_]+$`)

// TenantID returns the tenant created by Migrate.
func (s *Store) TenantID(ctx context.Context) (string, error) {
	var id string
	err := s.write.QueryRowContext(ctx, "SELECT id FROM tenant LIMIT 1").Scan(&id)
	return id, translate(err)
}

// inTx runs fn in a write transaction and commits it when fn succeeds.
// Concurrent calls are committed together (see batch.go).
func (s *Store) inTx(ctx context.Context, fn func(*tx) error) error {
	return s.batch.do(ctx, fn)
}

// purgeChunk bounds the rows one purge transaction deletes. A purge after a
// busy minute has a hundred thousand used codes to remove; in one
// transaction that held the single writer, and every login behind it, for
// most of a second.
const purgeChunk = 500

// deleteChunked deletes the rows of table matching where, at most
// purgeChunk at a time, each chunk in its own write transaction so that
// logins go on between them, and returns how many it deleted.
func (s *Store) deleteChunked(ctx context.Context, table, where string, args ...any) (int, error) {
	query := "DELETE FROM " + table + " WHERE rowid IN (SELECT rowid FROM " + table + " WHERE " + where +
		" LIMIT " + strconv.Itoa(purgeChunk) + ")"
	total := 0
	for {
		var n int64
		err := s.inTx(ctx, func(tx *tx) error {
			res, err := tx.ExecContext(ctx, query, args...)
			if err != nil {
				return translate(err)
			}
			n, err = res.RowsAffected()
			return translate(err)
		})
		total += int(n)
		if err != nil || n < purgeChunk {
			return total, err
		}
	}
}

// translate maps driver errors onto the store sentinels: no rows is
// ErrNotFound, a unique or primary key violation is ErrConflict, and a
// database that cannot be opened, is locked or did not answer before the
// caller's deadline is ErrUnavailable.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return latchkey.ErrNotFound
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", latchkey.ErrUnavailable, err)
	}
	var serr *sqlite3.Error
	if errors.As(err, &serr) {
		switch serr.Code() {
		case sqlite3lib.SQLITE_CONSTRAINT_UNIQUE, sqlite3lib.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %v", latchkey.ErrConflict, err)
		case sqlite3lib.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("%w: %v", latchkey.ErrNotFound, err)
		}
		switch serr.Code() & 0xff {
		case sqlite3lib.SQLITE_BUSY, sqlite3lib.SQLITE_LOCKED, sqlite3lib.SQLITE_CANTOPEN,
			sqlite3lib.SQLITE_IOERR, sqlite3lib.SQLITE_FULL, sqlite3lib.SQLITE_READONLY:
			return fmt.Errorf("%w: %v", latchkey.ErrUnavailable, err)
		}
	}
	return err
}

// affectedOne returns ErrNotFound unless res changed exactly one row.
func affectedOne(res sql.Result, err error) error {
	if err != nil {
		return translate(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return translate(err)
	}
	if n != 1 {
		return latchkey.ErrNotFound
	}
	return nil
}
