package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
)

// purgeRows is more rows than a store deletes in one purge transaction, so
// that a purge must go on past its first chunk.
const purgeRows = 1234

// testPurgeLarge checks that a purge removes every ended row however many
// there are, and reports them all: expired codes and ended sessions, while
// live ones stay.
func testPurgeLarge(t *testing.T, s latchkey.Store) {
	app := mustCreateApp(t, s, "Purge")
	u := mustCreateUser(t, s, app.ID, "purge@example.com", "")
	for i := range purgeRows {
		c := newChallenge(app.ID, fmt.Sprintf("user:purge%d", i), latchkey.KindOTP)
		c.ExpiresAt = base.Add(time.Minute)
		mustNoErr(t, s.CreateChallenge(ctx(), c, nil, nil), "CreateChallenge")
		sess, rt := newSession(app.ID, u.ID)
		sess.ExpiresAt, rt.ExpiresAt = base.Add(time.Minute), base.Add(time.Minute)
		mustNoErr(t, s.CreateSession(ctx(), sess, rt), "CreateSession")
	}
	live := newChallenge(app.ID, "user:live", latchkey.KindOTP)
	mustNoErr(t, s.CreateChallenge(ctx(), live, nil, nil), "CreateChallenge live")
	liveSession, liveRT := newSession(app.ID, u.ID)
	mustNoErr(t, s.CreateSession(ctx(), liveSession, liveRT), "CreateSession live")

	after := base.Add(2 * time.Minute)
	n, err := s.DeleteExpiredChallenges(ctx(), after)
	mustNoErr(t, err, "DeleteExpiredChallenges")
	if n != purgeRows {
		t.Fatalf("DeleteExpiredChallenges removed %d; want all %d expired", n, purgeRows)
	}
	n, err = s.DeleteEndedSessions(ctx(), after)
	mustNoErr(t, err, "DeleteEndedSessions")
	if n != purgeRows {
		t.Fatalf("DeleteEndedSessions removed %d; want all %d ended", n, purgeRows)
	}
	if _, err := s.GetLiveChallenge(ctx(), app.ID, latchkey.KindOTP, live.Subject); err != nil {
		t.Fatalf("the purge removed a live challenge: %v", err)
	}
	list, err := s.ListSessions(ctx(), app.ID, u.ID, after)
	mustNoErr(t, err, "ListSessions")
	if len(list) != 1 || list[0].ID != liveSession.ID {
		t.Fatalf("sessions after the purge = %v; want only the live %s", sessionIDs(list), liveSession.ID)
	}
	if n, err := s.DeleteEndedSessions(ctx(), after); err != nil || n != 0 {
		t.Fatalf("a second purge removed %d, %v; want nothing left to remove", n, err)
	}
}
