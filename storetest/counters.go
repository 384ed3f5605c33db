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

// errCapped is the refusal the suite's counter updates return at their cap.
var errCapped = errors.New("capped")

// readCounters reads counters through an update that changes nothing.
func readCounters(t *testing.T, s latchkey.Store, keys ...string) []latchkey.Counter {
	t.Helper()
	var got []latchkey.Counter
	err := s.UpdateCounters(ctx(), keys, func(cs []*latchkey.Counter) error {
		got = got[:0]
		for _, c := range cs {
			got = append(got, *c)
		}
		return nil
	})
	mustNoErr(t, err, "UpdateCounters (read)")
	return got
}

// capped returns an update that appends an event at base to every counter
// unless one already holds limit events, in which case it refuses.
func capped(limit int) func([]*latchkey.Counter) error {
	return func(cs []*latchkey.Counter) error {
		for _, c := range cs {
			if len(c.Events) >= limit {
				return errCapped
			}
		}
		for _, c := range cs {
			c.Events = append(c.Events, base.Add(time.Duration(len(c.Events))*time.Millisecond))
			c.Count++
			c.ExpiresAt = base.Add(time.Hour)
		}
		return nil
	}
}

func testCounters(t *testing.T, s latchkey.Store) {
	fresh := readCounters(t, s, "app1/sends/a", "app1/sends/b")
	if len(fresh) != 2 || !reflect.DeepEqual(fresh[0], latchkey.Counter{Key: "app1/sends/a"}) || fresh[1].Key != "app1/sends/b" {
		t.Fatalf("counters never written = %+v; want zero counters carrying their keys", fresh)
	}
	want := latchkey.Counter{Key: "app1/sends/a", Events: []time.Time{base, base.Add(1500 * time.Millisecond), base.Add(25 * time.Hour)},
		Count: 7, BlockedUntil: base.Add(time.Minute), ExpiresAt: base.Add(26 * time.Hour)}
	err := s.UpdateCounters(ctx(), []string{"app1/sends/a", "app1/sends/b"}, func(cs []*latchkey.Counter) error {
		*cs[0] = want
		cs[0].Key = "ignored: the key is kept"
		return nil
	})
	mustNoErr(t, err, "UpdateCounters")
	got := readCounters(t, s, "app1/sends/b", "app1/sends/a")
	if !reflect.DeepEqual(got[1], want) {
		t.Fatalf("stored counter = %+v\nwant %+v", got[1], want)
	}
	if got[0].Key != "app1/sends/b" || len(got[0].Events) != 0 || got[0].Count != 0 || !got[0].ExpiresAt.IsZero() {
		t.Fatalf("the counter update left alone = %+v; want still zero", got[0])
	}

	blocked, err := s.BlockedUntil(ctx(), []string{"app1/none", "app1/sends/a"})
	mustNoErr(t, err, "BlockedUntil")
	if len(blocked) != 2 || !blocked[0].IsZero() || !blocked[1].Equal(want.BlockedUntil) {
		t.Fatalf("BlockedUntil = %v; want [zero %v] in the order of the keys", blocked, want.BlockedUntil)
	}

	// Clearing a counter stores it empty.
	err = s.UpdateCounters(ctx(), []string{"app1/sends/a"}, func(cs []*latchkey.Counter) error {
		cs[0].Events, cs[0].Count, cs[0].BlockedUntil = nil, 0, time.Time{}
		return nil
	})
	mustNoErr(t, err, "UpdateCounters (clear)")
	if c := readCounters(t, s, "app1/sends/a")[0]; len(c.Events) != 0 || c.Count != 0 || !c.BlockedUntil.IsZero() || !c.ExpiresAt.Equal(want.ExpiresAt) {
		t.Fatalf("cleared counter = %+v; want no events, no count, not blocked", c)
	}
}

