package storetest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
)

func newChallenge(appID, subject string, kind latchkey.ChallengeKind) latchkey.Challenge {
	n := next()
	return latchkey.Challenge{
		ID: fmt.Sprintf("ch%d", n), AppID: appID, Kind: kind, Subject: subject, Channel: latchkey.ChannelEmail,
		Destination: "a@example.com", CodeHash: []byte(fmt.Sprintf("hash-%d", n)),
		CreatedAt: base, ExpiresAt: base.Add(5 * time.Minute),
	}
}

func newMessage(appID string) latchkey.Message {
	n := next()
	return latchkey.Message{ID: fmt.Sprintf("msg%d", n), AppID: appID, Channel: latchkey.ChannelEmail, To: "a@example.com",
		Subject: "Your code", Text: "Code 123456", HTML: "<p>Code 123456</p>", Sealed: []byte("sealed\x00body"), From: "Shop", Status: latchkey.MessageQueued,
		CreatedAt: base.Add(time.Duration(n) * time.Millisecond), NextAttemptAt: base, ExpiresAt: base.Add(5 * time.Minute)}
}

func testChallengeLifecycle(t *testing.T, s latchkey.Store) {
	app := mustCreateApp(t, s, "Codes")
	u := mustCreateUser(t, s, app.ID, "c@example.com", "")
	c := newChallenge(app.ID, "user:"+u.ID, latchkey.KindOTP)
	c.UserID, c.RequestID = u.ID, "req-1"
	c.ApprovalData = json.RawMessage(`{"sum":"200"}`)
	msg := newMessage(app.ID)
	mustNoErr(t, s.CreateChallenge(ctx(), c, &msg, nil), "CreateChallenge")

	got, err := s.GetLiveChallenge(ctx(), app.ID, latchkey.KindOTP, c.Subject)
	mustNoErr(t, err, "GetLiveChallenge")
	if !reflect.DeepEqual(got, c) {
		t.Fatalf("GetLiveChallenge = %+v\nwant %+v", got, c)
	}
	byHash, err := s.GetChallengeByCodeHash(ctx(), latchkey.KindOTP, c.CodeHash)
	mustNoErr(t, err, "GetChallengeByCodeHash")
	if byHash.ID != c.ID {
		t.Fatalf("GetChallengeByCodeHash = %s; want %s", byHash.ID, c.ID)
	}
	_, err = s.GetChallengeByCodeHash(ctx(), latchkey.KindLink, c.CodeHash)
	wantErr(t, err, latchkey.ErrNotFound, "GetChallengeByCodeHash of another kind")
	_, err = s.GetLiveChallenge(ctx(), app.ID, latchkey.KindLink, c.Subject)
	wantErr(t, err, latchkey.ErrNotFound, "GetLiveChallenge of another kind")

	// The message was queued with the challenge.
	queued, err := s.ListMessages(ctx(), latchkey.MessageQueued, 10)
	mustNoErr(t, err, "ListMessages")
	if len(queued) != 1 || queued[0].ID != msg.ID || queued[0].Text != "" {
		t.Fatalf("queued messages = %+v; want the challenge's message, listed without content", queued)
	}

	// A new challenge for the same subject replaces the old one.
	c2 := newChallenge(app.ID, c.Subject, latchkey.KindOTP)
	mustNoErr(t, s.CreateChallenge(ctx(), c2, nil, nil), "CreateChallenge again")
	live, err := s.GetLiveChallenge(ctx(), app.ID, latchkey.KindOTP, c.Subject)
	mustNoErr(t, err, "GetLiveChallenge")
	if live.ID != c2.ID {
		t.Fatalf("live challenge after a resend = %s; want the new %s", live.ID, c2.ID)
	}
	old, err := s.GetChallengeByCodeHash(ctx(), latchkey.KindOTP, c.CodeHash)
	mustNoErr(t, err, "GetChallengeByCodeHash of the replaced challenge")
	if old.ConsumedAt.IsZero() {
		t.Fatal("the replaced challenge is still live")
	}
	wantErr(t, s.ConsumeChallenge(ctx(), c.ID, base, nil), latchkey.ErrConflict, "ConsumeChallenge of a replaced challenge")

	// A link challenge for the same subject lives beside the passcode.
	link := newChallenge(app.ID, c.Subject, latchkey.KindLink)
	mustNoErr(t, s.CreateChallenge(ctx(), link, nil, nil), "CreateChallenge link")
	if _, err := s.GetLiveChallenge(ctx(), app.ID, latchkey.KindOTP, c.Subject); err != nil {
		t.Fatalf("a link replaced the passcode: %v", err)
	}

	mustNoErr(t, s.ConsumeChallenge(ctx(), c2.ID, base.Add(time.Minute), nil), "ConsumeChallenge")
	wantErr(t, s.ConsumeChallenge(ctx(), c2.ID, base.Add(time.Minute), nil), latchkey.ErrConflict, "ConsumeChallenge twice")
	wantErr(t, s.ConsumeChallenge(ctx(), "nope", base, nil), latchkey.ErrNotFound, "ConsumeChallenge of a missing challenge")
	_, err = s.GetLiveChallenge(ctx(), app.ID, latchkey.KindOTP, c.Subject)
	wantErr(t, err, latchkey.ErrNotFound, "GetLiveChallenge after consumption")

	dup := newChallenge(app.ID, "user:other", latchkey.KindOTP)
	dup.CodeHash = c.CodeHash
	wantErr(t, s.CreateChallenge(ctx(), dup, nil, nil), latchkey.ErrConflict, "CreateChallenge with a taken code hash")

	// Purging removes what is past use, consumed or expired unused, and
	// keeps what is live.
	stale := newChallenge(app.ID, "user:stale", latchkey.KindOTP)
	stale.ExpiresAt = base.Add(time.Minute)
	mustNoErr(t, s.CreateChallenge(ctx(), stale, nil, nil), "CreateChallenge stale")
	n, err := s.DeleteExpiredChallenges(ctx(), base.Add(2*time.Minute))
	mustNoErr(t, err, "DeleteExpiredChallenges")
	if n != 3 {
		t.Fatalf("DeleteExpiredChallenges removed %d; want the 2 consumed challenges and the expired one", n)
	}
	_, err = s.GetChallengeByCodeHash(ctx(), latchkey.KindOTP, stale.CodeHash)
	wantErr(t, err, latchkey.ErrNotFound, "GetChallengeByCodeHash of a purged expired challenge")
	if _, err := s.GetLiveChallenge(ctx(), app.ID, latchkey.KindLink, c.Subject); err != nil {
		t.Fatalf("purge removed a live challenge: %v", err)
	}
}

