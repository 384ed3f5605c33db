package latchkey

import (
	"fmt"
	"slices"
	"time"
)

// Migration is one numbered step of the database schema, as embedded in
// this build or recorded in a database.
type Migration struct {
	Version int
	// Name is the migration's file name; empty for a version the database
	// records but this build does not know (a newer build applied it).
	Name string
	// AppliedAt is when the database applied it; zero while pending.
	AppliedAt time.Time
}

// SchemaTooNewError means the database was migrated by a newer version of
// Latchkey: this build does not know its schema, so it must not use it.
type SchemaTooNewError struct {
	Database int // the highest version the database records
	Known    int // the highest version this build embeds
}

func (e *SchemaTooNewError) Error() string {
	return fmt.Sprintf("the database was migrated by a newer version of Latchkey (schema version %d; this version knows up to %d): "+
		"run that version or a later one, or restore a backup taken before the upgrade", e.Database, e.Known)
}

// MergeMigrations lists a database's migrations in version order: every
// one a build embeds (Version and Name), with when the database applied it
// (zero: pending), then any the database records that the build does not
// know. Both stores report their state with it.
func MergeMigrations(embedded []Migration, applied map[int]time.Time) []Migration {
	out := make([]Migration, 0, len(embedded)+len(applied))
	known := map[int]bool{}
	for _, m := range embedded {
		m.AppliedAt = applied[m.Version]
		out = append(out, m)
		known[m.Version] = true
	}
	for version, at := range applied {
		if !known[version] {
			out = append(out, Migration{Version: version, AppliedAt: at})
		}
	}
	slices.SortFunc(out, func(a, b Migration) int { return a.Version - b.Version })
	return out
}

// CheckSchema refuses, with a *SchemaTooNewError, a database that has
// applied a migration above the highest a build embeds, from its
// migrations as MergeMigrations lists them.
func CheckSchema(list []Migration) error {
	known, newest := 0, 0
	for _, m := range list {
		if m.Name != "" {
			known = m.Version
		}
		if !m.AppliedAt.IsZero() {
			newest = m.Version
		}
	}
	if newest > known {
		return &SchemaTooNewError{Database: newest, Known: known}
	}
	return nil
}
