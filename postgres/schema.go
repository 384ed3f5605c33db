package postgres

import (
	"context"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// Migrations lists the database's migrations: every one this build
// embeds, applied or pending, then any the database records that this
// build does not know. It changes nothing, even on a database never
// migrated.
func (s *Store) Migrations(ctx context.Context) ([]latchkey.Migration, error) {
	files, err := migrationFiles()
	if err != nil {
		return nil, err
	}
	applied, err := s.appliedMigrations(ctx)
	if err != nil {
		return nil, err
	}
	embedded := make([]latchkey.Migration, len(files))
	for i, f := range files {
		embedded[i] = latchkey.Migration{Version: f.version, Name: f.name}
	}
	return latchkey.MergeMigrations(embedded, applied), nil
}

// appliedMigrations returns when each recorded migration was applied;
// none on a database (or schema) without the record.
func (s *Store) appliedMigrations(ctx context.Context) (map[int]time.Time, error) {
	applied := map[int]time.Time{}
	var exists bool
	if err := s.pool.QueryRow(ctx, "SELECT to_regclass('schema_migrations') IS NOT NULL").Scan(&exists); err != nil {
		return nil, translate(err)
	}
	if !exists {
		return applied, nil
	}
	rows, err := s.pool.Query(ctx, "SELECT version, applied_at FROM schema_migrations")
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	for rows.Next() {
		var version int
		var at int64
		if err := rows.Scan(&version, &at); err != nil {
			return nil, translate(err)
		}
		applied[version] = latchkey.FromMillis(at)
	}
	return applied, translate(rows.Err())
}
