package storetest

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
)

func testOutbox(t *testing.T, s latchkey.Store) {
	app := mustCreateApp(t, s, "Outbox")
	var ids []string
	for i := range 3 {
		m := newMessage(app.ID)
		if i == 2 {
			m.NextAttemptAt = base.Add(time.Hour) // not due yet
		}
		c := newChallenge(app.ID, "user:o"+m.ID, latchkey.KindOTP)
		mustNoErr(t, s.CreateChallenge(ctx(), c, &m, nil), "CreateChallenge")
		ids = append(ids, m.ID)
	}
	lease := base.Add(time.Minute)
	claimed, err := s.ClaimMessages(ctx(), base, lease, 10)
	mustNoErr(t, err, "ClaimMessages")
	if len(claimed) != 2 || claimed[0].ID != ids[0] || claimed[1].ID != ids[1] {
		t.Fatalf("claimed %d messages; want the 2 due ones, oldest first", len(claimed))
	}
	if claimed[0].Text != "Code 123456" || claimed[0].HTML == "" || claimed[0].Subject == "" || string(claimed[0].Sealed) != "sealed\x00body" {
		t.Fatalf("claimed message without its content: %+v", claimed[0])
	}
	again, err := s.ClaimMessages(ctx(), base, lease, 10)
	mustNoErr(t, err, "ClaimMessages again")
	if len(again) != 0 {
		t.Fatalf("claimed %d leased messages again; want none until the lease ends", len(again))
	}
	if after, _ := s.ClaimMessages(ctx(), lease, lease.Add(time.Minute), 1); len(after) != 1 {
		t.Fatalf("after the lease ended %d messages were claimable with limit 1; want 1", len(after))
	}

	sent, err := s.UpdateMessage(ctx(), ids[0], func(m *latchkey.Message) error {
		m.Status, m.Attempts, m.Provider, m.SentAt = latchkey.MessageSent, 1, "devinbox", base
		return nil
	})
	mustNoErr(t, err, "UpdateMessage")
	if sent.Text != "" || sent.HTML != "" || sent.Subject != "" || sent.Sealed != nil {
		t.Fatal("a sent message keeps its content")
	}
	retry, err := s.UpdateMessage(ctx(), ids[1], func(m *latchkey.Message) error {
		m.Attempts, m.LastError, m.NextAttemptAt = 1, "timeout", base.Add(30*time.Second)
		return nil
	})
	mustNoErr(t, err, "UpdateMessage retry")
	if retry.Text == "" || len(retry.Sealed) == 0 {
		t.Fatal("a queued message lost its content")
	}
	_, err = s.UpdateMessage(ctx(), "nope", func(*latchkey.Message) error { return nil })
	wantErr(t, err, latchkey.ErrNotFound, "UpdateMessage of a missing message")

	list, err := s.ListMessages(ctx(), "", 10)
	mustNoErr(t, err, "ListMessages")
	if len(list) != 3 || list[0].ID != ids[2] {
		t.Fatalf("ListMessages = %d messages; want 3, newest first", len(list))
	}
	for _, m := range list {
		if m.Text != "" || m.Sealed != nil {
			t.Fatal("ListMessages returned content")
		}
	}
	if again, _ := s.ClaimMessages(ctx(), lease.Add(time.Hour), lease.Add(2*time.Hour), 10); len(again) != 2 || again[0].ID != ids[1] ||
		len(again[0].Sealed) == 0 {
		t.Fatalf("the retried message claimed again = %+v; want it with its sealed content", again)
	}
	suppressed := newMessage(app.ID)
	suppressed.Suppressed = true
	mustNoErr(t, s.CreateChallenge(ctx(), newChallenge(app.ID, "user:s"+suppressed.ID, latchkey.KindOTP), &suppressed, nil), "CreateChallenge")
	claimedAll, err := s.ClaimMessages(ctx(), base.Add(4*time.Hour), base.Add(5*time.Hour), 10)
	mustNoErr(t, err, "ClaimMessages")
	if len(claimedAll) != 3 || claimedAll[0].ID != suppressed.ID || !claimedAll[0].Suppressed || claimedAll[1].Suppressed {
		t.Fatalf("claimed %+v; want the suppressed message claimed like the others, marked", claimedAll)
	}
	_, err = s.UpdateMessage(ctx(), suppressed.ID, func(m *latchkey.Message) error {
		m.Status, m.Attempts = latchkey.MessageSuppressed, 1
		return nil
	})
	mustNoErr(t, err, "UpdateMessage to suppressed")
	if list, _ := s.ListMessages(ctx(), latchkey.MessageSuppressed, 10); len(list) != 1 || !list[0].Suppressed || list[0].Sealed != nil {
		t.Fatalf("suppressed messages = %+v; want the one, without content", list)
	}
	sentOnly, _ := s.ListMessages(ctx(), latchkey.MessageSent, 10)
	if len(sentOnly) != 1 || sentOnly[0].Provider != "devinbox" || sentOnly[0].Attempts != 1 {
		t.Fatalf("sent messages = %+v", sentOnly)
	}
	n, err := s.DeleteFinishedMessages(ctx(), base.Add(time.Hour))
	mustNoErr(t, err, "DeleteFinishedMessages")
	if n != 2 {
		t.Fatalf("DeleteFinishedMessages removed %d; want the sent and the suppressed ones", n)
	}
}

