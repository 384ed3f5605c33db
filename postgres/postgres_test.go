package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/postgres"
	"github.com/latchkeyhq/latchkey/storetest"
)

// urlEnv names the variable that points the tests at a PostgreSQL server,
// e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
const urlEnv = "LATCHKEY_TEST_POSTGRES_URL"

// testURL returns the test server's URL, or skips the test without one.
func testURL(t testing.TB) string {
	t.Helper()
	url := os.Getenv(urlEnv)
	if url == "" {
		t.Skip("PostgreSQL tests skipped: set " + urlEnv + "=postgres://... to run them")
	}
	return url
}

// adminPool opens a plain pool on the test database, for creating and
// dropping schemas and for looking behind the Store's back.
func adminPool(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatalf("admin pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// schemaName returns a new random schema name and arranges for the schema
// (if anything created it) to be dropped when the test ends, so runs never
// collide and leave nothing behind.
func schemaName(t testing.TB, admin *pgxpool.Pool) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	name := "lk_test_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		if _, err := admin.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", name, err)
		}
	})
	return name
}

// createSchema makes a fresh empty schema for one test.
func createSchema(t testing.TB, admin *pgxpool.Pool) string {
	t.Helper()
	name := schemaName(t, admin)
	if _, err := admin.Exec(context.Background(), "CREATE SCHEMA "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("create schema %s: %v", name, err)
	}
	return name
}

