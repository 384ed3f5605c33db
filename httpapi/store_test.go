package httpapi_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/postgres"
	"github.com/latchkeyhq/latchkey/sqlite"
	_ "modernc.org/sqlite"
)

// postgresURL is set when the HTTP tests should run on PostgreSQL:
// LATCHKEY_TEST_STORE=postgres with LATCHKEY_TEST_POSTGRES_URL. By default
// they run on a SQLite file; CI runs them on both, proving the two stores
// give the same answers to every request.
func postgresURL() string {
	if os.Getenv("LATCHKEY_TEST_STORE") != "postgres" {
		return ""
	}
	return os.Getenv("LATCHKEY_TEST_POSTGRES_URL")
}

// openTestStore opens a fresh, migrated store for one test and returns it
// with its SQLite path or PostgreSQL schema.
func openTestStore(t testing.TB, now time.Time) (latchkey.Store, string) {
	t.Helper()
	ctx := context.Background()
	if os.Getenv("LATCHKEY_TEST_STORE") == "postgres" {
		url := postgresURL()
		if url == "" {
			t.Fatal("LATCHKEY_TEST_STORE=postgres needs LATCHKEY_TEST_POSTGRES_URL")
		}
		b := make([]byte, 6)
		_, _ = rand.Read(b)
		schema := "lk_http_" + hex.EncodeToString(b)
		store, err := postgres.Open(ctx, url, postgres.Options{Schema: schema, MaxConns: 8})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			store.Close()
			if db, err := sql.Open("pgx", url); err == nil {
				db.Exec("DROP SCHEMA " + schema + " CASCADE")
				db.Close()
			}
		})
		if _, err := store.Migrate(ctx, rand.Reader, now); err != nil {
			t.Fatal(err)
		}
		return store, schema
	}
	path := filepath.Join(t.TempDir(), "latchkey.db")
	store, err := sqlite.Open(path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if _, err := store.Migrate(ctx, rand.Reader, now); err != nil {
		t.Fatal(err)
	}
	return store, path
}

// dumpPostgres returns every value of every table of the schema but the
// dev inbox.
func dumpPostgres(t testing.TB, schema string) string {
	t.Helper()
	db, err := sql.Open("pgx", postgresURL())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	return dumpSQL(t, db, "SELECT table_name FROM information_schema.tables WHERE table_schema = '"+schema+
		"' AND table_name <> 'dev_messages'", schema+".")
}
