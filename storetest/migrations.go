package storetest

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// Migrator is a store whose schema numbered migrations build.
type Migrator interface {
	Migrate(ctx context.Context, rand io.Reader, now time.Time) ([]int, error)
	Migrations(ctx context.Context) ([]latchkey.Migration, error)
}

// NewMigrator opens a fresh store that has never been migrated, and
// returns with it a function that records a migration as applied behind
// the store's back, as a newer build of Latchkey would.
type NewMigrator func(t *testing.T) (m Migrator, record func(version int))

// RunMigrations pins what every store does with its schema's versions:
// it reports each migration, pending or applied and when, and it refuses a
// database that a newer build migrated, naming both versions, without
// changing it.
func RunMigrations(t *testing.T, newMigrator NewMigrator) {
	m, record := newMigrator(t)
	before, err := m.Migrations(ctx())
	mustNoErr(t, err, "Migrations of a database never migrated")
	if len(before) == 0 {
		t.Fatal("a build with no migrations")
	}
	for i, mig := range before {
		if mig.Name == "" || !mig.AppliedAt.IsZero() || i > 0 && mig.Version <= before[i-1].Version {
			t.Fatalf("before migrating: %+v; want every embedded migration, named, pending, in version order", before)
		}
	}
	applied, err := m.Migrate(ctx(), rand.Reader, base)
	mustNoErr(t, err, "Migrate")
	after, err := m.Migrations(ctx())
	mustNoErr(t, err, "Migrations")
	if len(applied) != len(before) || len(after) != len(before) {
		t.Fatalf("Migrate applied %v and then lists %+v; want every one of the %d embedded", applied, after, len(before))
	}
	for _, mig := range after {
		if !mig.AppliedAt.Equal(base) {
			t.Fatalf("after migrating: %+v; want each applied at %s", mig, base)
		}
	}

	known := after[len(after)-1].Version
	newer := known + 3
	record(newer)
	_, err = m.Migrate(ctx(), rand.Reader, base.Add(time.Hour))
	var tooNew *latchkey.SchemaTooNewError
	if !errors.As(err, &tooNew) || tooNew.Database != newer || tooNew.Known != known {
		t.Fatalf("Migrate of a database a newer build migrated: %v; want a SchemaTooNewError naming %d and %d", err, newer, known)
	}
	if msg := err.Error(); !strings.Contains(msg, strconv.Itoa(newer)) || !strings.Contains(msg, strconv.Itoa(known)) {
		t.Fatalf("the refusal %q does not name both versions", msg)
	}
	listed, err := m.Migrations(ctx())
	mustNoErr(t, err, "Migrations of a database a newer build migrated")
	last := listed[len(listed)-1]
	if len(listed) != len(after)+1 || last.Version != newer || last.Name != "" || last.AppliedAt.IsZero() {
		t.Fatalf("Migrations lists %+v; want the embedded ones and then the unknown version %d, applied", listed, newer)
	}
}