// testConcurrentClaims checks that concurrent workers never claim one
// message twice.
func testConcurrentClaims(t *testing.T, s latchkey.Store) {
	app := mustCreateApp(t, s, "Workers")
	const messages = 30
	for range messages {
		m := newMessage(app.ID)
		mustNoErr(t, s.CreateChallenge(ctx(), newChallenge(app.ID, "user:"+m.ID, latchkey.KindOTP), &m, nil), "CreateChallenge")
	}
	var (
		mu    sync.Mutex
		seen  = map[string]int{}
		wg    sync.WaitGroup
		start = make(chan struct{})
	)
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for {
				got, err := s.ClaimMessages(ctx(), base, base.Add(time.Hour), 4)
				if err != nil {
					t.Errorf("ClaimMessages: %v", err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, m := range got {
					seen[m.ID]++
				}
				mu.Unlock()
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(seen) != messages {
		t.Fatalf("%d distinct messages claimed; want %d", len(seen), messages)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("message %s claimed %d times; want once", id, n)
		}
	}
}

// testHandedOffMessage checks a message written already claimed, as the
// node that queues it for its own worker writes it: no other caller can
// claim it before its lease ends, and any can after, with nothing else
// changed.
func testHandedOffMessage(t *testing.T, s latchkey.Store) {
	app := mustCreateApp(t, s, "Handoff")
	lease := base.Add(15 * time.Second)
	m := newMessage(app.ID)
	m.NextAttemptAt = lease
	mustNoErr(t, s.CreateChallenge(ctx(), newChallenge(app.ID, "user:h"+m.ID, latchkey.KindOTP), &m, nil), "CreateChallenge")
	if got, _ := s.ClaimMessages(ctx(), lease.Add(-time.Millisecond), lease.Add(time.Minute), 10); len(got) != 0 {
		t.Fatalf("claimed %d messages handed off under a live lease; want none", len(got))
	}
	got, err := s.ClaimMessages(ctx(), lease, lease.Add(time.Minute), 10)
	mustNoErr(t, err, "ClaimMessages after the lease")
	if len(got) != 1 || got[0].ID != m.ID || got[0].Attempts != 0 || got[0].Status != latchkey.MessageQueued ||
		string(got[0].Sealed) != string(m.Sealed) {
		t.Fatalf("after the handoff's lease claimed %+v; want the message as written, no attempt counted", got)
	}
}

// testUpdateMessages checks outcomes recorded together: each update
// applied to its own message in one call, the results in order, a missing
// message left out, and an update's error undoing every change.
func testUpdateMessages(t *testing.T, s latchkey.Store) {
	app := mustCreateApp(t, s, "Batch")
	var ids []string
	for range 3 {
		m := newMessage(app.ID)
		mustNoErr(t, s.CreateChallenge(ctx(), newChallenge(app.ID, "user:u"+m.ID, latchkey.KindOTP), &m, nil), "CreateChallenge")
		ids = append(ids, m.ID)
	}
	set := func(status latchkey.MessageStatus, attempts int) func(*latchkey.Message) error {
		return func(m *latchkey.Message) error {
			m.Status, m.Attempts, m.LastError = status, m.Attempts+attempts, string(status)
			return nil
		}
	}
	boom := errors.New("boom")
	_, err := s.UpdateMessages(ctx(), []latchkey.MessageUpdate{{ID: ids[0], Update: set(latchkey.MessageSent, 1)},
		{ID: ids[1], Update: func(*latchkey.Message) error { return boom }}})
	wantErr(t, err, boom, "UpdateMessages with a failing update")
	if list, _ := s.ListMessages(ctx(), latchkey.MessageQueued, 10); len(list) != 3 {
		t.Fatalf("after a failed batch %d messages are queued; want all 3, the batch undone", len(list))
	}

	got, err := s.UpdateMessages(ctx(), []latchkey.MessageUpdate{{ID: ids[2], Update: set(latchkey.MessageFailed, 1)},
		{ID: "missing", Update: set(latchkey.MessageSent, 1)}, {ID: ids[0], Update: set(latchkey.MessageSent, 1)},
		{ID: ids[1], Update: func(m *latchkey.Message) error {
			m.Attempts, m.NextAttemptAt = 1, base.Add(time.Hour)
			return nil
		}}})
	mustNoErr(t, err, "UpdateMessages")
	if len(got) != 3 || got[0].ID != ids[2] || got[1].ID != ids[0] || got[2].ID != ids[1] {
		t.Fatalf("UpdateMessages returned %+v; want the 3 existing messages in the order of the updates", got)
	}
	if got[0].Status != latchkey.MessageFailed || got[0].Sealed != nil || got[0].Text != "" ||
		got[1].Status != latchkey.MessageSent || got[1].Attempts != 1 || got[2].Status != latchkey.MessageQueued ||
		len(got[2].Sealed) == 0 {
		t.Fatalf("UpdateMessages returned %+v; want each as written, content kept only while queued", got)
	}
	for _, want := range got {
		stored, _ := s.ListMessages(ctx(), want.Status, 10)
		if !slices.ContainsFunc(stored, func(m latchkey.Message) bool {
			return m.ID == want.ID && m.Attempts == want.Attempts && m.NextAttemptAt.Equal(want.NextAttemptAt)
		}) {
			t.Fatalf("message %s is not stored as UpdateMessages returned it", want.ID)
		}
	}
	if claimed, _ := s.ClaimMessages(ctx(), base.Add(time.Hour), base.Add(2*time.Hour), 10); len(claimed) != 1 ||
		claimed[0].ID != ids[1] || len(claimed[0].Sealed) == 0 {
		t.Fatalf("claimed %+v; want only the message still queued, with its content", claimed)
	}
	if none, err := s.UpdateMessages(ctx(), nil); err != nil || len(none) != 0 {
		t.Fatalf("UpdateMessages of nothing = %v, %v", none, err)
	}
}

// testOutboxBacklog checks what the outbox reports as waiting: every
// queued message, due, leased or waiting out a backoff, and the creation
// of the oldest; not those sent, failed or suppressed.
func testOutboxBacklog(t *testing.T, s latchkey.Store) {
	empty, err := s.OutboxBacklog(ctx())
	mustNoErr(t, err, "OutboxBacklog of an empty outbox")
	if empty.Queued != 0 || !empty.Oldest.IsZero() {
		t.Fatalf("an empty outbox reports %+v; want nothing queued and no oldest", empty)
	}
	app := mustCreateApp(t, s, "Backlog")
	var msgs []latchkey.Message
	for i := range 5 {
		m := newMessage(app.ID)
		m.CreatedAt = base.Add(time.Duration(i) * time.Second)
		if i == 4 {
			m.NextAttemptAt = base.Add(time.Hour) // waiting out a backoff
		}
		c := newChallenge(app.ID, "user:b"+m.ID, latchkey.KindOTP)
		mustNoErr(t, s.CreateChallenge(ctx(), c, &m, nil), "CreateChallenge")
		msgs = append(msgs, m)
	}
	for i, status := range []latchkey.MessageStatus{latchkey.MessageSent, latchkey.MessageFailed, latchkey.MessageSuppressed} {
		_, err := s.UpdateMessage(ctx(), msgs[i].ID, func(m *latchkey.Message) error { m.Status = status; return nil })
		mustNoErr(t, err, "UpdateMessage")
	}
	_, err = s.ClaimMessages(ctx(), base, base.Add(time.Minute), 10) // leased, still queued
	mustNoErr(t, err, "ClaimMessages")
	b, err := s.OutboxBacklog(ctx())
	mustNoErr(t, err, "OutboxBacklog")
	if b.Queued != 2 || !b.Oldest.Equal(msgs[3].CreatedAt) {
		t.Fatalf("the outbox reports %d queued, the oldest created at %s; want 2, the oldest created at %s",
			b.Queued, b.Oldest, msgs[3].CreatedAt)
	}
}

func testDevInbox(t *testing.T, s latchkey.Store) {
	for i, to := range []string{"first@example.com", "second@example.com"} {
		m := latchkey.DevMessage{ID: "dev" + to, AppID: "app", Channel: latchkey.ChannelEmail, To: to, Subject: "S",
			Text: "T", HTML: "<p>H</p>", CreatedAt: base.Add(time.Duration(i) * time.Second)}
		mustNoErr(t, s.AddDevMessage(ctx(), m), "AddDevMessage")
	}
	list, err := s.ListDevMessages(ctx(), "", 10)
	mustNoErr(t, err, "ListDevMessages")
	if len(list) != 2 || list[0].To != "second@example.com" || list[0].HTML != "<p>H</p>" {
		t.Fatalf("ListDevMessages = %+v; want newest first with content", list)
	}
	if one, _ := s.ListDevMessages(ctx(), "", 1); len(one) != 1 {
		t.Fatal("ListDevMessages ignores its limit")
	}
	only, err := s.ListDevMessages(ctx(), "first@example.com", 10)
	mustNoErr(t, err, "ListDevMessages to one address")
	if len(only) != 1 || only[0].To != "first@example.com" {
		t.Fatalf("ListDevMessages to first@example.com = %+v", only)
	}
	n, err := s.DeleteDevMessages(ctx(), base.Add(time.Second))
	mustNoErr(t, err, "DeleteDevMessages")
	if n != 1 {
		t.Fatalf("DeleteDevMessages removed %d; want the older one", n)
	}
	if rest, _ := s.ListDevMessages(ctx(), "", 10); len(rest) != 1 || rest[0].To != "second@example.com" {
		t.Fatalf("after DeleteDevMessages: %+v", rest)
	}
}
