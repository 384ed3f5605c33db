package main

import (
	"context"
	"fmt"
)

// cmdMigrate applies the database migrations and exits. The server also
// migrates at start-up; this lets an operator do it ahead of a rollout.
func cmdMigrate(ctx context.Context, args []string, e env) int {
	fs := newFlagSet("migrate", "migrate", e.stderr)
	if _, err := parseFlags(fs, args); err != nil {
		return flagExit(err)
	}
	cfg, ok := loadConfig(e, false)
	if !ok {
		return exitUsage
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