// testCounterRefusal checks that a refusing update writes nothing, even to
// the counters it changed before refusing, and that its error comes back as
// is.
func testCounterRefusal(t *testing.T, s latchkey.Store) {
	keys := []string{"app1/r/a", "app1/r/b"}
	mustNoErr(t, s.UpdateCounters(ctx(), keys, capped(1)), "UpdateCounters")
	refusal := &latchkey.Error{Code: latchkey.CodeRateLimited, Message: "slow down", RetryAfter: time.Second}
	err := s.UpdateCounters(ctx(), keys, func(cs []*latchkey.Counter) error {
		cs[0].Count, cs[1].Count = 100, 100
		cs[0].Events = nil
		return refusal
	})
	if err != refusal {
		t.Fatalf("UpdateCounters with a refusing update: %v; want its error as is", err)
	}
	for _, c := range readCounters(t, s, keys...) {
		if c.Count != 1 || len(c.Events) != 1 {
			t.Fatalf("after a refused update, counter %+v; want it as before", c)
		}
	}
}

// testConcurrentCounters races updates of one key that admit up to a cap:
// exactly the cap are admitted, whoever runs them.
func testConcurrentCounters(t *testing.T, s latchkey.Store) {
	const n, limit = 40, 10
	admitted := raceUpdates(t, n, func(int) error { return s.UpdateCounters(ctx(), []string{"app1/race"}, capped(limit)) })
	c := readCounters(t, s, "app1/race")[0]
	if admitted != limit || len(c.Events) != limit || c.Count != limit {
		t.Fatalf("%d concurrent updates capped at %d: %d admitted, counter %d events, count %d; want exactly %d",
			n, limit, admitted, len(c.Events), c.Count, limit)
	}
}

// testConcurrentMultiKeyCounters races updates of overlapping key sets named
// in different orders: none deadlocks, and none is lost.
func testConcurrentMultiKeyCounters(t *testing.T, s latchkey.Store) {
	sets := [][]string{{"app1/m/a", "app1/m/b"}, {"app1/m/b", "app1/m/a"}, {"app1/m/c", "app1/m/b", "app1/m/a"}, {"app1/m/a", "app1/m/c"}}
	const rounds = 10
	raceUpdates(t, len(sets)*rounds, func(i int) error {
		return s.UpdateCounters(ctx(), sets[i%len(sets)], func(cs []*latchkey.Counter) error {
			for _, c := range cs {
				c.Count++
				c.ExpiresAt = base.Add(time.Hour)
			}
			return nil
		})
	})
	want := map[string]int{}
	for _, set := range sets {
		for _, key := range set {
			want[key] += rounds
		}
	}
	for _, c := range readCounters(t, s, "app1/m/a", "app1/m/b", "app1/m/c") {
		if c.Count != want[c.Key] {
			t.Fatalf("counter %s counted %d concurrent updates; want %d", c.Key, c.Count, want[c.Key])
		}
	}
}

// raceUpdates runs fn n times at once and returns how many succeeded;
// errors other than errCapped fail the test.
func raceUpdates(t *testing.T, n int, fn func(i int) error) int {
	t.Helper()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		admitted int
		start    = make(chan struct{})
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			err := fn(i)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				admitted++
			case !errors.Is(err, errCapped):
				t.Errorf("concurrent counter update: %v", err)
			}
		}()
	}
	close(start)
	wg.Wait()
	return admitted
}

