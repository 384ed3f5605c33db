package ratelimit_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/fake"
	"github.com/latchkeyhq/latchkey/ratelimit"
	"github.com/latchkeyhq/latchkey/secrets"
	"github.com/latchkeyhq/latchkey/sqlite"
)

// bench is a Limiter on a real SQLite store with a settable clock, and what
// it reports.
type bench struct {
	t       *testing.T
	limiter *ratelimit.Limiter
	store   *sqlite.Store
	clock   *fake.Clock
	logs    *bytes.Buffer
	mu      sync.Mutex
	refused []string // "app limit", in order
}

var t0 = time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)

func newBench(t *testing.T, cfg ratelimit.Config) *bench {
	t.Helper()
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "limits.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if _, err := store.Migrate(context.Background(), rand.Reader, t0); err != nil {
		t.Fatal(err)
	}
	keyring := mustKeyring(t)
	b := &bench{t: t, store: store, clock: fake.NewClock(t0), logs: &bytes.Buffer{}}
	cfg.Store, cfg.Keyring, cfg.Now = store, keyring, b.clock.Now
	cfg.Log = slog.New(slog.NewTextHandler(b.logs, nil))
	cfg.Refused = func(app string, limit ratelimit.Limit) {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.refused = append(b.refused, app+" "+string(limit))
	}
	b.limiter = ratelimit.New(cfg)
	return b
}

// appWith is an app with every limit off but those change sets.
func appWith(change func(*latchkey.Limits)) latchkey.App {
	app := latchkey.App{ID: "app1"}
	change(&app.Limits)
	return app
}

// send judges a send and commits its counters, as CreateChallenge would.
func (b *bench) send(app latchkey.App, facts latchkey.SendFacts) error {
	b.t.Helper()
	spend, err := b.limiter.ForSend(context.Background(), app, facts)
	if err != nil || spend == nil {
		return err
	}
	return b.store.UpdateCounters(context.Background(), spend.Keys, spend.Update)
}

func email(subject, dest string) latchkey.SendFacts {
	return latchkey.SendFacts{Channel: latchkey.ChannelEmail, Subject: subject, Destination: dest}
}

func sms(subject, dest string) latchkey.SendFacts {
	return latchkey.SendFacts{Channel: latchkey.ChannelSMS, Subject: subject, Destination: dest}
}

// wantAdmitted fails unless err is nil.
func (b *bench) wantAdmitted(err error, what string) {
	b.t.Helper()
	if err != nil {
		b.t.Fatalf("%s at %s: %v; want admitted", what, b.clock.Now().Sub(t0), err)
	}
}

// wantRefused fails unless err is a 429 naming limit that asks to wait
// exactly wait.
func (b *bench) wantRefused(err error, limit ratelimit.Limit, wait time.Duration) {
	b.t.Helper()
	var e *latchkey.Error
	if !errors.As(err, &e) || e.Code != latchkey.CodeRateLimited {
		b.t.Fatalf("at %s: %v; want refused by %s", b.clock.Now().Sub(t0), err, limit)
	}
	if e.RetryAfter != wait || !strings.Contains(e.Message, string(limit)) {
		b.t.Fatalf("at %s: refused with %q, retry after %s; want %s and retry after %s", b.clock.Now().Sub(t0), e.Message, e.RetryAfter, limit, wait)
	}
}

func TestCooldownAndWindows(t *testing.T) {
	b := newBench(t, ratelimit.Config{})
	app := appWith(func(l *latchkey.Limits) { l.ResendCooldown, l.SendsPerHour, l.SendsPerDay = 30*time.Second, 3, 5 })
	send := func() error { return b.send(app, email("user:u1", "ada@example.com")) }

	b.wantAdmitted(send(), "first send")
	b.clock.Advance(10 * time.Second)
	b.wantRefused(send(), ratelimit.ResendCooldown, 20*time.Second)
	b.clock.Advance(20 * time.Second)
	b.wantAdmitted(send(), "send when the cooldown ends")
	b.clock.Advance(30 * time.Second)
	b.wantAdmitted(send(), "third send")
	b.clock.Advance(30 * time.Second)
	// Three in the hour: allowed again when the first (at 0s) leaves it.
	b.wantRefused(send(), ratelimit.SendsPerHour, time.Hour-90*time.Second)
	b.clock.Set(t0.Add(time.Hour))
	b.wantAdmitted(send(), "send once the first leaves the hour")
	b.clock.Advance(30 * time.Second)
	b.wantAdmitted(send(), "fifth send")
	b.clock.Advance(time.Hour)
	// Five in the day: allowed again when the first leaves the day.
	b.wantRefused(send(), ratelimit.SendsPerDay, 24*time.Hour-(2*time.Hour+30*time.Second))
	b.clock.Set(t0.Add(24 * time.Hour))
	b.wantAdmitted(send(), "send once the first leaves the day")
}

