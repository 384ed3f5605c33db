package postgres

import (
	"context"
	"embed"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/secrets"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLockClass is the first half of the two-part advisory lock key
// that Migrate takes ("LKMG"), so it cannot collide with another
// application's single-key locks; the second half names the schema.
const migrationLockClass = 0x4c4b4d47

// Migrate applies every embedded migration not yet applied, each in its own
// transaction, and creates the tenant on a new database. It returns the
// versions it applied.
//
// A database migrated by a newer build is refused with a
// *latchkey.SchemaTooNewError, before anything changes.
//
// Several nodes may call it at once: every step runs under a
// transaction-scoped advisory lock for the schema and first re-reads what
// is already done, so each migration is applied, and the tenant created,
// exactly once, and a node that waited applies nothing.
func (s *Store) Migrate(ctx context.Context, rand io.Reader, now time.Time) ([]int, error) {
	files, err := migrationFiles()
	if err != nil {
		return nil, err
	}
	if err := s.locked(ctx, s.prepareSchema); err != nil {
		return nil, fmt.Errorf("postgres: migrate: %w", err)
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

// locked runs fn in a transaction that holds the schema's migration lock.
// The lock is released when the transaction ends, however it ends, so a
// crashed node never leaves it behind.
func (s *Store) locked(ctx context.Context, fn func(context.Context, pgx.Tx) error) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1::int4, $2::int4)",
			int32(migrationLockClass), schemaLockKey(s.schema)); err != nil {
			return translate(err)
		}
		return fn(ctx, tx)
	})
}

// schemaLockKey is the second half of the migration lock key: a hash of the
// schema name. Two schemas that share a hash merely migrate one after the
// other.
func schemaLockKey(schema string) int32 {
	h := fnv.New32a()
	h.Write([]byte(schema))
	return int32(h.Sum32())
}

// prepareSchema creates the schema (when Options.Schema names one that does
// not exist yet) and the table that records applied migrations. It looks
// before creating because CREATE SCHEMA IF NOT EXISTS still demands the
// CREATE privilege on the database.
func (s *Store) prepareSchema(ctx context.Context, tx pgx.Tx) error {
	if s.schema != "" {
		var exists bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)",
			s.schema).Scan(&exists); err != nil {
			return translate(err)
		}
		if !exists {
			if _, err := tx.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{s.schema}.Sanitize()); err != nil {
				return translate(err)
			}
		}
	}
	_, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`)
	return translate(err)
}

// migrationFile is one embedded migration.
type migrationFile struct {
	version int
	name    string
	sql     string
}

// migrationFiles returns the embedded migrations in version order.
func migrationFiles() ([]migrationFile, error) {
	entries, err := fs.ReadDir(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("postgres: read migrations: %w", err)
	}
	var files []migrationFile
	for _, e := range entries {
		prefix, _, ok := strings.Cut(e.Name(), "_")
		version, err := strconv.Atoi(prefix)
		if !ok || err != nil {
			return nil, fmt.Errorf("postgres: migration %s: name must start with a number and _", e.Name())
		}
		body, err := migrations.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, fmt.Errorf("postgres: read migration %s: %w", e.Name(), err)
		}
		files = append(files, migrationFile{version: version, name: e.Name(), sql: string(body)})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].version < files[j].version })
	return files, nil
}

// applyMigration runs one migration unless it is recorded as applied.
// PostgreSQL's DDL is transactional, so a migration that fails leaves no
// trace and is tried again by the next Migrate.
func (s *Store) applyMigration(ctx context.Context, f migrationFile, now time.Time) (bool, error) {
	var done bool
	err := s.locked(ctx, func(ctx context.Context, tx pgx.Tx) error {
		done = false
		var exists bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)",
			f.version).Scan(&exists); err != nil {
			return translate(err)
		}
		if exists {
			return nil
		}
		// Without arguments pgx uses the simple protocol, which runs a
		// file of several statements in one call.
		if _, err := tx.Exec(ctx, f.sql); err != nil {
			return translate(err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
			f.version, latchkey.Millis(now)); err != nil {
			return translate(err)
		}
		done = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("postgres: migration %s: %w", f.name, err)
	}
	return done, nil
}

// ensureTenant creates the tenant row on a new database. It runs under the
// migration lock because two nodes could otherwise both see no tenant and
// both insert one.
func (s *Store) ensureTenant(ctx context.Context, rand io.Reader, now time.Time) error {
	id, err := secrets.NewID(rand)
	if err != nil {
		return err
	}
	err = s.locked(ctx, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx,
			"INSERT INTO tenant (id, created_at) SELECT $1::text, $2::bigint WHERE NOT EXISTS (SELECT 1 FROM tenant)",
			id, latchkey.Millis(now))
		return translate(err)
	})
	if err != nil {
		return fmt.Errorf("postgres: create tenant: %w", err)
	}
	return nil
}
