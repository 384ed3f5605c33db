package sqlite_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/sqlite"
	"github.com/latchkeyhq/latchkey/storetest"
)

// mustOpen opens a migrated store on a fresh file in the test's directory.
func mustOpen(t *testing.T) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "latchkey.db"), sqlite.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(context.Background(), rand.Reader, time.Now()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) latchkey.Store { return mustOpen(t) })
}

func TestMigrations(t *testing.T) {
	storetest.RunMigrations(t, func(t *testing.T) (storetest.Migrator, func(int)) {
		path := filepath.Join(t.TempDir(), "latchkey.db")
		s, err := sqlite.Open(path, sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		record := func(version int) {
			db, err := sql.Open("sqlite", "file:"+path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)", version, time.Now().UnixMilli()); err != nil {
				t.Fatal(err)
			}
		}
		return s, record
	})
}

func TestFileSettings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "settings.db")
	s, err := sqlite.Open(path, sqlite.Options{Synchronous: "FULL"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("database file mode %v, %v; want 0600", info.Mode().Perm(), err)
	}
	pragmas := map[string]string{"journal_mode": "wal", "foreign_keys": "1", "synchronous": "2", "wal_autocheckpoint": "16384",
		"secure_delete": "1"}
	for name, want := range pragmas {
		var got string
		if err := s.QueryPragma(context.Background(), name, &got); err != nil || got != want {
			t.Errorf("PRAGMA %s = %q, %v; want %q", name, got, err, want)
		}
	}
	if _, err := sqlite.Open(filepath.Join(t.TempDir(), "x.db"), sqlite.Options{Synchronous: "OFF"}); err == nil {
		t.Error("Open accepted synchronous=OFF")
	}
}

// TestDeletedContentIsOverwritten deletes a row and reads the database
// file once the store is closed (which checkpoints the WAL into it): the
// deleted text is gone from the file, not left in free space.
func TestDeletedContentIsOverwritten(t *testing.T) {
	path := filepath.Join(t.TempDir(), "deleted.db")
	s, err := sqlite.Open(path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.Migrate(ctx, rand.Reader, time.Now()); err != nil {
		t.Fatal(err)
	}
	const marker = "deleted-text-3f9c2e71"
	for i := range 50 {
		m := latchkey.DevMessage{ID: "m" + strconv.Itoa(i), AppID: "a", Channel: latchkey.ChannelEmail, To: "x@example.com",
			Text: marker, CreatedAt: time.UnixMilli(1)}
		if err := s.AddDevMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.DeleteDevMessages(ctx, time.UnixMilli(2)); err != nil || n != 50 {
		t.Fatalf("DeleteDevMessages = %d, %v", n, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(marker)) {
		t.Fatal("deleted text is still in the database file")
	}
}

func TestMigrateIsIdempotent(t *testing.T) {
	s := mustOpen(t)
	ctx := context.Background()
	tenant, err := s.TenantID(ctx)
	if err != nil || tenant == "" {
		t.Fatalf("TenantID after the first Migrate = %q, %v; want a tenant", tenant, err)
	}
	applied, err := s.Migrate(ctx, rand.Reader, time.Now())
	if err != nil || len(applied) != 0 {
		t.Fatalf("second Migrate applied %v, %v; want nothing", applied, err)
	}
	if again, err := s.TenantID(ctx); err != nil || again != tenant {
		t.Fatalf("tenant changed from %q to %q on re-migration", tenant, again)
	}
}

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) latchkey.Store {
		s, err := sqlite.Open(filepath.Join(b.TempDir(), "bench.db"), sqlite.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		if _, err := s.Migrate(context.Background(), rand.Reader, time.Now()); err != nil {
			b.Fatal(err)
		}
		return s
	})
}

// TestAppsBeforeLimitsGetDefaults checks that an app written before the
// limits existed (a row with none of their columns) reads back with the
// default limits: the migration's column defaults are DefaultLimits.
func TestAppsBeforeLimitsGetDefaults(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	s, err := sqlite.Open(path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Migrate(ctx, rand.Reader, time.Now()); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`INSERT INTO apps (id, name, client_id, secret_hash, otp_length, otp_expiry_ms, max_failures, lockout_ms,
		magic_link_expiry_ms, access_token_ttl_ms, id_token_ttl_ms, refresh_token_ttl_ms, session_ttl_ms, secret_rotated_at, created_at, updated_at)
		VALUES ('old', 'Old', 'old-client', x'01', 6, 300000, 3, 900000, 900000, 3600000, 3600000, 3600000, 3600000, 1, 1, 1)`); err != nil {
		t.Fatal(err)
	}
	app, err := s.GetApp(ctx, "old")
	if err != nil {
		t.Fatal(err)
	}
	want := latchkey.DefaultLimits()
	want.SMSCountries, want.TestIdentifiers = []string{}, []latchkey.TestIdentifier{}
	if !reflect.DeepEqual(app.Limits, want) {
		t.Fatalf("limits of an app from before the migration = %+v; want the defaults %+v", app.Limits, want)
	}
}
