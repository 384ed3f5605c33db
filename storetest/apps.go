package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
)

func testAppCRUD(t *testing.T, s latchkey.Store) {
	a := newApp("Demo")
	a.RedirectURIs = []string{"https://a.example/cb", "http://localhost:8080/complete"}
	a.Resources = []string{"https://api.example"}
	a.Management = true
	a.Policy.OTPLength = 8
	a.Policy.HideUnknownUsers = true
	a.SecretGeneration = 1 << 40 // past 32 bits: a store keeps all 64
	a.Branding = latchkey.Branding{SenderName: "Demo Team", LogoURL: "https://demo.example/logo.png", PrimaryColor: "#123456"}
	a.Limits = latchkey.Limits{ResendCooldown: 45 * time.Second, SendsPerHour: 5, SendsPerDay: 12, SMSCountries: []string{"GB", "+1"},
		SMSDailyBudget: 5000, SMSPrefixPerHour: 15, MaxFailuresPerMinute: 250, IPSendsPerHour: 300, IPFailuresPerHour: 90,
		TestIdentifiers: []latchkey.TestIdentifier{{Identifier: "ada@example.com", CodeHash: []byte{9, 8, 7}}, {Identifier: "+14155550100", CodeHash: []byte{1}}}}
	mustNoErr(t, s.CreateApp(ctx(), a), "CreateApp")

	got, err := s.GetApp(ctx(), a.ID)
	mustNoErr(t, err, "GetApp")
	if !reflect.DeepEqual(got, a) {
		t.Fatalf("GetApp = %+v\nwant %+v", got, a)
	}
	byClient, err := s.GetAppByClientID(ctx(), a.ClientID)
	mustNoErr(t, err, "GetAppByClientID")
	if byClient.ID != a.ID {
		t.Fatalf("GetAppByClientID = %q; want %q", byClient.ID, a.ID)
	}

	b := mustCreateApp(t, s, "Second")
	apps, err := s.ListApps(ctx())
	mustNoErr(t, err, "ListApps")
	if len(apps) != 2 || apps[0].ID != a.ID || apps[1].ID != b.ID {
		t.Fatalf("ListApps = %v; want [%s %s] oldest first", appIDs(apps), a.ID, b.ID)
	}

	updated, err := s.UpdateApp(ctx(), a.ID, func(app *latchkey.App) error {
		app.Name = "Renamed"
		app.ClientID = "attempt-to-change"
		app.RedirectURIs = nil
		app.Policy.MaxFailures = 7
		app.Branding.PrimaryColor = "#abc"
		app.Limits.SendsPerHour, app.Limits.TestIdentifiers = 0, app.Limits.TestIdentifiers[1:]
		app.SecretGeneration++
		app.UpdatedAt = base.Add(time.Hour)
		return nil
	})
	mustNoErr(t, err, "UpdateApp")
	if updated.Name != "Renamed" || updated.ClientID != a.ClientID || updated.Policy.MaxFailures != 7 ||
		updated.Limits.SendsPerHour != 0 || len(updated.Limits.TestIdentifiers) != 1 ||
		updated.SecretGeneration != a.SecretGeneration+1 {
		t.Fatalf("UpdateApp returned %+v; want new name, policy, limits and secret generation, unchanged client ID", updated)
	}
	got, err = s.GetApp(ctx(), a.ID)
	mustNoErr(t, err, "GetApp after update")
	if !reflect.DeepEqual(got, updated) {
		t.Fatalf("GetApp after update = %+v\nwant %+v", got, updated)
	}
	if len(got.RedirectURIs) != 0 {
		t.Fatalf("RedirectURIs after clearing = %v; want none", got.RedirectURIs)
	}

	mustNoErr(t, s.DeleteApp(ctx(), a.ID), "DeleteApp")
	_, err = s.GetApp(ctx(), a.ID)
	wantErr(t, err, latchkey.ErrNotFound, "GetApp after delete")
	_, err = s.GetAppByClientID(ctx(), a.ClientID)
	wantErr(t, err, latchkey.ErrNotFound, "GetAppByClientID after delete")
	wantErr(t, s.DeleteApp(ctx(), a.ID), latchkey.ErrNotFound, "DeleteApp twice")
	_, err = s.UpdateApp(ctx(), a.ID, func(*latchkey.App) error { return nil })
	wantErr(t, err, latchkey.ErrNotFound, "UpdateApp of a missing app")
}

