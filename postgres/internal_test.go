package postgres

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/latchkeyhq/latchkey"
)

// TestTranslate pins the mapping of driver errors onto the store sentinels,
// and that the driver error stays in the chain for logs.
func TestTranslate(t *testing.T) {
	pgErr := func(code string) error { return &pgconn.PgError{Code: code, Message: "x"} }
	cases := []struct {
		name string
		err  error
		want error // nil: no sentinel
	}{
		{"no rows", pgx.ErrNoRows, latchkey.ErrNotFound},
		{"unique violation", pgErr("23505"), latchkey.ErrConflict},
		{"foreign key violation", pgErr("23503"), latchkey.ErrNotFound},
		{"connection failure", pgErr("08006"), latchkey.ErrUnavailable},
		{"admin shutdown", pgErr("57P01"), latchkey.ErrUnavailable},
		{"cannot connect now", pgErr("57P03"), latchkey.ErrUnavailable},
		{"too many connections", pgErr("53300"), latchkey.ErrUnavailable},
		{"wrapped unique violation", fmt.Errorf("insert: %w", pgErr("23505")), latchkey.ErrConflict},
		{"deadline", context.DeadlineExceeded, latchkey.ErrUnavailable},
		{"check violation", pgErr("23514"), nil},
		{"query canceled", pgErr("57014"), nil},
		{"undefined table", pgErr("42P01"), nil},
		{"caller cancelled", context.Canceled, nil},
		{"other", errors.New("boom"), nil},
	}
	sentinels := []error{latchkey.ErrNotFound, latchkey.ErrConflict, latchkey.ErrUnavailable}
	for _, tc := range cases {
		got := translate(tc.err)
		if !errors.Is(got, tc.err) {
			t.Errorf("%s: translate dropped the cause: %v", tc.name, got)
		}
		for _, s := range sentinels {
			if errors.Is(got, s) != (s == tc.want) {
				t.Errorf("%s: translate = %v; want sentinel %v", tc.name, got, tc.want)
			}
		}
	}
	if translate(nil) != nil {
		t.Error("translate(nil) is not nil")
	}
}

func TestRetryable(t *testing.T) {
	for code, want := range map[string]bool{"40001": true, "40P01": true, "23505": false, "57P01": false} {
		err := fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: code})
		if retryable(err) != want {
			t.Errorf("retryable(%s) = %v; want %v", code, !want, want)
		}
	}
	if retryable(errors.New("plain")) {
		t.Error("a plain error is retryable")
	}
}

func TestPoolConfig(t *testing.T) {
	cfg, err := poolConfig("postgres://u@h/db", Options{Schema: `odd "name"`})
	if err != nil {
		t.Fatal(err)
	}
	if want := int32(max(defaultMinConns, 4*runtime.GOMAXPROCS(0))); cfg.MaxConns != want {
		t.Errorf("default MaxConns = %d; want %d", cfg.MaxConns, want)
	}
	if cfg.ConnConfig.ConnectTimeout != defaultConnectTimeout {
		t.Errorf("default ConnectTimeout = %s; want %s", cfg.ConnConfig.ConnectTimeout, defaultConnectTimeout)
	}
	if got := cfg.ConnConfig.RuntimeParams["search_path"]; got != `"odd ""name"""` {
		t.Errorf("search_path = %s; want the quoted schema", got)
	}
	cfg, err = poolConfig("postgres://u@h/db?connect_timeout=2", Options{MaxConns: 3})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxConns != 3 || cfg.ConnConfig.ConnectTimeout != 2*time.Second {
		t.Errorf("MaxConns %d, ConnectTimeout %s; want 3 and the URL's 2s", cfg.MaxConns, cfg.ConnConfig.ConnectTimeout)
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["search_path"]; ok {
		t.Error("search_path set without a schema")
	}
	cfg, _ = poolConfig("postgres://u@h/db?connect_timeout=2", Options{ConnectTimeout: time.Second})
	if cfg.ConnConfig.ConnectTimeout != time.Second {
		t.Errorf("ConnectTimeout = %s; want the option's 1s over the URL's", cfg.ConnConfig.ConnectTimeout)
	}
}

func TestSQLLimits(t *testing.T) {
	if sqlLimit(-1) != nil || sqlLimit(0) != 0 || sqlLimit(5) != 5 {
		t.Error("sqlLimit does not mirror SQLite's LIMIT")
	}
	if sqlOffset(-3) != 0 || sqlOffset(4) != 4 {
		t.Error("sqlOffset does not mirror SQLite's OFFSET")
	}
}

func TestMigrationFiles(t *testing.T) {
	files, err := migrationFiles()
	if err != nil {
		t.Fatal(err)
	}
	var versions []string
	for _, f := range files {
		versions = append(versions, fmt.Sprintf("%04d", f.version))
	}
	// Both stores must reach the same schema version: PostgreSQL has a
	// migration for every one SQLite has.
	sqliteFiles, err := filepath.Glob("../sqlite/migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, f := range sqliteFiles {
		want = append(want, strings.SplitN(filepath.Base(f), "_", 2)[0])
	}
	if fmt.Sprint(versions) != fmt.Sprint(want) {
		t.Fatalf("embedded migrations %v; want %v, the same versions as SQLite's", versions, want)
	}
}
