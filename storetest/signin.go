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

// signInFixture is an app, a user who never signed in, and a live passcode
// for that user.
func signInFixture(t *testing.T, s latchkey.Store, name string) (latchkey.App, latchkey.User, latchkey.Challenge) {
	t.Helper()
	app := mustCreateApp(t, s, name)
	u := mustCreateUser(t, s, app.ID, fmt.Sprintf("signin%d@example.com", next()), "")
	c := newChallenge(app.ID, "user:"+u.ID, latchkey.KindOTP)
	c.UserID = u.ID
	mustNoErr(t, s.CreateChallenge(ctx(), c, nil, nil), "CreateChallenge")
	return app, u, c
}

// newSignIn records a login at base and opens a new session.
func newSignIn(app latchkey.App, userID string) (*latchkey.SignIn, latchkey.Session) {
	sess, rt := newSession(app.ID, userID)
	return &latchkey.SignIn{UserID: userID, Session: sess, Refresh: rt, UpdateUser: func(u *latchkey.User) error {
		u.LastAuthAt, u.UpdatedAt = base, base
		return nil
	}}, sess
}

// wantSignedIn checks that in was written whole: the user updated, the
// session and its refresh token stored.
func wantSignedIn(t *testing.T, s latchkey.Store, app latchkey.App, in *latchkey.SignIn, sess latchkey.Session) {
	t.Helper()
	u, err := s.GetUser(ctx(), in.UserID)
	mustNoErr(t, err, "GetUser")
	if !u.LastAuthAt.Equal(base) {
		t.Fatalf("user's last login = %v; want %v, written with the sign-in", u.LastAuthAt, base)
	}
	got, err := s.GetSession(ctx(), sess.ID)
	mustNoErr(t, err, "GetSession of the signed-in session")
	if !reflect.DeepEqual(got, sess) {
		t.Fatalf("session = %+v\nwant %+v", got, sess)
	}
	rotated, err := s.RotateRefreshToken(ctx(), app.ID, in.Refresh.Hash, base, func(old latchkey.RefreshToken) (latchkey.RefreshToken, error) {
		return newRefresh(sess, old.FamilyID), nil
	})
	mustNoErr(t, err, "RotateRefreshToken of the sign-in's refresh token")
	if rotated.ID != in.Refresh.ID {
		t.Fatalf("rotated refresh token %s; want the sign-in's %s", rotated.ID, in.Refresh.ID)
	}
}

// wantNothingWritten checks that a failed sign-in left the challenge live,
// the counter as it was, the user unchanged and no session.
func wantNothingWritten(t *testing.T, s latchkey.Store, app latchkey.App, c latchkey.Challenge, failures int, sess latchkey.Session) {
	t.Helper()
	counter, live := readCounter(t, s, app.ID, c.Subject)
	if live == nil || live.ID != c.ID || counter.Failures != failures {
		t.Fatalf("after a failed sign-in: counter %+v, live %v; want %d failures and %s still live", counter, live, failures, c.ID)
	}
	u, err := s.GetUser(ctx(), c.UserID)
	mustNoErr(t, err, "GetUser after a failed sign-in")
	if !u.LastAuthAt.IsZero() {
		t.Fatalf("a failed sign-in updated the user: last login %v", u.LastAuthAt)
	}
	_, err = s.GetSession(ctx(), sess.ID)
	wantErr(t, err, latchkey.ErrNotFound, "GetSession after a failed sign-in")
}

// signInAttempt resets the counter and consumes the challenge with in.
func signInAttempt(s latchkey.Store, app latchkey.App, c latchkey.Challenge, in *latchkey.SignIn) error {
	return s.AttemptChallenge(ctx(), app.ID, latchkey.KindOTP, c.Subject, base,
		func(counter *latchkey.AttemptCounter, _ *latchkey.Challenge) (latchkey.AttemptResult, error) {
			counter.Failures = 0
			return latchkey.AttemptResult{Consume: true, SignIn: in}, nil
		})
}