func appIDs(apps []latchkey.App) []string {
	var ids []string
	for _, a := range apps {
		ids = append(ids, a.ID)
	}
	return ids
}

func testAppUniqueClientID(t *testing.T, s latchkey.Store) {
	a := mustCreateApp(t, s, "One")
	dup := newApp("Two")
	dup.ClientID = a.ClientID
	wantErr(t, s.CreateApp(ctx(), dup), latchkey.ErrConflict, "CreateApp with a taken client ID")
	sameID := newApp("Three")
	sameID.ID = a.ID
	wantErr(t, s.CreateApp(ctx(), sameID), latchkey.ErrConflict, "CreateApp with a taken ID")
}

func testAppUpdateAbort(t *testing.T, s latchkey.Store) {
	a := mustCreateApp(t, s, "Keep")
	boom := errors.New("rejected")
	_, err := s.UpdateApp(ctx(), a.ID, func(app *latchkey.App) error {
		app.Name = "Changed"
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("UpdateApp with a failing update: err = %v; want the update's error", err)
	}
	got, err := s.GetApp(ctx(), a.ID)
	mustNoErr(t, err, "GetApp")
	if got.Name != "Keep" {
		t.Fatalf("name after aborted update = %q; want unchanged", got.Name)
	}
}

// testAppConcurrentUpdate checks that read-modify-write updates racing on
// one app never lose each other's changes.
func testAppConcurrentUpdate(t *testing.T, s latchkey.Store) {
	a := mustCreateApp(t, s, "Race")
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.UpdateApp(ctx(), a.ID, func(app *latchkey.App) error {
				app.Resources = append(app.Resources, fmt.Sprintf("https://r%d.example", i))
				return nil
			})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		mustNoErr(t, err, "concurrent UpdateApp")
	}
	got, err := s.GetApp(ctx(), a.ID)
	mustNoErr(t, err, "GetApp")
	if len(got.Resources) != n {
		t.Fatalf("after %d concurrent appends, %d resources remain; want every change kept", n, len(got.Resources))
	}
}

// testDeadlineWhileWaiting checks that a write that cannot start before
// its caller's deadline, because another holds what it needs, fails with
// ErrUnavailable once the deadline passes, does nothing, and leaves the
// store serving.
func testDeadlineWhileWaiting(t *testing.T, s latchkey.Store) {
	a := mustCreateApp(t, s, "Held")
	holding, release, held := make(chan struct{}, 1), make(chan struct{}), make(chan error, 1)
	go func() {
		_, err := s.UpdateApp(ctx(), a.ID, func(app *latchkey.App) error {
			select {
			case holding <- struct{}{}:
			default: // a retried transaction: announced already
			}
			<-release
			app.Name = "First"
			return nil
		})
		held <- err
	}()
	<-holding
	short, cancel := context.WithTimeout(ctx(), 100*time.Millisecond)
	defer cancel()
	var ran atomic.Bool
	timedOut := make(chan error, 1)
	go func() {
		_, err := s.UpdateApp(short, a.ID, func(app *latchkey.App) error {
			ran.Store(true)
			app.Name = "Second"
			return nil
		})
		timedOut <- err
	}()
	var err error
	select {
	case err = <-timedOut:
	case <-time.After(30 * time.Second): // generous: the deadline is 100 ms
		close(release)
		t.Fatal("an UpdateApp waiting for a held app did not return at its deadline")
	}
	close(release)
	wantErr(t, err, latchkey.ErrUnavailable, "UpdateApp past its deadline while another holds the app")
	mustNoErr(t, <-held, "the holding UpdateApp")
	if ran.Load() {
		t.Fatal("the update that ran out of time still ran")
	}
	got, err := s.GetApp(ctx(), a.ID)
	mustNoErr(t, err, "GetApp after the deadline")
	if got.Name != "First" {
		t.Fatalf("after a timed-out update the name is %q; want the holder's %q only", got.Name, "First")
	}
}
