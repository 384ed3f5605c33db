package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
)

func newSession(appID, userID string) (latchkey.Session, latchkey.RefreshToken) {
	n := next()
	s := latchkey.Session{ID: fmt.Sprintf("sess%d", n), AppID: appID, UserID: userID, Methods: []string{"eotp"},
		AuthenticatedAt: base, CreatedAt: base.Add(time.Duration(n) * time.Millisecond), ExpiresAt: base.Add(14 * 24 * time.Hour)}
	return s, newRefresh(s, fmt.Sprintf("fam%d", n))
}

func newRefresh(s latchkey.Session, family string) latchkey.RefreshToken {
	n := next()
	return latchkey.RefreshToken{ID: fmt.Sprintf("rt%d", n), Hash: []byte(fmt.Sprintf("rthash-%d", n)), FamilyID: family,
		SessionID: s.ID, AppID: s.AppID, UserID: s.UserID, CreatedAt: base, ExpiresAt: base.Add(14 * 24 * time.Hour)}
}

func testSessionLifecycle(t *testing.T, s latchkey.Store) {
	app := mustCreateApp(t, s, "Sessions")
	other := mustCreateApp(t, s, "Other")
	u := mustCreateUser(t, s, app.ID, "s@example.com", "")
	sess, rt := newSession(app.ID, u.ID)
	mustNoErr(t, s.CreateSession(ctx(), sess, rt), "CreateSession")
	got, err := s.GetSession(ctx(), sess.ID)
	mustNoErr(t, err, "GetSession")
	if !reflect.DeepEqual(got, sess) {
		t.Fatalf("GetSession = %+v\nwant %+v", got, sess)
	}
	_, err = s.GetSession(ctx(), "nope")
	wantErr(t, err, latchkey.ErrNotFound, "GetSession of a missing session")

	later := base.Add(time.Hour)
	extra := newRefresh(sess, "fam-extra")
	extended, err := s.ExtendSession(ctx(), sess.ID, later, func(x *latchkey.Session) error {
		x.Methods = append(x.Methods, "sms")
		x.AuthenticatedAt = later
		x.ExpiresAt = later.Add(14 * 24 * time.Hour)
		return nil
	}, extra)
	mustNoErr(t, err, "ExtendSession")
	got, _ = s.GetSession(ctx(), sess.ID)
	if !reflect.DeepEqual(got, extended) || len(got.Methods) != 2 || !got.AuthenticatedAt.Equal(later) {
		t.Fatalf("session after ExtendSession = %+v; want %+v", got, extended)
	}

	// Listing: newest first, live only, per app and user.
	sess2, rt2 := newSession(app.ID, u.ID)
	mustNoErr(t, s.CreateSession(ctx(), sess2, rt2), "CreateSession 2")
	inOther, rt3 := newSession(other.ID, u.ID)
	mustNoErr(t, s.CreateSession(ctx(), inOther, rt3), "CreateSession other app")
	list, err := s.ListSessions(ctx(), app.ID, u.ID, later)
	mustNoErr(t, err, "ListSessions")
	if len(list) != 2 || list[0].ID != sess2.ID || list[1].ID != sess.ID {
		t.Fatalf("ListSessions = %v; want [%s %s]", sessionIDs(list), sess2.ID, sess.ID)
	}
	// Once sess2 has expired (sess was extended past it), only sess is
	// listed, although neither is revoked.
	list, _ = s.ListSessions(ctx(), app.ID, u.ID, sess2.ExpiresAt.Add(30*time.Minute))
	if len(list) != 1 || list[0].ID != sess.ID {
		t.Fatalf("ListSessions after %s expired = %v; want [%s]", sess2.ID, sessionIDs(list), sess.ID)
	}

	mustNoErr(t, s.RevokeSession(ctx(), sess.ID, later), "RevokeSession")
	wantErr(t, s.RevokeSession(ctx(), "nope", later), latchkey.ErrNotFound, "RevokeSession of a missing session")
	_, err = s.ExtendSession(ctx(), sess.ID, later, func(*latchkey.Session) error { return nil }, latchkey.RefreshToken{})
	wantErr(t, err, latchkey.ErrNotFound, "ExtendSession of a revoked session")
	_, err = s.RotateRefreshToken(ctx(), app.ID, rt.Hash, later, func(old latchkey.RefreshToken) (latchkey.RefreshToken, error) {
		return newRefresh(sess, old.FamilyID), nil
	})
	wantErr(t, err, latchkey.ErrNotFound, "RotateRefreshToken in a revoked session")
	list, _ = s.ListSessions(ctx(), app.ID, u.ID, later)
	if len(list) != 1 || list[0].ID != sess2.ID {
		t.Fatalf("ListSessions after revoking one = %v; want [%s]", sessionIDs(list), sess2.ID)
	}

	n, err := s.RevokeUserSessions(ctx(), app.ID, u.ID, later)
	mustNoErr(t, err, "RevokeUserSessions")
	if n != 1 {
		t.Fatalf("RevokeUserSessions ended %d; want 1", n)
	}
	if list, _ := s.ListSessions(ctx(), other.ID, u.ID, later); len(list) != 1 {
		t.Fatalf("RevokeUserSessions of one app ended the other app's session")
	}
	n, err = s.RevokeUserSessions(ctx(), "", u.ID, later)
	mustNoErr(t, err, "RevokeUserSessions everywhere")
	if n != 1 {
		t.Fatalf("RevokeUserSessions everywhere ended %d; want 1", n)
	}
	_, err = s.RotateRefreshToken(ctx(), other.ID, rt3.Hash, later, func(latchkey.RefreshToken) (latchkey.RefreshToken, error) {
		return newRefresh(inOther, "x"), nil
	})
	wantErr(t, err, latchkey.ErrNotFound, "RotateRefreshToken after RevokeUserSessions")

	// Purging removes revoked sessions and expired ones, revoked or not,
	// and keeps a live one.
	stale, rtStale := newSession(app.ID, u.ID)
	stale.ExpiresAt = base.Add(30 * time.Minute)
	mustNoErr(t, s.CreateSession(ctx(), stale, rtStale), "CreateSession stale")
	live, rtLive := newSession(app.ID, u.ID)
	mustNoErr(t, s.CreateSession(ctx(), live, rtLive), "CreateSession live")
	n, err = s.DeleteEndedSessions(ctx(), later.Add(time.Second))
	mustNoErr(t, err, "DeleteEndedSessions")
	if n != 4 {
		t.Fatalf("DeleteEndedSessions removed %d; want the 3 revoked sessions and the expired one", n)
	}
	_, err = s.GetSession(ctx(), stale.ID)
	wantErr(t, err, latchkey.ErrNotFound, "GetSession of a purged expired session")
	if _, err := s.GetSession(ctx(), live.ID); err != nil {
		t.Fatalf("purge removed a live session: %v", err)
	}
}

