package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// These races go beyond the conformance suite: with SQLite's single writer
// they cannot go wrong, with PostgreSQL they rest on row and advisory locks.

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// race runs fn n times at once and fails the test on any error.
func race(t *testing.T, n int, fn func(i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs <- fn(i)
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent call: %v", err)
		}
	}
}

// fixture is an app with one user and one session, on a fresh store.
type fixture struct {
	s       latchkey.Store
	app     latchkey.App
	user    latchkey.User
	session latchkey.Session
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	url := testURL(t)
	s := mustOpen(t, url, adminPool(t, url))
	ctx := context.Background()
	f := fixture{s: s}
	f.app = latchkey.App{ID: "app1", Name: "Race", ClientID: "client1", SecretHash: []byte{1}, Policy: latchkey.DefaultLoginPolicy(), CreatedAt: t0}
	f.user = latchkey.User{ID: "user1", Email: "r@example.com", EmailKey: "r@example.com", Status: latchkey.UserActive,
		StatusChangedAt: t0, CreatedAt: t0, UpdatedAt: t0}
	f.session = latchkey.Session{ID: "sess1", AppID: f.app.ID, UserID: f.user.ID, AuthenticatedAt: t0, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	rt := latchkey.RefreshToken{ID: "rt0", Hash: []byte("rt0"), FamilyID: "fam", SessionID: f.session.ID, AppID: f.app.ID,
		UserID: f.user.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	for _, err := range []error{
		s.CreateApp(ctx, f.app),
		s.CreateUser(ctx, f.user, latchkey.AppUser{AppID: f.app.ID, AddedAt: t0}),
		s.CreateSession(ctx, f.session, rt),
	} {
		if err != nil {
			t.Fatalf("fixture: %v", err)
		}
	}
	return f
}

// TestConcurrentResend sends many codes to one subject at once: every send
// succeeds and exactly one challenge is left live, as with SQLite.
func TestConcurrentResend(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const n = 16
	race(t, n, func(i int) error {
		c := latchkey.Challenge{ID: fmt.Sprintf("ch%d", i), AppID: f.app.ID, Kind: latchkey.KindOTP, Subject: "user:" + f.user.ID,
			UserID: f.user.ID, Channel: latchkey.ChannelEmail, CodeHash: []byte(fmt.Sprintf("h%d", i)),
			CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)}
		m := latchkey.Message{ID: fmt.Sprintf("m%d", i), AppID: f.app.ID, Channel: latchkey.ChannelEmail, To: "r@example.com",
			Status: latchkey.MessageQueued, CreatedAt: t0, NextAttemptAt: t0, ExpiresAt: t0.Add(time.Minute)}
		return f.s.CreateChallenge(ctx, c, &m, nil)
	})
	live := 0
	for i := range n {
		c, err := f.s.GetChallengeByCodeHash(ctx, latchkey.KindOTP, []byte(fmt.Sprintf("h%d", i)))
		if err != nil {
			t.Fatalf("GetChallengeByCodeHash: %v", err)
		}
		if c.ConsumedAt.IsZero() {
			live++
		}
	}
	if live != 1 {
		t.Fatalf("%d challenges live after %d concurrent sends; want 1", live, n)
	}
	if msgs, _ := f.s.ListMessages(ctx, latchkey.MessageQueued, 100); len(msgs) != n {
		t.Fatalf("%d messages queued; want one per send, %d", len(msgs), n)
	}
}

// TestConcurrentReadModifyWrite races each Update method against itself:
// every change must survive.
func TestConcurrentReadModifyWrite(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const n = 20
	race(t, n, func(i int) error {
		_, err := f.s.UpdateUser(ctx, f.user.ID, func(u *latchkey.User) error {
			u.Profile.SecondaryEmails = append(u.Profile.SecondaryEmails, fmt.Sprintf("e%d@example.com", i))
			return nil
		})
		return err
	})
	race(t, n, func(i int) error {
		_, _, err := f.s.UpdateUserInApp(ctx, f.app.ID, f.user.ID, func(u *latchkey.User, _ *latchkey.AppUser) error {
			u.Profile.SecondaryPhoneNumbers = append(u.Profile.SecondaryPhoneNumbers, fmt.Sprintf("+1415555%04d", i))
			return nil
		})
		return err
	})
	race(t, n, func(i int) error {
		rt := latchkey.RefreshToken{ID: fmt.Sprintf("rt%d", i+1), Hash: []byte(fmt.Sprintf("rt%d", i+1)), FamilyID: fmt.Sprintf("f%d", i),
			SessionID: f.session.ID, AppID: f.app.ID, UserID: f.user.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
		_, err := f.s.ExtendSession(ctx, f.session.ID, t0, func(s *latchkey.Session) error {
			s.Methods = append(s.Methods, fmt.Sprintf("m%d", i))
			return nil
		}, rt)
		return err
	})
	m := latchkey.Message{ID: "msg", AppID: f.app.ID, Channel: latchkey.ChannelSMS, To: "+14155550100", Text: "code",
		Status: latchkey.MessageQueued, CreatedAt: t0, NextAttemptAt: t0, ExpiresAt: t0.Add(time.Minute)}
	c := latchkey.Challenge{ID: "c", AppID: f.app.ID, Kind: latchkey.KindOTP, Subject: "s", Channel: latchkey.ChannelSMS,
		CodeHash: []byte("c"), CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)}
	if err := f.s.CreateChallenge(ctx, c, &m, nil); err != nil {
		t.Fatal(err)
	}
	race(t, n, func(int) error {
		_, err := f.s.UpdateMessage(ctx, m.ID, func(m *latchkey.Message) error { m.Attempts++; return nil })
		return err
	})

	u, err := f.s.GetUser(ctx, f.user.ID)
	if err != nil || len(u.Profile.SecondaryEmails) != n || len(u.Profile.SecondaryPhoneNumbers) != n {
		t.Fatalf("user after %d concurrent updates of each kind: %+v, %v; want every change kept", n, u.Profile, err)
	}
	sess, err := f.s.GetSession(ctx, f.session.ID)
	if err != nil || len(sess.Methods) != n {
		t.Fatalf("session after %d concurrent extensions has %d methods, %v; want %d", n, len(sess.Methods), err, n)
	}
	msgs, err := f.s.ListMessages(ctx, "", 10)
	if err != nil || len(msgs) != 1 || msgs[0].Attempts != n {
		t.Fatalf("message after %d concurrent updates: %+v, %v; want %d attempts", n, msgs, err, n)
	}
}

// TestRevokeWhileRotating races revocations against rotations of one
// session's tokens: neither may fail with anything but the contract's
// errors (no deadlock surfaces), and afterwards nothing in the session can
// be rotated.
func TestRevokeWhileRotating(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const n = 16
	race(t, n, func(i int) error {
		if i%4 == 0 {
			return f.s.RevokeSession(ctx, f.session.ID, t0)
		}
		_, err := f.s.RotateRefreshToken(ctx, f.app.ID, []byte("rt0"), t0, func(old latchkey.RefreshToken) (latchkey.RefreshToken, error) {
			return latchkey.RefreshToken{ID: fmt.Sprintf("n%d", i), Hash: []byte(fmt.Sprintf("n%d", i)), FamilyID: old.FamilyID,
				SessionID: old.SessionID, AppID: old.AppID, UserID: old.UserID, CreatedAt: t0, ExpiresAt: old.ExpiresAt}, nil
		})
		switch {
		case err == nil, errors.Is(err, latchkey.ErrNotFound), errors.Is(err, latchkey.ErrReplayed):
			return nil
		default:
			return err
		}
	})
	sess, err := f.s.GetSession(ctx, f.session.ID)
	if err != nil || sess.RevokedAt.IsZero() {
		t.Fatalf("session after the race: %+v, %v; want revoked", sess, err)
	}
	for i := range n {
		_, err := f.s.RotateRefreshToken(ctx, f.app.ID, []byte(fmt.Sprintf("n%d", i)), t0, func(latchkey.RefreshToken) (latchkey.RefreshToken, error) {
			return latchkey.RefreshToken{}, fmt.Errorf("must not be called")
		})
		if err != nil && !errors.Is(err, latchkey.ErrNotFound) {
			t.Fatalf("rotating token n%d of a revoked session: %v; want ErrNotFound", i, err)
		}
	}
}
