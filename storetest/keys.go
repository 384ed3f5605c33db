package storetest

import (
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
)

func newKey(state latchkey.KeyState) latchkey.SigningKey {
	n := next()
	return latchkey.SigningKey{
		ID:            fmt.Sprintf("kid%d", n),
		Algorithm:     "RS256",
		State:         state,
		PrivateSealed: []byte{9, 9, byte(n)},
		PublicJWK:     []byte(fmt.Sprintf(`{"kid":"kid%d"}`, n)),
		CreatedAt:     base.Add(time.Duration(n) * time.Second),
	}
}

func testKeys(t *testing.T, s latchkey.Store) {
	cur := newKey(latchkey.KeyCurrent)
	cur.ActivatedAt = cur.CreatedAt
	mustNoErr(t, s.CreateKey(ctx(), cur), "CreateKey current")
	nxt := newKey(latchkey.KeyNext)
	mustNoErr(t, s.CreateKey(ctx(), nxt), "CreateKey next")
	wantErr(t, s.CreateKey(ctx(), newKey(latchkey.KeyCurrent)), latchkey.ErrConflict, "a second current key")
	wantErr(t, s.CreateKey(ctx(), newKey(latchkey.KeyNext)), latchkey.ErrConflict, "a second next key")
	dup := newKey(latchkey.KeyRetired)
	dup.ID = cur.ID
	wantErr(t, s.CreateKey(ctx(), dup), latchkey.ErrConflict, "a taken key ID")

	keys, err := s.ListKeys(ctx())
	mustNoErr(t, err, "ListKeys")
	if !reflect.DeepEqual(keys, []latchkey.SigningKey{nxt, cur}) {
		t.Fatalf("ListKeys = %+v\nwant [next, current], newest first", keys)
	}
	wantErr(t, s.DeleteKey(ctx(), cur.ID), latchkey.ErrConflict, "DeleteKey of the current key")
	mustNoErr(t, s.DeleteKey(ctx(), nxt.ID), "DeleteKey of the next key")
	wantErr(t, s.DeleteKey(ctx(), nxt.ID), latchkey.ErrNotFound, "DeleteKey twice")
}

func testKeyRotation(t *testing.T, s latchkey.Store) {
	cur := newKey(latchkey.KeyCurrent)
	nxt := newKey(latchkey.KeyNext)
	mustNoErr(t, s.CreateKey(ctx(), cur), "CreateKey current")
	mustNoErr(t, s.CreateKey(ctx(), nxt), "CreateKey next")
	at := base.Add(time.Hour)
	r := latchkey.KeyRotation{PromoteID: nxt.ID, RetireID: cur.ID, PublishUntil: at.Add(25 * time.Hour),
		NewNext: newKey(latchkey.KeyNext), At: at}
	mustNoErr(t, s.RotateKeys(ctx(), r), "RotateKeys")

	keys, err := s.ListKeys(ctx())
	mustNoErr(t, err, "ListKeys")
	states := map[string]latchkey.SigningKey{}
	for _, k := range keys {
		states[k.ID] = k
	}
	if k := states[cur.ID]; k.State != latchkey.KeyRetired || !k.RetiredAt.Equal(at) || !k.PublishUntil.Equal(r.PublishUntil) {
		t.Fatalf("old current after rotation = %+v; want retired at %v until %v", k, at, r.PublishUntil)
	}
	if k := states[nxt.ID]; k.State != latchkey.KeyCurrent || !k.ActivatedAt.Equal(at) {
		t.Fatalf("old next after rotation = %+v; want current since %v", k, at)
	}
	if k := states[r.NewNext.ID]; k.State != latchkey.KeyNext {
		t.Fatalf("new key after rotation = %+v; want next", k)
	}

	// A stale rotation (the caller saw an older state) changes nothing.
	stale := latchkey.KeyRotation{PromoteID: nxt.ID, RetireID: cur.ID, NewNext: newKey(latchkey.KeyNext), At: at}
	wantErr(t, s.RotateKeys(ctx(), stale), latchkey.ErrConflict, "stale RotateKeys")
	after, err := s.ListKeys(ctx())
	mustNoErr(t, err, "ListKeys")
	if !reflect.DeepEqual(after, keys) {
		t.Fatalf("keys changed after a refused rotation")
	}

	n, err := s.DeleteRetiredKeys(ctx(), r.PublishUntil.Add(-time.Millisecond))
	mustNoErr(t, err, "DeleteRetiredKeys early")
	if n != 0 {
		t.Fatalf("DeleteRetiredKeys before PublishUntil removed %d; want 0", n)
	}
	n, err = s.DeleteRetiredKeys(ctx(), r.PublishUntil)
	mustNoErr(t, err, "DeleteRetiredKeys")
	if n != 1 {
		t.Fatalf("DeleteRetiredKeys at PublishUntil removed %d; want 1", n)
	}
}

// testKeyRotationRace checks that of several nodes rotating from the same
// state at once, exactly one succeeds.
func testKeyRotationRace(t *testing.T, s latchkey.Store) {
	cur := newKey(latchkey.KeyCurrent)
	nxt := newKey(latchkey.KeyNext)
	mustNoErr(t, s.CreateKey(ctx(), cur), "CreateKey current")
	mustNoErr(t, s.CreateKey(ctx(), nxt), "CreateKey next")
	const n = 8
	rotations := make([]latchkey.KeyRotation, n)
	for i := range rotations {
		rotations[i] = latchkey.KeyRotation{PromoteID: nxt.ID, RetireID: cur.ID, NewNext: newKey(latchkey.KeyNext), At: base}
	}
	var wg sync.WaitGroup
	results := make(chan error, n)
	for _, r := range rotations {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results <- s.RotateKeys(ctx(), r)
		}()
	}
	wg.Wait()
	close(results)
	wins := 0
	for err := range results {
		switch {
		case err == nil:
			wins++
		case !isConflict(err):
			t.Fatalf("racing RotateKeys: %v; want success or ErrConflict", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d of %d racing rotations succeeded; want exactly 1", wins, n)
	}
	keys, err := s.ListKeys(ctx())
	mustNoErr(t, err, "ListKeys")
	if len(keys) != 3 {
		t.Fatalf("after the race %d keys exist; want 3 (retired, current, next)", len(keys))
	}
}