// TestDestinationAndSubject checks that a send counts against both its
// destination and its subject: another user's code to the same address and
// the same user's code to another address both wait, while another channel
// for the same user does not.
func TestDestinationAndSubject(t *testing.T) {
	b := newBench(t, ratelimit.Config{})
	app := appWith(func(l *latchkey.Limits) { l.ResendCooldown = time.Minute })
	b.wantAdmitted(b.send(app, email("user:u1", "ada@example.com")), "first send")
	b.wantRefused(b.send(app, email("user:u2", "ada@example.com")), ratelimit.ResendCooldown, time.Minute)
	b.wantRefused(b.send(app, email("user:u1", "other@example.com")), ratelimit.ResendCooldown, time.Minute)
	b.wantAdmitted(b.send(app, sms("user:u1", "+442079460958")), "an SMS to the same user")
	direct := latchkey.SendFacts{Channel: latchkey.ChannelDirect, Subject: "user:u1"}
	b.wantAdmitted(b.send(app, direct), "a direct code")
	b.wantRefused(b.send(app, direct), ratelimit.ResendCooldown, time.Minute)
}

func TestSMSDailyBudgetEndsAtMidnightUTC(t *testing.T) {
	b := newBench(t, ratelimit.Config{})
	b.clock.Set(time.Date(2026, 6, 1, 23, 59, 0, 0, time.UTC))
	app := appWith(func(l *latchkey.Limits) { l.SMSDailyBudget = 2 })
	b.wantAdmitted(b.send(app, sms("user:a", "+442079460001")), "first SMS")
	b.wantAdmitted(b.send(app, sms("user:b", "+33142685300")), "second SMS")
	b.wantRefused(b.send(app, sms("user:c", "+14155550100")), ratelimit.SMSDailyBudget, time.Minute)
	b.wantAdmitted(b.send(app, email("user:c", "c@example.com")), "an email past the SMS budget")
	b.clock.Advance(59*time.Second + 500*time.Millisecond)
	b.wantRefused(b.send(app, sms("user:c", "+14155550100")), ratelimit.SMSDailyBudget, time.Second)
	b.clock.Set(time.Date(2026, 6, 2, 0, 0, 0, 0, time.UTC))
	b.wantAdmitted(b.send(app, sms("user:c", "+14155550100")), "an SMS on the next day")
}

func TestPrefixVelocity(t *testing.T) {
	b := newBench(t, ratelimit.Config{})
	app := appWith(func(l *latchkey.Limits) { l.SMSPrefixPerHour = 5 })
	for i := range 5 {
		b.wantAdmitted(b.send(app, sms("unknown:phone_number:x", "+4420794600"+string(rune('0'+i))+"0")), "a number in the run")
		b.clock.Advance(time.Minute)
	}
	b.wantRefused(b.send(app, sms("user:z", "+442079460999")), ratelimit.SMSPrefixPerHour, 55*time.Minute)
	b.wantAdmitted(b.send(app, sms("user:z", "+442079461000")), "a number in the next run")
}

func TestSMSCountries(t *testing.T) {
	b := newBench(t, ratelimit.Config{})
	app := appWith(func(l *latchkey.Limits) { l.SMSCountries = []string{"GB", "+1"} })
	b.wantAdmitted(b.send(app, sms("user:a", "+442079460958")), "an SMS to GB")
	b.wantAdmitted(b.send(app, sms("user:a", "+16135550123")), "an SMS to Canada under +1")
	err := b.send(app, sms("user:a", "+33142685300"))
	if latchkey.ErrorCode(err) != latchkey.CodeInvalid || !strings.Contains(latchkey.ErrorMessage(err), "FR (+33)") ||
		strings.Contains(latchkey.ErrorMessage(err), "142685300") {
		t.Fatalf("an SMS to France: %v; want a 400 naming FR (+33) and not the number", err)
	}
	b.wantAdmitted(b.send(app, email("user:a", "a@example.fr")), "an email, whatever the SMS countries")
	if got := b.refusals(); len(got) != 1 || got[0] != "app1 sms_countries" {
		t.Fatalf("refusals reported %v; want the country refusal once", got)
	}
}

// TestStandInDestination checks the stand-in of a decoy that names no
// number: it has no country, and it is its own run of numbers, so stand-ins
// that differ only in their last characters are counted apart.
func TestStandInDestination(t *testing.T) {
	b := newBench(t, ratelimit.Config{})
	app := appWith(func(l *latchkey.Limits) { l.SMSCountries, l.SMSPrefixPerHour = []string{"GB"}, 1 })
	standIn := func(subject string) latchkey.SendFacts {
		return latchkey.SendFacts{Channel: latchkey.ChannelSMS, Subject: subject, Destination: "nowhere:sms:" + subject, StandIn: true}
	}
	b.wantAdmitted(b.send(app, standIn("unknown:email:a@example.com")), "a decoy SMS without a number")
	b.wantAdmitted(b.send(app, standIn("unknown:email:a@example.org")), "a decoy SMS to another stand-in")
	b.wantRefused(b.send(app, standIn("unknown:email:a@example.com")), ratelimit.SMSPrefixPerHour, time.Hour)
	if !b.limiter.SMSAllowed(app, "+442079460958") || b.limiter.SMSAllowed(app, "+33142685300") {
		t.Fatal("SMSAllowed disagrees with the allowed countries")
	}
}

