package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"text/tabwriter"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/config"
)

const migrateUsage = `migrate [--status]

Applies the database migrations this version embeds, and exits. The server
also migrates at start-up; this lets an operator do it ahead of a rollout.
With --status, lists each migration instead, applied (and when) or pending,
and changes nothing. A database that a newer version of Latchkey migrated is
refused, by this command and every other, naming both versions.`

// cmdMigrate applies the database migrations, or shows them.
func cmdMigrate(ctx context.Context, args []string, e env) int {
	fs := newFlagSet("migrate", migrateUsage, e)
	status := fs.Bool("status", false, "list each migration, applied or pending, and change nothing")
	if code := noArguments(fs, args, e); code >= 0 {
		return code
	}
	cfg, ok := loadConfig(e, false)
	if !ok {
		return exitUsage
	}
	if *status {
		return migrateStatus(ctx, cfg, e)
	}
	store, err := openStore(ctx, cfg, e)
	if err != nil {
		fmt.Fprintln(e.stderr, "latchkey:", err)
		return exitError
	}
	defer store.Close()
	fmt.Fprintln(e.stdout, "Database is up to date.")
	return exitOK
}

// migrateStatus prints each migration and whether the database has
// applied it; a database migrated by a newer version is shown, then
// refused.
func migrateStatus(ctx context.Context, cfg config.Config, e env) int {
	store, err := openExisting(ctx, cfg)
	if err != nil {
		fmt.Fprintln(e.stderr, "latchkey:", err)
		return exitError
	}
	defer store.Close()
	list, err := store.Migrations(ctx)
	if err != nil {
		fmt.Fprintln(e.stderr, "latchkey:", err)
		return exitError
	}
	tw := tabwriter.NewWriter(e.stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tMIGRATION\tSTATUS\tAPPLIED")
	applied := 0
	for _, m := range list {
		name, status, at := m.Name, "pending", "-"
		if name == "" {
			name = "(unknown: from a newer version)"
		}
		if !m.AppliedAt.IsZero() {
			status, at = "applied", m.AppliedAt.Format(time.RFC3339)
			applied++
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", m.Version, name, status, at)
	}
	tw.Flush()
	fmt.Fprintf(e.stdout, "%d applied, %d pending.\n", applied, len(list)-applied)
	if err := latchkey.CheckSchema(list); err != nil {
		fmt.Fprintln(e.stderr, "latchkey:", err)
		return exitError
	}
	return exitOK
}

// openExisting opens the configured database without migrating it or,
// for SQLite, creating it.
func openExisting(ctx context.Context, cfg config.Config) (migratingStore, error) {
	if cfg.Database.Driver == "sqlite" {
		if _, err := os.Stat(cfg.Database.Path); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no database at %s (LATCHKEY_DATABASE_URL): the server or `latchkey migrate` creates it", cfg.Database.Path)
		}
	}
	return openDatabase(ctx, cfg)
}