func sessionIDs(list []latchkey.Session) []string {
	var ids []string
	for _, s := range list {
		ids = append(ids, s.ID)
	}
	return ids
}

func testRefreshRotation(t *testing.T, s latchkey.Store) {
	app := mustCreateApp(t, s, "Refresh")
	other := mustCreateApp(t, s, "Other")
	u := mustCreateUser(t, s, app.ID, "r@example.com", "")
	sess, t1 := newSession(app.ID, u.ID)
	mustNoErr(t, s.CreateSession(ctx(), sess, t1), "CreateSession")
	at := base.Add(time.Minute)

	rotate := func(appID string, hash []byte) (latchkey.RefreshToken, latchkey.RefreshToken, error) {
		var made latchkey.RefreshToken
		old, err := s.RotateRefreshToken(ctx(), appID, hash, at, func(old latchkey.RefreshToken) (latchkey.RefreshToken, error) {
			made = newRefresh(sess, old.FamilyID)
			made.ExpiresAt = old.ExpiresAt
			return made, nil
		})
		return old, made, err
	}
	_, _, err := rotate(other.ID, t1.Hash)
	wantErr(t, err, latchkey.ErrNotFound, "RotateRefreshToken by another app")
	_, _, err = rotate(app.ID, []byte("unknown"))
	wantErr(t, err, latchkey.ErrNotFound, "RotateRefreshToken of an unknown token")

	old, t2, err := rotate(app.ID, t1.Hash)
	mustNoErr(t, err, "RotateRefreshToken")
	if old.ID != t1.ID || old.SessionID != sess.ID {
		t.Fatalf("RotateRefreshToken returned %+v; want the old token", old)
	}
	boom := errors.New("no")
	_, err = s.RotateRefreshToken(ctx(), app.ID, t2.Hash, at, func(latchkey.RefreshToken) (latchkey.RefreshToken, error) { return latchkey.RefreshToken{}, boom })
	if !errors.Is(err, boom) {
		t.Fatalf("RotateRefreshToken with failing next: %v", err)
	}

	// Replaying T1 revokes the family (T2 too) and the session.
	_, _, err = rotate(app.ID, t1.Hash)
	wantErr(t, err, latchkey.ErrReplayed, "replayed RotateRefreshToken")
	_, _, err = rotate(app.ID, t2.Hash)
	wantErr(t, err, latchkey.ErrNotFound, "RotateRefreshToken of the newest token after a replay")
	got, _ := s.GetSession(ctx(), sess.ID)
	if got.RevokedAt.IsZero() {
		t.Fatal("a replay left the session live")
	}

	// Expiry and explicit revocation.
	sess2, t3 := newSession(app.ID, u.ID)
	t3.ExpiresAt = at
	mustNoErr(t, s.CreateSession(ctx(), sess2, t3), "CreateSession 2")
	_, _, err = rotate(app.ID, t3.Hash)
	wantErr(t, err, latchkey.ErrNotFound, "RotateRefreshToken of an expired token")
	sess3, t4 := newSession(app.ID, u.ID)
	mustNoErr(t, s.CreateSession(ctx(), sess3, t4), "CreateSession 3")
	wantErr(t, s.RevokeRefreshToken(ctx(), other.ID, t4.Hash, at), latchkey.ErrNotFound, "RevokeRefreshToken by another app")
	mustNoErr(t, s.RevokeRefreshToken(ctx(), app.ID, t4.Hash, at), "RevokeRefreshToken")
	_, _, err = rotate(app.ID, t4.Hash)
	wantErr(t, err, latchkey.ErrNotFound, "RotateRefreshToken of a revoked token")
}

// testConcurrentRefresh checks that of several concurrent rotations of one
// refresh token exactly one succeeds.
func testConcurrentRefresh(t *testing.T, s latchkey.Store) {
	app := mustCreateApp(t, s, "RefreshRace")
	u := mustCreateUser(t, s, app.ID, "rr@example.com", "")
	sess, tok := newSession(app.ID, u.ID)
	mustNoErr(t, s.CreateSession(ctx(), sess, tok), "CreateSession")
	const n = 10
	nexts := make([]latchkey.RefreshToken, n)
	for i := range nexts {
		nexts[i] = newRefresh(sess, tok.FamilyID)
	}
	results := make(chan error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := s.RotateRefreshToken(ctx(), app.ID, tok.Hash, base, func(latchkey.RefreshToken) (latchkey.RefreshToken, error) {
				return nexts[i], nil
			})
			results <- err
		}()
	}
	close(start)
	wg.Wait()
	close(results)
	wins := 0
	for err := range results {
		if err == nil {
			wins++
		}
	}
	if wins != 1 {
		t.Fatalf("%d of %d concurrent refreshes succeeded; want exactly 1", wins, n)
	}
}