// testSpendWithChallenge checks the counters a send spends in
// CreateChallenge's transaction: admitted, the challenge, its message and
// the counters commit together; refused, nothing does and the previous
// challenge stays live.
func testSpendWithChallenge(t *testing.T, s latchkey.Store) {
	app := mustCreateApp(t, s, "Spend")
	keys := []string{app.ID + "/dest", app.ID + "/subject"}
	first := newChallenge(app.ID, "user:s", latchkey.KindOTP)
	msg := newMessage(app.ID)
	mustNoErr(t, s.CreateChallenge(ctx(), first, &msg, &latchkey.CounterUpdate{Keys: keys, Update: capped(1)}), "CreateChallenge with spend")
	for _, c := range readCounters(t, s, keys...) {
		if c.Count != 1 {
			t.Fatalf("after an admitted send, counter %+v; want the send counted once", c)
		}
	}

	second := newChallenge(app.ID, "user:s", latchkey.KindOTP)
	msg2 := newMessage(app.ID)
	err := s.CreateChallenge(ctx(), second, &msg2, &latchkey.CounterUpdate{Keys: keys, Update: capped(1)})
	wantErr(t, err, errCapped, "CreateChallenge refused by its spend")
	live, err := s.GetLiveChallenge(ctx(), app.ID, latchkey.KindOTP, "user:s")
	mustNoErr(t, err, "GetLiveChallenge after a refused send")
	if live.ID != first.ID {
		t.Fatalf("live challenge after a refused send = %s; want the previous %s", live.ID, first.ID)
	}
	_, err = s.GetChallengeByCodeHash(ctx(), latchkey.KindOTP, second.CodeHash)
	wantErr(t, err, latchkey.ErrNotFound, "the refused send's challenge")
	queued, err := s.ListMessages(ctx(), latchkey.MessageQueued, 10)
	mustNoErr(t, err, "ListMessages")
	if len(queued) != 1 || queued[0].ID != msg.ID {
		t.Fatalf("queued messages after a refused send = %+v; want only the admitted send's", queued)
	}
	for _, c := range readCounters(t, s, keys...) {
		if c.Count != 1 {
			t.Fatalf("after a refused send, counter %+v; want unchanged", c)
		}
	}
}

// testConcurrentSpends races sends to many subjects that share one
// counter capped at a limit: exactly that many challenges are created.
func testConcurrentSpends(t *testing.T, s latchkey.Store) {
	app := mustCreateApp(t, s, "Burst")
	const n, limit = 30, 7
	challenges := make([]latchkey.Challenge, n)
	for i := range challenges {
		challenges[i] = newChallenge(app.ID, fmt.Sprintf("user:burst%d", i), latchkey.KindOTP)
	}
	admitted := raceUpdates(t, n, func(i int) error {
		return s.CreateChallenge(ctx(), challenges[i], nil,
			&latchkey.CounterUpdate{Keys: []string{app.ID + "/prefix", app.ID + "/burst" + fmt.Sprint(i)}, Update: capped(limit)})
	})
	live := 0
	for _, c := range challenges {
		if _, err := s.GetLiveChallenge(ctx(), app.ID, latchkey.KindOTP, c.Subject); err == nil {
			live++
		}
	}
	if admitted != limit || live != limit {
		t.Fatalf("%d concurrent sends under a cap of %d: %d admitted, %d challenges; want exactly %d", n, limit, admitted, live, limit)
	}
}

// testPurgeCounters checks that counters whose windows ended go and the
// others stay.
func testPurgeCounters(t *testing.T, s latchkey.Store) {
	for i, expiry := range []time.Duration{time.Minute, time.Minute, time.Hour} {
		key := fmt.Sprintf("app1/purge/%d", i)
		err := s.UpdateCounters(ctx(), []string{key}, func(cs []*latchkey.Counter) error {
			cs[0].Events, cs[0].ExpiresAt = []time.Time{base}, base.Add(expiry)
			cs[0].BlockedUntil = base.Add(expiry)
			return nil
		})
		mustNoErr(t, err, "UpdateCounters")
	}
	n, err := s.DeleteExpiredCounters(ctx(), base.Add(2*time.Minute))
	mustNoErr(t, err, "DeleteExpiredCounters")
	if n != 2 {
		t.Fatalf("DeleteExpiredCounters removed %d; want the 2 expired", n)
	}
	got := readCounters(t, s, "app1/purge/0", "app1/purge/2")
	if len(got[0].Events) != 0 || len(got[1].Events) != 1 {
		t.Fatalf("after the purge: %+v; want the expired counter gone and the live one kept", got)
	}
	blocked, err := s.BlockedUntil(ctx(), []string{"app1/purge/1"})
	mustNoErr(t, err, "BlockedUntil")
	if !blocked[0].IsZero() {
		t.Fatalf("a purged counter is still blocked until %v", blocked[0])
	}
}
