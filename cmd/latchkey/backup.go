package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/latchkeyhq/latchkey"
)

const backupUsage = `backup PATH

Writes a consistent copy of the live SQLite database that
LATCHKEY_DATABASE_URL names to PATH, a new file (mode 0600), while the
server goes on serving. PATH must not exist. The copy holds no server
secret: keep LATCHKEY_SECRET (or the database's .secret file) apart from it,
since restoring needs it. To restore, stop the server, delete the
database file with its DATABASE-wal and DATABASE-shm files, and put the copy
in its place.

For PostgreSQL, use pg_dump (see the README).`

// cmdBackup copies a live SQLite database.
func cmdBackup(ctx context.Context, args []string, e env) int {
	fs := newFlagSet("backup", backupUsage, e)
	positional, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(positional) != 1 {
		return usageError(fs, e, "want exactly one PATH to write the copy to")
	}
	cfg, ok := loadConfig(e, false)
	if !ok {
		return exitUsage
	}
	if cfg.Database.Driver != "sqlite" {
		fmt.Fprintln(e.stderr, `latchkey backup: the database is PostgreSQL: back it up with pg_dump, e.g. pg_dump --format=custom --file=latchkey.dump "$LATCHKEY_DATABASE_URL" (see the README)`)
		return exitError
	}
	store, err := openExisting(ctx, cfg)
	if err == nil {
		defer store.Close()
		err = backup(ctx, store, positional[0])
	}
	if err != nil {
		fmt.Fprintln(e.stderr, "latchkey:", err)
		return exitError
	}
	info, err := os.Stat(positional[0])
	if err != nil {
		fmt.Fprintln(e.stderr, "latchkey:", err)
		return exitError
	}
	fmt.Fprintf(e.stdout, "Backed up %s to %s (%d bytes).\nKeep the server secret apart from the copy: restoring it needs the same LATCHKEY_SECRET.\n",
		cfg.Database.Path, positional[0], info.Size())
	return exitOK
}

// backup refuses a database a newer version migrated, as every command
// does, then copies it.
func backup(ctx context.Context, store migratingStore, path string) error {
	list, err := store.Migrations(ctx)
	if err != nil {
		return err
	}
	if err := latchkey.CheckSchema(list); err != nil {
		return err
	}
	b, ok := store.(interface {
		Backup(ctx context.Context, path string) error
	})
	if !ok {
		return errors.New("this database cannot be backed up by latchkey")
	}
	return b.Backup(ctx, path)
}