func TestEndUserAddressSends(t *testing.T) {
	b := newBench(t, ratelimit.Config{})
	app := appWith(func(l *latchkey.Limits) { l.IPSendsPerHour = 2 })
	from := func(addr, dest string) latchkey.SendFacts {
		f := email("user:"+dest, dest)
		f.EndUser = netip.MustParseAddr(addr)
		return f
	}
	b.wantAdmitted(b.send(app, from("2001:db8:1:2::10", "a@example.com")), "first send from a /64")
	b.wantAdmitted(b.send(app, from("2001:db8:1:2:ffff::1", "b@example.com")), "second send from the /64")
	b.wantRefused(b.send(app, from("2001:db8:1:2::99", "c@example.com")), ratelimit.IPSendsPerHour, time.Hour)
	b.wantAdmitted(b.send(app, from("2001:db8:1:3::10", "c@example.com")), "a send from the next /64")
	b.wantAdmitted(b.send(app, email("user:d", "d@example.com")), "a send whose address is unknown")
	if strings.Contains(b.logs.String(), "2001:db8:1:2::99") {
		t.Fatalf("the log shows a full address:\n%s", b.logs)
	}
}

func TestGuessBudget(t *testing.T) {
	b := newBench(t, ratelimit.Config{})
	ctx := context.Background()
	app := appWith(func(l *latchkey.Limits) { l.MaxFailuresPerMinute = 3 })
	for i := range 3 {
		b.wantAdmitted(b.limiter.CheckAuthenticate(ctx, app, netip.Addr{}), "an authenticate under the budget")
		if err := b.limiter.Failed(ctx, app, netip.Addr{}); err != nil {
			t.Fatal(err)
		}
		b.clock.Advance(time.Duration(i+1) * time.Second)
	}
	// Failures at 0s, 1s and 3s; now 6s: blocked until 60s.
	b.wantRefused(b.limiter.CheckAuthenticate(ctx, app, netip.Addr{}), ratelimit.MaxFailuresPerMinute, 54*time.Second)
	other := appWith(func(l *latchkey.Limits) { l.MaxFailuresPerMinute = 3 })
	other.ID = "app2"
	b.wantAdmitted(b.limiter.CheckAuthenticate(ctx, other, netip.Addr{}), "another app's authenticate")
	b.clock.Set(t0.Add(time.Minute))
	b.wantAdmitted(b.limiter.CheckAuthenticate(ctx, app, netip.Addr{}), "an authenticate once the first failure leaves the minute")
}

func TestEndUserAddressFailures(t *testing.T) {
	b := newBench(t, ratelimit.Config{})
	ctx := context.Background()
	app := appWith(func(l *latchkey.Limits) { l.MaxFailuresPerMinute, l.IPFailuresPerHour = 1000, 2 })
	addr := netip.MustParseAddr("203.0.113.7")
	for range 2 {
		if err := b.limiter.Failed(ctx, app, addr); err != nil {
			t.Fatal(err)
		}
	}
	b.wantRefused(b.limiter.CheckAuthenticate(ctx, app, addr), ratelimit.IPFailuresPerHour, time.Hour)
	b.wantAdmitted(b.limiter.CheckAuthenticate(ctx, app, netip.MustParseAddr("203.0.113.8")), "another address")
	b.wantAdmitted(b.limiter.CheckAuthenticate(ctx, app, netip.Addr{}), "an unknown address")
	if !strings.Contains(b.logs.String(), "203.0.113.x") || strings.Contains(b.logs.String(), "203.0.113.7") {
		t.Fatalf("the refusal's log line should show the masked address only:\n%s", b.logs)
	}
}

