package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/sqlite"
	"github.com/latchkeyhq/latchkey/users"
)

// TestBackupWhileWritesRun backs up the SQLite database of a running
// server while requests keep writing to it: the copy is a new 0600 file
// that passes SQLite's integrity check and holds every user created before
// the backup began; a second backup to the same file is refused.
func TestBackupWhileWritesRun(t *testing.T) {
	te := newTestEnv(t)
	_, a := serverWithApp(t, te)
	var (
		mu      sync.Mutex
		created []string
		stop    = make(chan struct{})
		wg      sync.WaitGroup
	)
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				email := fmt.Sprintf("w%d-%d@example.com", w, i)
				if status, _ := a.post("/cis/v1/users", map[string]any{"email": email}); status == http.StatusCreated {
					mu.Lock()
					created = append(created, email)
					mu.Unlock()
				}
			}
		})
	}
	stopWriting := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer stopWriting()
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(created)
	}
	for deadline := time.Now().Add(30 * time.Second); count() < 50; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the writers created no users")
		}
	}
	mu.Lock()
	before := append([]string(nil), created...)
	mu.Unlock()
	copyPath := filepath.Join(t.TempDir(), "backup.db")
	code, out, errOut := te.runCmd("backup", copyPath)
	after := count()
	stopWriting()
	if code != exitOK || !strings.Contains(out, "Backed up") {
		t.Fatalf("backup: exit %d: %s %s", code, out, errOut)
	}
	if after <= len(before) {
		t.Logf("no write completed while the backup ran (%d users before, %d after)", len(before), after)
	}
	if info, err := os.Stat(copyPath); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("the copy: %v, %v; want a file of mode 0600", info, err)
	}

	backup, err := sqlite.Open(copyPath, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer backup.Close()
	var integrity string
	if err := backup.QueryPragma(context.Background(), "integrity_check", &integrity); err != nil || integrity != "ok" {
		t.Fatalf("PRAGMA integrity_check of the copy = %q, %v; want ok", integrity, err)
	}
	for _, email := range before {
		_, key, _ := users.CanonicalEmail(email)
		if _, err := backup.GetUserByEmail(context.Background(), key); err != nil {
			t.Fatalf("the copy lacks %s, created before the backup began: %v", email, err)
		}
	}

	if code, _, errOut := te.runCmd("backup", copyPath); code != exitError || !strings.Contains(errOut, "exists") {
		t.Fatalf("a backup over an existing file: exit %d, %q; want it refused", code, errOut)
	}
	te.vars["LATCHKEY_DATABASE_URL"] = "postgres://latchkey@db.invalid/latchkey"
	if code, _, errOut := te.runCmd("backup", filepath.Join(t.TempDir(), "pg.db")); code != exitError || !strings.Contains(errOut, "pg_dump") {
		t.Fatalf("backup of PostgreSQL: exit %d, %q; want a pointer to pg_dump", code, errOut)
	}
}

// TestMigrateStatusAndANewerDatabase lists the migrations before and after
// migrating, then records one from a newer version: migrate --status shows
// it and refuses, and so do the server and every other command, naming
// both versions.
func TestMigrateStatusAndANewerDatabase(t *testing.T) {
	te := newTestEnv(t)
	if code, _, errOut := te.runCmd("migrate", "--status"); code != exitError || !strings.Contains(errOut, "no database") {
		t.Fatalf("migrate --status without a database: exit %d, %q; want a clear refusal that creates nothing", code, errOut)
	}
	if code, _, errOut := te.runCmd("migrate"); code != exitOK {
		t.Fatalf("migrate: exit %d: %s", code, errOut)
	}
	code, out, errOut := te.runCmd("migrate", "--status")
	if code != exitOK || !strings.Contains(out, "0001_init.sql") || !strings.Contains(out, "applied") ||
		!strings.Contains(out, " 0 pending.") || strings.Contains(out, "pending  ") {
		t.Fatalf("migrate --status after migrating: exit %d:\n%s%s", code, out, errOut)
	}

	newest := recordNewerMigration(t, te)
	code, out, errOut = te.runCmd("migrate", "--status")
	if code != exitError || !strings.Contains(out, "unknown: from a newer version") || !namesVersions(errOut, newest) {
		t.Fatalf("migrate --status on a newer database: exit %d:\n%s%s", code, out, errOut)
	}
	for _, args := range [][]string{{"serve"}, {"migrate"}, {"apps", "list"}, {"backup", filepath.Join(t.TempDir(), "b.db")}} {
		// A server that did not refuse would serve until this ends.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		te.stdout.Reset()
		te.stderr.Reset()
		code := run(ctx, args, te.env())
		cancel()
		errOut := te.stderr.String()
		if code != exitError || !namesVersions(errOut, newest) {
			t.Errorf("latchkey %s on a database a newer version migrated: exit %d, %q; want a refusal naming both versions",
				strings.Join(args, " "), code, errOut)
		}
	}
}

// recordNewerMigration records in the test's SQLite database a migration
// above every one this build knows, as a newer version would, and returns
// its version.
func recordNewerMigration(t *testing.T, te *testEnv) int {
	t.Helper()
	path := strings.TrimPrefix(te.vars["LATCHKEY_DATABASE_URL"], "sqlite:")
	store, err := sqlite.Open(path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	list, err := store.Migrations(context.Background())
	store.Close()
	if err != nil {
		t.Fatal(err)
	}
	newest := list[len(list)-1].Version + 1
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)", newest, time.Now().UnixMilli()); err != nil {
		t.Fatal(err)
	}
	return newest
}

// namesVersions reports whether a refusal names the database's version
// and the newest this build knows.
func namesVersions(msg string, newest int) bool {
	return strings.Contains(msg, "newer version of Latchkey") && strings.Contains(msg, fmt.Sprintf("schema version %d", newest)) &&
		strings.Contains(msg, fmt.Sprintf("knows up to %d", newest-1))
}

func TestVersion(t *testing.T) {
	te := newTestEnv(t)
	for _, args := range [][]string{{"version"}, {"--version"}} {
		code, out, errOut := te.runCmd(args...)
		if code != exitOK || errOut != "" || !strings.HasPrefix(out, "latchkey "+latchkey.Version+"\n") ||
			!strings.Contains(out, "commit") || !strings.Contains(out, "go1.") {
			t.Fatalf("latchkey %s: exit %d:\n%s%s", args[0], code, out, errOut)
		}
	}
}

// TestVersionFromBuildInfo reads each kind of build: a checkout with
// uncommitted changes, an installed release, and go run.
func TestVersionFromBuildInfo(t *testing.T) {
	checkout := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20261130120000-0123456789ab+dirty"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef"}, {Key: "vcs.time", Value: "2026-11-30T12:00:00Z"},
			{Key: "vcs.modified", Value: "true"}}}
	installed := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}}
	goRun := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}
	cases := []struct {
		info                 *debug.BuildInfo
		module, commit, date string
	}{
		{checkout, "v0.0.0-20261130120000-0123456789ab+dirty", "0123456789abcdef (modified)", "2026-11-30T12:00:00Z"},
		{installed, "v1.2.3", "unknown (no version control information, as under go run)", "unknown"},
		{goRun, "", "unknown (no version control information, as under go run)", "unknown"},
		{nil, "", "unknown (no version control information, as under go run)", "unknown"},
	}
	for _, c := range cases {
		b := buildOf(c.info)
		if b.version != latchkey.Version || b.module != c.module || b.commit != c.commit || b.date != c.date {
			t.Errorf("buildOf(%+v) = %+v; want module %q, commit %q, date %q", c.info, b, c.module, c.commit, c.date)
		}
	}
}
