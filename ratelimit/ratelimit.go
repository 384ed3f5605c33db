// Package ratelimit holds Latchkey's abuse limits: how often codes may be
// sent to one destination, user, end-user address or run of phone numbers,
// where SMS may go and how many a day, how many failed authentications an
// app and an address may have, and how many wrong client secrets an address
// may try. It decides; the store only keeps the counters
// (latchkey.LimitStore), so every node behind a load balancer enforces one
// limit exactly, and a restart forgets nothing.
//
// A counter is kept per key. A key is opaque: its scope (an app ID, or "*"
// for the server-wide client limits), what it counts, and a keyed hash of
// the value counted, so the counters table holds no address or number in
// clear. Most limits are sliding windows over a log of event times: at most
// N events in any span; the caller is told to retry when the oldest event
// counted leaves the window (a cooldown is a window of one event). The SMS
// budget is a count per calendar day in UTC, refused until midnight.
//
// A send's counters are checked and spent in the transaction that creates
// its challenge (ForSend returns the update), so a refused send creates no
// code, queues no message and leaves the previous code valid, and an
// admitted send is counted exactly once. Failed authentications are
// recorded after they fail; the next authenticate reads a cheap
// blocked-until first and is refused without evaluating its code.
//
// Every refusal is logged once, at warn level, with the app, the limit and
// a masked key, and reported to Config.Refused: the one place a refusal is
// observed.
package ratelimit

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/secrets"
)

// Limit names a limit, in logs, in refusal messages and for Config.Refused
// (the label a metric of refusals carries).
type Limit string

// The limits.
const (
	ResendCooldown       Limit = "resend_cooldown"
	SendsPerHour         Limit = "sends_per_hour"
	SendsPerDay          Limit = "sends_per_day"
	SMSCountries         Limit = "sms_countries"
	SMSDailyBudget       Limit = "sms_daily_budget"
	SMSPrefixPerHour     Limit = "sms_prefix_per_hour"
	IPSendsPerHour       Limit = "ip_sends_per_hour"
	MaxFailuresPerMinute Limit = "max_failures_per_minute"
	IPFailuresPerHour    Limit = "ip_failures_per_hour"
	ClientAuthAddress    Limit = "client_auth_per_address"
	ClientAuthClient     Limit = "client_auth_per_client"
)

// Server-wide client authentication limits: the app is not known before
// its client authenticates.
const (
	// DefaultClientFailuresPerAddress is how many failed client
	// authentications one address may make in a minute.
	DefaultClientFailuresPerAddress = 10
	// DefaultClientFailuresPerClient is how many failed authentications of
	// one client_id, from any addresses, a minute may hold before the
	// addresses that failed for it are refused.
	DefaultClientFailuresPerClient = 100
)

// Config configures a Limiter.
type Config struct {
	Store   latchkey.LimitStore
	Keyring *secrets.Keyring
	Log     *slog.Logger
	Now     func() time.Time
	// Refused, when set, is called once for every refusal, after it is
	// logged, with the app's ID ("" for a server-wide limit) and the
	// limit.
	Refused func(appID string, limit Limit)
	// ClientFailuresPerAddress and ClientFailuresPerClient override the
	// server-wide client authentication limits when positive.
	ClientFailuresPerAddress int
	ClientFailuresPerClient  int
}

// Limiter applies the limits.
type Limiter struct {
	cfg Config
}

// New returns a Limiter.
func New(cfg Config) *Limiter {
	if cfg.ClientFailuresPerAddress <= 0 {
		cfg.ClientFailuresPerAddress = DefaultClientFailuresPerAddress
	}
	if cfg.ClientFailuresPerClient <= 0 {
		cfg.ClientFailuresPerClient = DefaultClientFailuresPerClient
	}
	return &Limiter{cfg: cfg}
}

// keyPurpose separates counter keys' hashes from every other keyed hash.
const keyPurpose = "rate_limit_key"

// keyHashBytes is how much of the keyed hash a counter key keeps: 128 bits
// make a collision between two values of one app negligible.
const keyHashBytes = 16

// serverScope is the scope of the server-wide limits.
const serverScope = "*"

// counterKey builds the opaque key of what counts values of kind in scope.
func (l *Limiter) counterKey(scope, kind, value string) string {
	sum := l.cfg.Keyring.Hash(keyPurpose, scope+"\x00"+kind+"\x00"+value)
	return scope + "/" + kind + "/" + base64.RawURLEncoding.EncodeToString(sum[:keyHashBytes])
}

// addressValue is what an address is counted by: an IPv4 address, or an
// IPv6 address's /64, since one subscriber usually holds a whole /64.
func addressValue(a netip.Addr) string {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// maskAddress hides the last part of an address in logs: an IPv4 address's
// last octet; an IPv6 address is counted, and logged, by its /64 only.
func maskAddress(a netip.Addr) string {
	a = a.Unmap()
	if a.Is6() {
		return addressValue(a)
	}
	b := a.As4()
	return fmt.Sprintf("%d.%d.%d.x", b[0], b[1], b[2])
}

// refusal is a limit's answer: which limit, the key it counted (masked),
// how long to wait, and what to tell the caller.
type refusal struct {
	limit  Limit
	masked string
	wait   time.Duration
	what   string
}

// refuse reports a refusal (the one place every refusal passes) and
// returns the error the caller gets: 429 with Retry-After.
func (l *Limiter) refuse(ctx context.Context, scope string, r refusal) error {
	l.report(ctx, scope, r)
	wait := roundUp(r.wait)
	return &latchkey.Error{Code: latchkey.CodeRateLimited, RetryAfter: wait,
		Message: fmt.Sprintf("Rate limited (%s): %s. Retry in %s.", r.limit, r.what, wait)}
}

// report logs a refusal, in the context of the request refused, and tells
// Config.Refused.
func (l *Limiter) report(ctx context.Context, scope string, r refusal) {
	app := scope
	if scope == serverScope {
		app = ""
	}
	attrs := []any{"app", app, "limit", string(r.limit), "key", r.masked}
	if r.wait > 0 {
		attrs = append(attrs, "retry_after", roundUp(r.wait).String())
	}
	l.cfg.Log.WarnContext(ctx, "rate limited", attrs...)
	if l.cfg.Refused != nil {
		l.cfg.Refused(app, r.limit)
	}
}

// roundUp rounds a wait up to whole seconds, as Retry-After carries it.
func roundUp(d time.Duration) time.Duration {
	return (d + time.Second - 1).Truncate(time.Second)
}
