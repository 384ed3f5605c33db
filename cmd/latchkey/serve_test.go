package main

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/config"
	"github.com/latchkeyhq/latchkey/sqlite"
)

// TestPurgeKeepsRecordsForTheConfiguredRetention checks that maintenance
// removes dev inbox records once LATCHKEY_RECORD_RETENTION has passed, and
// not before.
func TestPurgeKeepsRecordsForTheConfiguredRetention(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "purge.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if _, err := store.Migrate(ctx, rand.Reader, now); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(func(k string) string {
		return map[string]string{"LATCHKEY_RECORD_RETENTION": "10m"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	for id, age := range map[string]time.Duration{"old": 11 * time.Minute, "recent": 9 * time.Minute} {
		m := latchkey.DevMessage{ID: id, AppID: "app", Channel: latchkey.ChannelEmail, To: "a@example.com", CreatedAt: now.Add(-age)}
		if err := store.AddDevMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	sys := &system{cfg: cfg, log: slog.New(slog.NewTextHandler(io.Discard, nil)), store: store}
	sys.purge(ctx, now)

	left, err := store.ListDevMessages(ctx, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 || left[0].ID != "recent" {
		t.Fatalf("after purge with a 10m retention: %+v; want only the 9-minute-old message", left)
	}
}

// TestPurgeGoesOnAfterItsDeadline checks that a purge cut short by the
// database deadline after deleting some rows runs again until it is done,
// and that one that deleted nothing stops.
func TestPurgeGoesOnAfterItsDeadline(t *testing.T) {
	answers := []struct {
		n   int
		err error
	}{{500, latchkey.ErrUnavailable}, {500, latchkey.ErrUnavailable}, {120, nil}}
	calls := 0
	purge := func(context.Context, time.Time) (int, error) {
		a := answers[calls]
		calls++
		return a.n, a.err
	}
	if n, err := purgeAll(context.Background(), purge, time.Time{}); n != 1120 || err != nil || calls != 3 {
		t.Fatalf("purgeAll = %d, %v after %d calls; want 1120 rows, no error, 3 calls", n, err, calls)
	}
	stuck := func(context.Context, time.Time) (int, error) { calls++; return 0, latchkey.ErrUnavailable }
	calls = 0
	if n, err := purgeAll(context.Background(), stuck, time.Time{}); n != 0 || !errors.Is(err, latchkey.ErrUnavailable) || calls != 1 {
		t.Fatalf("purgeAll of an unavailable database = %d, %v after %d calls; want its error after one call", n, err, calls)
	}
}