// TestClientAuthentication checks that an address that guesses is refused,
// and that once a client_id is over its budget the addresses that failed
// for it are refused while another address is still let through.
func TestClientAuthentication(t *testing.T) {
	b := newBench(t, ratelimit.Config{ClientFailuresPerAddress: 3, ClientFailuresPerClient: 5})
	ctx := context.Background()
	attacker := netip.MustParseAddr("198.51.100.1")
	for range 3 {
		b.wantAdmitted(b.limiter.CheckClient(ctx, "client-a", attacker), "a guess under the address's budget")
		if err := b.limiter.ClientFailed(ctx, "client-a", attacker); err != nil {
			t.Fatal(err)
		}
	}
	b.wantRefused(b.limiter.CheckClient(ctx, "client-b", attacker), ratelimit.ClientAuthAddress, time.Minute)

	// Spread over addresses: the client goes over its budget of 5.
	for i := range 3 {
		addr := netip.AddrFrom4([4]byte{198, 51, 100, byte(10 + i)})
		if err := b.limiter.ClientFailed(ctx, "client-a", addr); err != nil {
			t.Fatal(err)
		}
	}
	b.clock.Advance(10 * time.Second)
	b.wantRefused(b.limiter.CheckClient(ctx, "client-a", netip.MustParseAddr("198.51.100.10")), ratelimit.ClientAuthClient, 50*time.Second)
	b.wantAdmitted(b.limiter.CheckClient(ctx, "client-a", netip.MustParseAddr("192.0.2.50")), "the client's own backend, which never failed")
	b.wantAdmitted(b.limiter.CheckClient(ctx, "client-c", netip.MustParseAddr("198.51.100.10")), "another client from a failing address")
}

func (b *bench) refusals() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.refused...)
}

// TestEveryRefusalReportedOnce checks the one place refusals are observed:
// each is logged once and reported once, with its app and limit.
func TestEveryRefusalReportedOnce(t *testing.T) {
	b := newBench(t, ratelimit.Config{})
	app := appWith(func(l *latchkey.Limits) { l.ResendCooldown = time.Minute })
	b.wantAdmitted(b.send(app, email("unknown:email:ada@example.com", "ada@example.com")), "first send")
	for range 3 {
		b.wantRefused(b.send(app, email("unknown:email:ada@example.com", "ada@example.com")), ratelimit.ResendCooldown, time.Minute)
	}
	if got := b.refusals(); len(got) != 3 || got[0] != "app1 resend_cooldown" {
		t.Fatalf("refusals reported %v; want three resend_cooldown refusals of app1", got)
	}
	logs := b.logs.String()
	if n := strings.Count(logs, "rate limited"); n != 3 || strings.Contains(logs, "ada@example.com") || !strings.Contains(logs, "a***@example.com") {
		t.Fatalf("log (%d refusals):\n%s\nwant three lines with the address masked", n, logs)
	}
}

// requestKey marks the context of a request in TestRefusalsAreLoggedInTheRequestsContext.
type requestKey struct{}

// contextLog records the request mark of the context every record was
// logged with.
type contextLog struct {
	slog.Handler
	mu    sync.Mutex
	marks []any
}

func (h *contextLog) Handle(ctx context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.marks = append(h.marks, ctx.Value(requestKey{}))
	return nil
}

// TestRefusalsAreLoggedInTheRequestsContext checks that the refusal of a
// send, of an SMS country and of an authentication is each logged with the
// context of the request refused, so that what a log handler takes from it
// (a trace ID) is on the line.
func TestRefusalsAreLoggedInTheRequestsContext(t *testing.T) {
	log := &contextLog{Handler: slog.NewTextHandler(io.Discard, nil)}
	b := newBench(t, ratelimit.Config{})
	limiter := ratelimit.New(ratelimit.Config{Store: b.store, Keyring: mustKeyring(t), Now: b.clock.Now, Log: slog.New(log)})
	ctx := context.WithValue(context.Background(), requestKey{}, "the request")
	app := appWith(func(l *latchkey.Limits) {
		l.ResendCooldown, l.SMSCountries, l.MaxFailuresPerMinute = time.Minute, []string{"GB"}, 1
	})
	for range 2 {
		spend, err := limiter.ForSend(ctx, app, email("user:u1", "ada@example.com"))
		if err == nil {
			err = b.store.UpdateCounters(ctx, spend.Keys, spend.Update)
		}
		if err != nil && latchkey.ErrorCode(err) != latchkey.CodeRateLimited {
			t.Fatal(err)
		}
	}
	if _, err := limiter.ForSend(ctx, app, sms("user:u2", "+14155550100")); err == nil {
		t.Fatal("an SMS to a country the app does not send to was admitted")
	}
	if err := limiter.Failed(ctx, app, netip.Addr{}); err != nil {
		t.Fatal(err)
	}
	if err := limiter.CheckAuthenticate(ctx, app, netip.Addr{}); err == nil {
		t.Fatal("an authentication past the app's failure budget was admitted")
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	if len(log.marks) != 3 {
		t.Fatalf("%d refusals logged; want 3", len(log.marks))
	}
	for i, mark := range log.marks {
		if mark != "the request" {
			t.Errorf("refusal %d was logged without the request's context", i+1)
		}
	}
}

func mustKeyring(t *testing.T) *secrets.Keyring {
	t.Helper()
	k, err := secrets.New(rand.Reader, []byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}
