package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// NewBenchStore opens a fresh, migrated and empty store for a benchmark.
type NewBenchStore func(b *testing.B) latchkey.Store

// Bench measures the store operations a login makes, so backends can be
// compared operation by operation: the reads every request does, the
// writes of a send (CreateChallenge, and with the counters a limited send
// spends: CreateChallengeWithSpend), the check before an authentication
// (BlockedUntil), of an authentication (its parts, then
// Login: the send and the attempt that signs in, a whole login's writes)
// and of a refresh (RotateRefreshToken).
func Bench(b *testing.B, newStore NewBenchStore) {
	benches := []struct {
		name string
		fn   func(*testing.B, latchkey.Store)
	}{
		{"GetAppByClientID", benchGetApp},
		{"GetUserByEmail", benchGetUser},
		{"CreateChallenge", benchCreateChallenge},
		{"CreateChallengeWithSpend", benchCreateChallengeSpend},
		{"BlockedUntil", benchBlockedUntil},
		{"AttemptChallenge", benchAttempt},
		{"UpdateUser", benchUpdateUser},
		{"CreateSession", benchCreateSession},
		{"Login", benchLogin},
		{"RotateRefreshToken", benchRotate},
	}
	for _, bb := range benches {
		b.Run(bb.name, func(b *testing.B) {
			s := newStore(b)
			bb.fn(b, s)
		})
	}
}

// benchFixture is an app with a user, created outside the timed loop.
func benchFixture(b *testing.B, s latchkey.Store) (latchkey.App, latchkey.User) {
	b.Helper()
	app := newApp("Bench")
	if err := s.CreateApp(ctx(), app); err != nil {
		b.Fatal(err)
	}
	u := newUser("bench@example.com", "+14155550100")
	if err := s.CreateUser(ctx(), u, member(app.ID)); err != nil {
		b.Fatal(err)
	}
	return app, u
}

func benchGetApp(b *testing.B, s latchkey.Store) {
	app, _ := benchFixture(b, s)
	for b.Loop() {
		if _, err := s.GetAppByClientID(ctx(), app.ClientID); err != nil {
			b.Fatal(err)
		}
	}
}

func benchGetUser(b *testing.B, s latchkey.Store) {
	_, u := benchFixture(b, s)
	for b.Loop() {
		if _, err := s.GetUserByEmail(ctx(), u.EmailKey); err != nil {
			b.Fatal(err)
		}
	}
}