// setFailures stores a failure count for the challenge's subject.
func setFailures(t *testing.T, s latchkey.Store, app latchkey.App, c latchkey.Challenge, n int) {
	t.Helper()
	err := s.AttemptChallenge(ctx(), app.ID, latchkey.KindOTP, c.Subject, base,
		func(counter *latchkey.AttemptCounter, _ *latchkey.Challenge) (latchkey.AttemptResult, error) {
			counter.Failures = n
			return latchkey.AttemptResult{}, nil
		})
	mustNoErr(t, err, "AttemptChallenge counting failures")
}

// testAttemptSignIn checks that a successful attempt writes its sign-in in
// its own transaction: all of it, or, when any part fails, nothing at all.
func testAttemptSignIn(t *testing.T, s latchkey.Store) {
	app, u, c := signInFixture(t, s, "Attempt sign-in")
	setFailures(t, s, app, c, 2)

	// A session ID already taken fails the sign-in and undoes the attempt.
	taken, takenRT := newSession(app.ID, u.ID)
	mustNoErr(t, s.CreateSession(ctx(), taken, takenRT), "CreateSession")
	in, _ := newSignIn(app, u.ID)
	in.Session.ID, in.Refresh.SessionID = taken.ID, taken.ID
	wantErr(t, signInAttempt(s, app, c, in), latchkey.ErrConflict, "AttemptChallenge signing in to a taken session ID")
	counter, live := readCounter(t, s, app.ID, c.Subject)
	if live == nil || live.ID != c.ID || counter.Failures != 2 {
		t.Fatalf("after a sign-in to a taken session ID: counter %+v, live %v; want 2 failures and %s still live", counter, live, c.ID)
	}
	if got, err := s.GetSession(ctx(), taken.ID); err != nil || !reflect.DeepEqual(got, taken) {
		t.Fatalf("the taken session after the failed sign-in = %+v, %v; want it unchanged %+v", got, err, taken)
	}

	// UpdateUser's error aborts everything and comes back as is.
	refused := errors.New("refused")
	in, sess := newSignIn(app, u.ID)
	in.UpdateUser = func(*latchkey.User) error { return refused }
	if err := signInAttempt(s, app, c, in); err != refused {
		t.Fatalf("AttemptChallenge with a failing UpdateUser: %v; want its error", err)
	}
	wantNothingWritten(t, s, app, c, 2, sess)

	// A user who is gone is not found, and nothing is written.
	in, sess = newSignIn(app, "no-such-user")
	wantErr(t, signInAttempt(s, app, c, in), latchkey.ErrNotFound, "AttemptChallenge signing in a missing user")
	wantNothingWritten(t, s, app, c, 2, sess)

	in, sess = newSignIn(app, u.ID)
	mustNoErr(t, signInAttempt(s, app, c, in), "AttemptChallenge with a sign-in")
	if counter, live := readCounter(t, s, app.ID, c.Subject); counter.Failures != 0 || live != nil {
		t.Fatalf("after signing in: counter %+v, live %v; want reset and consumed", counter, live)
	}
	wantSignedIn(t, s, app, in, sess)

	// A sign-in without a session updates only the user.
	app2, u2, c2 := signInFixture(t, s, "Attempt sign-in, no session")
	in, _ = newSignIn(app2, u2.ID)
	in.Session, in.Refresh = latchkey.Session{}, latchkey.RefreshToken{}
	mustNoErr(t, signInAttempt(s, app2, c2, in), "AttemptChallenge with a sign-in and no session")
	got, err := s.GetUser(ctx(), u2.ID)
	mustNoErr(t, err, "GetUser")
	list, err := s.ListSessions(ctx(), app2.ID, u2.ID, base)
	mustNoErr(t, err, "ListSessions")
	if !got.LastAuthAt.Equal(base) || len(list) != 0 {
		t.Fatalf("sign-in without a session: last login %v, %d sessions; want %v and none", got.LastAuthAt, len(list), base)
	}
}