// testConcurrentConsume checks single use: of 20 concurrent consumptions of
// one challenge exactly one succeeds.
func testConcurrentConsume(t *testing.T, s latchkey.Store) {
	app := mustCreateApp(t, s, "Race")
	c := newChallenge(app.ID, "user:x", latchkey.KindLink)
	mustNoErr(t, s.CreateChallenge(ctx(), c, nil, nil), "CreateChallenge")
	const n = 20
	results := make(chan error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results <- s.ConsumeChallenge(ctx(), c.ID, base, nil)
		}()
	}
	close(start)
	wg.Wait()
	close(results)
	wins := 0
	for err := range results {
		switch {
		case err == nil:
			wins++
		case !isConflict(err):
			t.Fatalf("concurrent ConsumeChallenge: %v; want success or ErrConflict", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d of %d concurrent consumptions succeeded; want exactly 1", wins, n)
	}
}

// readCounter reads a counter through a no-op attempt.
func readCounter(t *testing.T, s latchkey.Store, appID, subject string) (latchkey.AttemptCounter, *latchkey.Challenge) {
	t.Helper()
	var (
		got  latchkey.AttemptCounter
		live *latchkey.Challenge
	)
	err := s.AttemptChallenge(ctx(), appID, latchkey.KindOTP, subject, base, func(c *latchkey.AttemptCounter, l *latchkey.Challenge) (latchkey.AttemptResult, error) {
		got, live = *c, l
		return latchkey.AttemptResult{}, nil
	})
	mustNoErr(t, err, "AttemptChallenge")
	return got, live
}

func testAttemptCounter(t *testing.T, s latchkey.Store) {
	app := mustCreateApp(t, s, "Counter")
	c, live := readCounter(t, s, app.ID, "user:a")
	if c.Failures != 0 || !c.LockedUntil.IsZero() || c.AppID != app.ID || c.Subject != "user:a" || live != nil {
		t.Fatalf("new counter = %+v, live %v; want zero and no challenge", c, live)
	}
	ch := newChallenge(app.ID, "user:a", latchkey.KindOTP)
	mustNoErr(t, s.CreateChallenge(ctx(), ch, nil, nil), "CreateChallenge")

	err := s.AttemptChallenge(ctx(), app.ID, latchkey.KindOTP, "user:a", base, func(c *latchkey.AttemptCounter, l *latchkey.Challenge) (latchkey.AttemptResult, error) {
		if l == nil || l.ID != ch.ID {
			t.Errorf("attempt sees live challenge %v; want %s", l, ch.ID)
		}
		c.Failures, c.LockedUntil = 2, base.Add(time.Minute)
		return latchkey.AttemptResult{}, nil
	})
	mustNoErr(t, err, "AttemptChallenge")
	c, live = readCounter(t, s, app.ID, "user:a")
	if c.Failures != 2 || !c.LockedUntil.Equal(base.Add(time.Minute)) || live == nil {
		t.Fatalf("stored counter = %+v, live %v; want 2 failures, locked until %v, challenge kept", c, live, base.Add(time.Minute))
	}
	if other, _ := readCounter(t, s, app.ID, "user:b"); other.Failures != 0 {
		t.Fatalf("another subject's counter = %+v; want independent", other)
	}

	boom := fmt.Errorf("abort")
	err = s.AttemptChallenge(ctx(), app.ID, latchkey.KindOTP, "user:a", base, func(c *latchkey.AttemptCounter, _ *latchkey.Challenge) (latchkey.AttemptResult, error) {
		c.Failures = 99
		return latchkey.AttemptResult{Consume: true}, boom
	})
	if err != boom {
		t.Fatalf("AttemptChallenge with failing attempt: %v; want its error", err)
	}
	if c, live = readCounter(t, s, app.ID, "user:a"); c.Failures != 2 || live == nil {
		t.Fatalf("an aborted attempt changed state: %+v, live %v", c, live)
	}

	// Consuming through an attempt ends the challenge.
	err = s.AttemptChallenge(ctx(), app.ID, latchkey.KindOTP, "user:a", base, func(c *latchkey.AttemptCounter, _ *latchkey.Challenge) (latchkey.AttemptResult, error) {
		c.Failures = 0
		return latchkey.AttemptResult{Consume: true}, nil
	})
	mustNoErr(t, err, "AttemptChallenge consume")
	if c, live = readCounter(t, s, app.ID, "user:a"); c.Failures != 0 || live != nil {
		t.Fatalf("after a consuming attempt: %+v, live %v; want reset and no live challenge", c, live)
	}
}

// testConcurrentAttempts checks that attempts on one subject are serialised:
// 200 concurrent attempts each see every failure recorded before them, so
// none is lost and exactly one consumes the challenge.
func testConcurrentAttempts(t *testing.T, s latchkey.Store) {
	app := mustCreateApp(t, s, "Hammer")
	mustNoErr(t, s.CreateChallenge(ctx(), newChallenge(app.ID, "user:h", latchkey.KindOTP), nil, nil), "CreateChallenge")
	const n = 200
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		seen     = map[int]bool{}
		consumed int
	)
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.AttemptChallenge(ctx(), app.ID, latchkey.KindOTP, "user:h", base, func(c *latchkey.AttemptCounter, l *latchkey.Challenge) (latchkey.AttemptResult, error) {
				mu.Lock()
				defer mu.Unlock()
				if seen[c.Failures] {
					t.Errorf("two attempts saw the same count %d: a failure was lost", c.Failures)
				}
				seen[c.Failures] = true
				c.Failures++
				if l != nil && c.Failures == 100 {
					consumed++
					return latchkey.AttemptResult{Consume: true}, nil
				}
				return latchkey.AttemptResult{}, nil
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		mustNoErr(t, err, "concurrent AttemptChallenge")
	}
	c, live := readCounter(t, s, app.ID, "user:h")
	if c.Failures != n || consumed != 1 || live != nil {
		t.Fatalf("after %d concurrent attempts: %d failures, %d consumptions, live %v; want %d, 1, none", n, c.Failures, consumed, live, n)
	}
}
