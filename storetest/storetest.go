// Package storetest is the conformance suite every latchkey.Store backend
// must pass. Each backend's test calls Run with a function that opens a
// fresh, migrated, empty store; every named subtest gets its own.
//
// The suite pins the contract written on the Store interface: what each
// method returns, which sentinel error it returns when a row is missing or a
// unique value is taken, and the atomic behaviour that security rests on
// when requests race.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// NewStore opens a fresh, migrated and empty store for one subtest and
// arranges for it to be closed when the subtest ends.
type NewStore func(t *testing.T) latchkey.Store

// Run runs every conformance test against stores made by newStore.
func Run(t *testing.T, newStore NewStore) {
	tests := []struct {
		name string
		fn   func(*testing.T, latchkey.Store)
	}{
		{"Tenant", testTenant},
		{"AppCRUD", testAppCRUD},
		{"AppUniqueClientID", testAppUniqueClientID},
		{"AppUpdateAbort", testAppUpdateAbort},
		{"AppConcurrentUpdate", testAppConcurrentUpdate},
		{"DeadlineWhileWaiting", testDeadlineWhileWaiting},
		{"UserCRUD", testUserCRUD},
		{"UserUniqueIdentifiers", testUserUniqueIdentifiers},
		{"UserUpdateConflict", testUserUpdateConflict},
		{"UserMembership", testUserMembership},
		{"UserDeleteCascades", testUserDeleteCascades},
		{"AppDeleteKeepsUsers", testAppDeleteKeepsUsers},
		{"ListUsers", testListUsers},
		{"Keys", testKeys},
		{"KeyRotation", testKeyRotation},
		{"KeyRotationRace", testKeyRotationRace},
		{"ChallengeLifecycle", testChallengeLifecycle},
		{"ConcurrentConsume", testConcurrentConsume},
		{"AttemptCounter", testAttemptCounter},
		{"ConcurrentAttempts", testConcurrentAttempts},
		{"AttemptSignIn", testAttemptSignIn},
		{"ConsumeSignIn", testConsumeSignIn},
		{"EscalatingCounter", testEscalatingCounter},
		{"PurgeLarge", testPurgeLarge},
		{"SessionLifecycle", testSessionLifecycle},
		{"RefreshRotation", testRefreshRotation},
		{"ConcurrentRefresh", testConcurrentRefresh},
		{"Outbox", testOutbox},
		{"ConcurrentClaims", testConcurrentClaims},
		{"HandedOffMessage", testHandedOffMessage},
		{"UpdateMessages", testUpdateMessages},
		{"OutboxBacklog", testOutboxBacklog},
		{"DevInbox", testDevInbox},
		{"Counters", testCounters},
		{"CounterRefusal", testCounterRefusal},
		{"ConcurrentCounters", testConcurrentCounters},
		{"ConcurrentMultiKeyCounters", testConcurrentMultiKeyCounters},
		{"SpendWithChallenge", testSpendWithChallenge},
		{"ConcurrentSpends", testConcurrentSpends},
		{"PurgeCounters", testPurgeCounters},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, newStore(t))
		})
	}
}

// base is the suite's fixed "now", at millisecond precision as stored.
var base = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func ctx() context.Context { return context.Background() }

func mustNoErr(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func wantErr(t *testing.T, err, want error, what string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: err = %v; want %v", what, err, want)
	}
}

func testTenant(t *testing.T, s latchkey.Store) {
	id, err := s.TenantID(ctx())
	mustNoErr(t, err, "TenantID")
	again, err := s.TenantID(ctx())
	mustNoErr(t, err, "TenantID again")
	if id == "" || id != again {
		t.Fatalf("TenantID = %q then %q; want one stable non-empty ID", id, again)
	}
	mustNoErr(t, s.Ping(ctx()), "Ping")
}

// seq gives each helper-made row a distinct suffix.
var seq int

func next() int { seq++; return seq }

func newApp(name string) latchkey.App {
	n := next()
	return latchkey.App{
		ID:              fmt.Sprintf("app%d", n),
		Name:            name,
		ClientID:        fmt.Sprintf("client%d", n),
		SecretHash:      []byte{1, 2, 3, byte(n)},
		RedirectURIs:    []string{"https://app.example/complete"},
		Resources:       []string{},
		Policy:          latchkey.DefaultLoginPolicy(),
		Limits:          defaultLimits(),
		SecretRotatedAt: base,
		CreatedAt:       base.Add(time.Duration(n) * time.Millisecond),
		UpdatedAt:       base.Add(time.Duration(n) * time.Millisecond),
	}
}

// defaultLimits are the default limits as a store reads them back: empty
// lists, not nil.
func defaultLimits() latchkey.Limits {
	l := latchkey.DefaultLimits()
	l.SMSCountries, l.TestIdentifiers = []string{}, []latchkey.TestIdentifier{}
	return l
}

func mustCreateApp(t *testing.T, s latchkey.Store, name string) latchkey.App {
	t.Helper()
	a := newApp(name)
	mustNoErr(t, s.CreateApp(ctx(), a), "CreateApp")
	return a
}

func isConflict(err error) bool { return errors.Is(err, latchkey.ErrConflict) }