// testConsumeSignIn checks the same of ConsumeChallenge, and that of
// concurrent consumptions each carrying its own session exactly one
// session is stored.
func testConsumeSignIn(t *testing.T, s latchkey.Store) {
	app, u, c := signInFixture(t, s, "Consume sign-in")
	in, sess := newSignIn(app, "no-such-user")
	wantErr(t, s.ConsumeChallenge(ctx(), c.ID, base, in), latchkey.ErrNotFound, "ConsumeChallenge signing in a missing user")
	wantNothingWritten(t, s, app, c, 0, sess)

	const n = 20
	results := make(chan error, n)
	sessions := make([]latchkey.Session, n)
	signIns := make([]*latchkey.SignIn, n)
	for i := range n {
		signIns[i], sessions[i] = newSignIn(app, u.ID)
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results <- s.ConsumeChallenge(ctx(), c.ID, base.Add(time.Second), signIns[i])
		}()
	}
	close(start)
	wg.Wait()
	close(results)
	for err := range results {
		if err != nil && !isConflict(err) {
			t.Fatalf("concurrent ConsumeChallenge with sign-ins: %v; want success or ErrConflict", err)
		}
	}
	list, err := s.ListSessions(ctx(), app.ID, u.ID, base)
	mustNoErr(t, err, "ListSessions")
	if len(list) != 1 {
		t.Fatalf("%d concurrent consumptions stored %d sessions; want exactly 1", n, len(list))
	}
	for i := range sessions {
		if sessions[i].ID == list[0].ID {
			wantSignedIn(t, s, app, signIns[i], sessions[i])
			return
		}
	}
	t.Fatalf("stored session %s is none of the sign-ins'", list[0].ID)
}

// testEscalatingCounter checks that a counter keeps its consecutive
// failures and lockouts, that a purge keeps a counter that still counts
// failures after its lockout is over, and that a sign-in naming the counter
// resets it atomically with the rest of the sign-in.
func testEscalatingCounter(t *testing.T, s latchkey.Store) {
	app, u, c := signInFixture(t, s, "Escalation")
	subject := c.Subject
	set := func(subject string, c latchkey.AttemptCounter) {
		t.Helper()
		err := s.AttemptChallenge(ctx(), app.ID, latchkey.KindOTP, subject, base,
			func(counter *latchkey.AttemptCounter, _ *latchkey.Challenge) (latchkey.AttemptResult, error) {
				counter.Failures, counter.Consecutive, counter.Lockouts, counter.LockedUntil = c.Failures, c.Consecutive, c.Lockouts, c.LockedUntil
				return latchkey.AttemptResult{}, nil
			})
		mustNoErr(t, err, "AttemptChallenge setting a counter")
	}
	want := latchkey.AttemptCounter{AppID: app.ID, Subject: subject, Failures: 0, Consecutive: 7, Lockouts: 2, LockedUntil: base}
	set(subject, want)
	set("user:other", want)
	if got, _ := readCounter(t, s, app.ID, subject); got != want {
		t.Fatalf("stored counter %+v; want %+v", got, want)
	}
	_, err := s.DeleteExpiredChallenges(ctx(), base.Add(time.Second))
	mustNoErr(t, err, "DeleteExpiredChallenges")
	if got, _ := readCounter(t, s, app.ID, subject); got != want {
		t.Fatalf("after a purge the counter is %+v; want it kept: its lockout is over but it counts 7 failures", got)
	}

	// The sign-in fails: the counter stays.
	in, _ := newSignIn(app, "no-such-user")
	in.ResetAttempts = &latchkey.AttemptCounter{AppID: app.ID, Subject: subject}
	wantErr(t, s.ConsumeChallenge(ctx(), c.ID, base, in), latchkey.ErrNotFound, "ConsumeChallenge signing in a missing user")
	if got, _ := readCounter(t, s, app.ID, subject); got != want {
		t.Fatalf("a failed sign-in changed the counter to %+v", got)
	}
	in, sess := newSignIn(app, u.ID)
	in.ResetAttempts = &latchkey.AttemptCounter{AppID: app.ID, Subject: subject}
	mustNoErr(t, s.ConsumeChallenge(ctx(), c.ID, base, in), "ConsumeChallenge resetting the counter")
	wantSignedIn(t, s, app, in, sess)
	if got, _ := readCounter(t, s, app.ID, subject); got != (latchkey.AttemptCounter{AppID: app.ID, Subject: subject}) {
		t.Fatalf("after a sign-in naming it the counter is %+v; want it reset", got)
	}
	other := want
	other.Subject = "user:other"
	if got, _ := readCounter(t, s, app.ID, "user:other"); got != other {
		t.Fatalf("another subject's counter is %+v; want it untouched", got)
	}
}