// openStore opens a Store on schema, closed when the test ends (before the
// schema is dropped: cleanups run last first).
func openStore(t testing.TB, url, schema string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), url, postgres.Options{Schema: schema})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// mustOpen opens a migrated store on a fresh schema.
func mustOpen(t testing.TB, url string, admin *pgxpool.Pool) *postgres.Store {
	t.Helper()
	s := openStore(t, url, createSchema(t, admin))
	if _, err := s.Migrate(context.Background(), rand.Reader, time.Now()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	url := testURL(t)
	admin := adminPool(t, url)
	storetest.Run(t, func(t *testing.T) latchkey.Store { return mustOpen(t, url, admin) })
}

func TestMigrations(t *testing.T) {
	url := testURL(t)
	admin := adminPool(t, url)
	storetest.RunMigrations(t, func(t *testing.T) (storetest.Migrator, func(int)) {
		schema := createSchema(t, admin)
		record := func(version int) {
			_, err := admin.Exec(context.Background(), "INSERT INTO "+pgx.Identifier{schema, "schema_migrations"}.Sanitize()+
				" (version, applied_at) VALUES ($1, $2)", version, time.Now().UnixMilli())
			if err != nil {
				t.Fatal(err)
			}
		}
		return openStore(t, url, schema), record
	})
}

func TestMigrateIsIdempotent(t *testing.T) {
	url := testURL(t)
	s := mustOpen(t, url, adminPool(t, url))
	ctx := context.Background()
	tenant, err := s.TenantID(ctx)
	if err != nil || tenant == "" {
		t.Fatalf("TenantID = %q, %v; want an ID", tenant, err)
	}
	applied, err := s.Migrate(ctx, rand.Reader, time.Now())
	if err != nil || len(applied) != 0 {
		t.Fatalf("second Migrate applied %v, %v; want nothing", applied, err)
	}
	if again, _ := s.TenantID(ctx); again != tenant {
		t.Fatalf("tenant changed from %q to %q on re-migration", tenant, again)
	}
}

// TestConcurrentMigrate starts eight nodes on one new schema at once: the
// advisory lock must let each migration, and the tenant, happen once.
func TestConcurrentMigrate(t *testing.T) {
	url := testURL(t)
	admin := adminPool(t, url)
	schema := schemaName(t, admin) // not created: Migrate must create it
	const nodes = 8
	stores := make([]*postgres.Store, nodes)
	for i := range stores {
		stores[i] = openStore(t, url, schema)
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		applied []int
		start   = make(chan struct{})
	)
	for _, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			versions, err := s.Migrate(context.Background(), rand.Reader, time.Now())
			if err != nil {
				t.Errorf("concurrent Migrate: %v", err)
			}
			mu.Lock()
			applied = append(applied, versions...)
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	if t.Failed() {
		return
	}
	slices.Sort(applied)
	want := migrationVersions(t)
	if !slices.Equal(applied, want) {
		t.Fatalf("the nodes applied %v between them; want each of %v once", applied, want)
	}
	ctx := context.Background()
	q := pgx.Identifier{schema}.Sanitize()
	var migrations, tenants int
	if err := admin.QueryRow(ctx, "SELECT COUNT(*) FROM "+q+".schema_migrations").Scan(&migrations); err != nil || migrations != len(want) {
		t.Fatalf("schema_migrations holds %d rows, %v; want %d", migrations, err, len(want))
	}
	if err := admin.QueryRow(ctx, "SELECT COUNT(*) FROM "+q+".tenant").Scan(&tenants); err != nil || tenants != 1 {
		t.Fatalf("tenant holds %d rows, %v; want 1", tenants, err)
	}
	first, _ := stores[0].TenantID(ctx)
	for _, s := range stores {
		if id, err := s.TenantID(ctx); err != nil || id != first {
			t.Fatalf("TenantID = %q, %v; want every node to see %q", id, err, first)
		}
	}
}

// TestSchemaIsolation checks that two stores on two schemas of one database
// see only their own rows.
func TestSchemaIsolation(t *testing.T) {
	url := testURL(t)
	admin := adminPool(t, url)
	a, b := mustOpen(t, url, admin), mustOpen(t, url, admin)
	ctx := context.Background()
	idA, _ := a.TenantID(ctx)
	idB, _ := b.TenantID(ctx)
	if idA == "" || idA == idB {
		t.Fatalf("tenants %q and %q; want two distinct tenants", idA, idB)
	}
	app := latchkey.App{ID: "app1", Name: "A", ClientID: "client1", SecretHash: []byte{1}, Policy: latchkey.DefaultLoginPolicy()}
	if err := a.CreateApp(ctx, app); err != nil {
		t.Fatalf("CreateApp: %v", err)
	}
	if _, err := b.GetApp(ctx, app.ID); !errors.Is(err, latchkey.ErrNotFound) {
		t.Fatalf("GetApp in the other schema: %v; want ErrNotFound", err)
	}
	if err := b.CreateApp(ctx, app); err != nil {
		t.Fatalf("CreateApp of the same app in the other schema: %v", err)
	}
}

// TestUnreachable needs no server: nothing listens on port 1.
func TestUnreachable(t *testing.T) {
	ctx := context.Background()
	_, err := postgres.Open(ctx, "postgres://postgres@127.0.0.1:1/test?connect_timeout=1&sslmode=disable", postgres.Options{})
	if !errors.Is(err, latchkey.ErrUnavailable) {
		t.Fatalf("Open of an unreachable server: %v; want ErrUnavailable", err)
	}
	_, err = postgres.Open(ctx, "postgres://postgres@127.0.0.1:1/test?sslmode=disable",
		postgres.Options{ConnectTimeout: 500 * time.Millisecond})
	if !errors.Is(err, latchkey.ErrUnavailable) {
		t.Fatalf("Open of an unreachable server with a ConnectTimeout: %v; want ErrUnavailable", err)
	}
}

func TestPingAfterClose(t *testing.T) {
	url := testURL(t)
	s, err := postgres.Open(context.Background(), url, postgres.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	s.Close()
	if err := s.Ping(context.Background()); !errors.Is(err, latchkey.ErrUnavailable) {
		t.Fatalf("Ping after Close: %v; want ErrUnavailable", err)
	}
}

func TestOpenRejectsBadOptions(t *testing.T) {
	ctx := context.Background()
	bad := []struct {
		name string
		url  string
		opts postgres.Options
	}{
		{"negative MaxConns", "postgres://127.0.0.1:1/x", postgres.Options{MaxConns: -1}},
		{"negative ConnectTimeout", "postgres://127.0.0.1:1/x", postgres.Options{ConnectTimeout: -time.Second}},
		{"NUL in schema", "postgres://127.0.0.1:1/x", postgres.Options{Schema: "a\x00b"}},
		{"malformed URL", "postgres://127.0.0.1:notaport/x", postgres.Options{}},
	}
	for _, tc := range bad {
		_, err := postgres.Open(ctx, tc.url, tc.opts)
		if err == nil || errors.Is(err, latchkey.ErrUnavailable) {
			t.Errorf("Open with %s: %v; want a configuration error", tc.name, err)
		}
	}
}

// migrationVersions lists the versions of the migration files shipped.
func migrationVersions(t *testing.T) []int {
	t.Helper()
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, f := range files {
		var v int
		if _, err := fmt.Sscanf(filepath.Base(f), "%d_", &v); err != nil {
			t.Fatalf("migration %s: %v", f, err)
		}
		out = append(out, v)
	}
	return out
}

func BenchmarkStore(b *testing.B) {
	url := testURL(b)
	admin := adminPool(b, url)
	storetest.Bench(b, func(b *testing.B) latchkey.Store { return mustOpen(b, url, admin) })
}

// TestAppsBeforeLimitsGetDefaults checks that an app written before the
// limits existed (a row with none of their columns) reads back with the
// default limits: the migration's column defaults are DefaultLimits.
func TestAppsBeforeLimitsGetDefaults(t *testing.T) {
	url := testURL(t)
	admin := adminPool(t, url)
	schema := createSchema(t, admin)
	s := openStore(t, url, schema)
	ctx := context.Background()
	if _, err := s.Migrate(ctx, rand.Reader, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, `INSERT INTO `+pgx.Identifier{schema}.Sanitize()+`.apps (id, name, client_id, secret_hash, otp_length,
		otp_expiry_ms, max_failures, lockout_ms, magic_link_expiry_ms, access_token_ttl_ms, id_token_ttl_ms, refresh_token_ttl_ms,
		session_ttl_ms, secret_rotated_at, created_at, updated_at)
		VALUES ('old', 'Old', 'old-client', '\x01', 6, 300000, 3, 900000, 900000, 3600000, 3600000, 3600000, 3600000, 1, 1, 1)`); err != nil {
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