func benchCreateChallenge(b *testing.B, s latchkey.Store) {
	app, u := benchFixture(b, s)
	i := 0
	for b.Loop() {
		i++
		c := newChallenge(app.ID, "user:"+u.ID, latchkey.KindOTP)
		c.CodeHash = []byte(fmt.Sprintf("bench-%d", i))
		m := newMessage(app.ID)
		m.ID = fmt.Sprintf("bench-msg-%d", i)
		if err := s.CreateChallenge(ctx(), c, &m, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// benchCreateChallengeSpend is a send under limits: two counters (the
// destination and the subject) read, each given an event, and written with
// the challenge, as package ratelimit has a send do. The subjects rotate so
// that each counter holds a few events, as under steady load.
func benchCreateChallengeSpend(b *testing.B, s latchkey.Store) {
	app, _ := benchFixture(b, s)
	i := 0
	for b.Loop() {
		i++
		subject := fmt.Sprintf("user:bench%d", i%64)
		c := newChallenge(app.ID, subject, latchkey.KindOTP)
		c.CodeHash = []byte(fmt.Sprintf("bench-%d", i))
		spend := &latchkey.CounterUpdate{Keys: []string{app.ID + "/destination/" + subject, app.ID + "/subject/" + subject},
			Update: func(cs []*latchkey.Counter) error {
				for _, c := range cs {
					c.Events = append(c.Events, base.Add(time.Duration(i)*time.Millisecond))
					if len(c.Events) > 10 {
						c.Events = c.Events[1:]
					}
					c.ExpiresAt = base.Add(24 * time.Hour)
				}
				return nil
			}}
		if err := s.CreateChallenge(ctx(), c, nil, spend); err != nil {
			b.Fatal(err)
		}
	}
}

// benchBlockedUntil is the read an authentication does before its code is
// evaluated: the app's failure budget.
func benchBlockedUntil(b *testing.B, s latchkey.Store) {
	app, _ := benchFixture(b, s)
	keys := []string{app.ID + "/failures/x"}
	if err := s.UpdateCounters(ctx(), keys, capped(100)); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.BlockedUntil(ctx(), keys); err != nil {
			b.Fatal(err)
		}
	}
}

func benchAttempt(b *testing.B, s latchkey.Store) {
	app, u := benchFixture(b, s)
	if err := s.CreateChallenge(ctx(), newChallenge(app.ID, "user:"+u.ID, latchkey.KindOTP), nil, nil); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		err := s.AttemptChallenge(ctx(), app.ID, latchkey.KindOTP, "user:"+u.ID, base,
			func(c *latchkey.AttemptCounter, _ *latchkey.Challenge) (latchkey.AttemptResult, error) {
				c.Failures = (c.Failures + 1) % 3
				return latchkey.AttemptResult{}, nil
			})
		if err != nil {
			b.Fatal(err)
		}
	}
}

func benchUpdateUser(b *testing.B, s latchkey.Store) {
	_, u := benchFixture(b, s)
	for b.Loop() {
		_, err := s.UpdateUser(ctx(), u.ID, func(x *latchkey.User) error {
			x.LastAuthAt = x.LastAuthAt.Add(time.Second)
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

func benchCreateSession(b *testing.B, s latchkey.Store) {
	app, u := benchFixture(b, s)
	i := 0
	for b.Loop() {
		i++
		sess, rt := newSession(app.ID, u.ID)
		sess.ID, rt.ID = fmt.Sprintf("bench-s-%d", i), fmt.Sprintf("bench-r-%d", i)
		rt.SessionID, rt.Hash = sess.ID, []byte(fmt.Sprintf("bench-h-%d", i))
		if err := s.CreateSession(ctx(), sess, rt); err != nil {
			b.Fatal(err)
		}
	}
}

func benchRotate(b *testing.B, s latchkey.Store) {
	app, u := benchFixture(b, s)
	sess, rt := newSession(app.ID, u.ID)
	if err := s.CreateSession(ctx(), sess, rt); err != nil {
		b.Fatal(err)
	}
	hash, i := rt.Hash, 0
	for b.Loop() {
		i++
		next := newRefresh(sess, rt.FamilyID)
		next.ID, next.Hash = fmt.Sprintf("bench-rot-%d", i), []byte(fmt.Sprintf("bench-rot-h-%d", i))
		if _, err := s.RotateRefreshToken(ctx(), app.ID, hash, base, func(latchkey.RefreshToken) (latchkey.RefreshToken, error) {
			return next, nil
		}); err != nil {
			b.Fatal(err)
		}
		hash = next.Hash
	}
}

// benchLogin makes a login's two write transactions: the send, then the
// attempt that consumes the code, records the login and opens a session.
func benchLogin(b *testing.B, s latchkey.Store) {
	app, u := benchFixture(b, s)
	subject, i := "user:"+u.ID, 0
	for b.Loop() {
		i++
		c := newChallenge(app.ID, subject, latchkey.KindOTP)
		c.UserID, c.CodeHash = u.ID, []byte(fmt.Sprintf("bench-login-%d", i))
		if err := s.CreateChallenge(ctx(), c, nil, nil); err != nil {
			b.Fatal(err)
		}
		sess, rt := newSession(app.ID, u.ID)
		sess.ID, rt.ID = fmt.Sprintf("bench-ls-%d", i), fmt.Sprintf("bench-lr-%d", i)
		rt.SessionID, rt.Hash = sess.ID, []byte(fmt.Sprintf("bench-lh-%d", i))
		in := &latchkey.SignIn{UserID: u.ID, Session: sess, Refresh: rt, UpdateUser: func(x *latchkey.User) error {
			x.LastAuthAt = x.LastAuthAt.Add(time.Second)
			return nil
		}}
		err := s.AttemptChallenge(ctx(), app.ID, latchkey.KindOTP, subject, base,
			func(*latchkey.AttemptCounter, *latchkey.Challenge) (latchkey.AttemptResult, error) {
				return latchkey.AttemptResult{Consume: true, SignIn: in}, nil
			})
		if err != nil {
			b.Fatal(err)
		}
	}
}
