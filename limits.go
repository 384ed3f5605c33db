package latchkey

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"regexp"
	"slices"
	"time"
)

// Limits are an app's abuse limits: how often codes may be sent, what SMS
// may cost, and how many failed authentications the app tolerates. Every
// numeric limit is off at 0. DefaultLimits gives a new app's values and
// Limits.Validate their ranges.
type Limits struct {
	// ResendCooldown is the shortest time between two sends to one
	// destination or user.
	ResendCooldown time.Duration
	// SendsPerHour and SendsPerDay cap the sends to one destination or
	// user over a sliding hour and day.
	SendsPerHour int
	SendsPerDay  int
	// SMSCountries, when not empty, are the only places SMS may go: ISO
	// 3166 region codes ("GB") or calling codes ("+44").
	SMSCountries []string
	// SMSDailyBudget caps the app's SMS per calendar day (UTC).
	SMSDailyBudget int
	// SMSPrefixPerHour caps the SMS per sliding hour to numbers that share
	// all but their last three digits: what stops sequential-number
	// pumping.
	SMSPrefixPerHour int
	// MaxFailuresPerMinute is the app's guess budget: past this many failed
	// authentications in a sliding minute, authenticate calls are refused
	// for the rest of the window.
	MaxFailuresPerMinute int
	// IPSendsPerHour and IPFailuresPerHour cap the sends and the failed
	// authentications per end-user address (IPv6: per /64) over a sliding
	// hour, when the app's backend forwards that address.
	IPSendsPerHour    int
	IPFailuresPerHour int
	// TestIdentifiers are identifiers with a fixed passcode: sends to them
	// deliver nothing and count against no limit.
	TestIdentifiers []TestIdentifier
}

// TestIdentifier is an email address or phone number whose passcode is
// fixed, for CI and app store reviewers. Only a keyed hash of the code is
// stored, so a copy of the database does not yield a working login.
type TestIdentifier struct {
	// Identifier is canonical: an email key or an E.164 number.
	Identifier string `json:"identifier"`
	CodeHash   []byte `json:"code_hash"`
}

// Limit ranges. The caps that keep a log of event times are bounded so that
// a counter stays small.
const (
	MaxResendCooldown  = time.Hour
	MaxSendsCap        = 1000  // sends per hour or day to one destination or user
	MaxEventCap        = 10000 // the largest cap of any other sliding window
	MaxSMSDailyBudget  = 10_000_000
	MaxSMSCountries    = 250
	MaxTestIdentifiers = 50
)

// DefaultLimits returns the limits a new app starts with. The per-address
// caps allow a large office or a carrier's NAT, where hundreds of people
// share one address, to log in through a busy morning hour, while still
// stopping one machine from sending or guessing at scale.
func DefaultLimits() Limits {
	return Limits{
		ResendCooldown:       30 * time.Second,
		SendsPerHour:         10,
		SendsPerDay:          30,
		SMSPrefixPerHour:     20,
		MaxFailuresPerMinute: 1000,
		IPSendsPerHour:       1000,
		IPFailuresPerHour:    500,
	}
}

// smsCountry is an SMSCountries entry: an ISO 3166 alpha-2 region code or
// a calling code.
var smsCountry = regexp.MustCompile(`^([A-Z]{2}|\+[1-9][0-9]{0,2})$`)

// intRange bounds one integer limit.
type intRange struct {
	name     string
	value    int
	min, max int
}

// Validate reports the first limit outside its range, naming it and the
// range. It checks the test identifiers' shape, not their codes (only their
// hashes are here).
func (l Limits) Validate() error {
	if l.ResendCooldown != 0 && (l.ResendCooldown < time.Second || l.ResendCooldown > MaxResendCooldown) {
		return Errorf(CodeInvalid, "resend_cooldown must be 0 (off) or from 1s to 1h, got %s", l.ResendCooldown)
	}
	ranges := []intRange{
		{"sends_per_hour", l.SendsPerHour, 0, MaxSendsCap},
		{"sends_per_day", l.SendsPerDay, 0, MaxSendsCap},
		{"sms_daily_budget", l.SMSDailyBudget, 0, MaxSMSDailyBudget},
		{"sms_prefix_per_hour", l.SMSPrefixPerHour, 0, MaxEventCap},
		{"max_failures_per_minute", l.MaxFailuresPerMinute, 0, MaxEventCap},
		{"ip_sends_per_hour", l.IPSendsPerHour, 0, MaxEventCap},
		{"ip_failures_per_hour", l.IPFailuresPerHour, 0, MaxEventCap},
	}
	for _, r := range ranges {
		if r.value < r.min || r.value > r.max {
			return Errorf(CodeInvalid, "%s must be from %d (off) to %d, got %d", r.name, r.min, r.max, r.value)
		}
	}
	if len(l.SMSCountries) > MaxSMSCountries {
		return Errorf(CodeInvalid, "sms_countries may list at most %d countries", MaxSMSCountries)
	}
	for _, c := range l.SMSCountries {
		if !smsCountry.MatchString(c) {
			return Errorf(CodeInvalid, "sms_countries entries must be ISO 3166 region codes such as GB or calling codes such as +44, got %q", c)
		}
	}
	if len(l.TestIdentifiers) > MaxTestIdentifiers {
		return Errorf(CodeInvalid, "an app may have at most %d test identifiers", MaxTestIdentifiers)
	}
	seen := map[string]bool{}
	for _, t := range l.TestIdentifiers {
		if t.Identifier == "" || len(t.CodeHash) == 0 || seen[t.Identifier] {
			return Errorf(CodeInvalid, "test identifiers must be distinct, each with a code")
		}
		seen[t.Identifier] = true
	}
	return nil
}

// TestIdentifier returns the app's test identifier whose canonical form is
// one of ids, or nil.
func (l Limits) TestIdentifier(ids ...string) *TestIdentifier {
	for i, t := range l.TestIdentifiers {
		for _, id := range ids {
			if id != "" && id == t.Identifier {
				return &l.TestIdentifiers[i]
			}
		}
	}
	return nil
}

// SendFacts are what the limits judge a send by.
type SendFacts struct {
	Channel Channel
	// Subject is the challenge's subject: a known user, or the decoy of an
	// unknown identifier, which is counted exactly like a user.
	Subject string
	// Destination is where the code goes, canonical (an email key or an
	// E.164 number); empty for the direct channel. For a StandIn send it
	// is a stand-in value instead, unique to the channel and subject.
	Destination string
	// StandIn marks a send that delivers nothing and names no address of
	// its channel (hide_unknown_users). It is counted like a real send
	// against its stand-in Destination, which no real address shares, has
	// no country, and is its own SMS prefix.
	StandIn bool
	// EndUser is the end user's address when the app's backend forwarded
	// it; the zero Addr when it did not.
	EndUser netip.Addr
}

// Counter is what the store keeps for one rate-limit key: the recent times
// of its events (a sliding log, oldest first, holding no more entries than
// the largest cap that uses the key needs), a count for budgets over a fixed
// period, when the key is blocked until (cheap to read before a check), and
// when the row may be purged. The store keeps counters; package ratelimit
// decides what they mean.
type Counter struct {
	Key          string
	Events       []time.Time
	Count        int
	BlockedUntil time.Time
	ExpiresAt    time.Time
}

// Same reports whether c and o hold the same values as the stores keep
// them (times to the millisecond), so that a store writes only what an
// update changed.
func (c Counter) Same(o Counter) bool {
	return c.Key == o.Key && c.Count == o.Count && Millis(c.BlockedUntil) == Millis(o.BlockedUntil) &&
		Millis(c.ExpiresAt) == Millis(o.ExpiresAt) &&
		slices.EqualFunc(c.Events, o.Events, func(x, y time.Time) bool { return Millis(x) == Millis(y) })
}

// CounterUpdate is a change to several counters that must commit with
// something else, such as a send (ChallengeStore.CreateChallenge): the
// counters named by Keys are read, passed to Update in that order, and the
// changed ones written, all in that transaction. Update's error aborts it
// all and is returned as is.
type CounterUpdate struct {
	Keys   []string
	Update func([]*Counter) error
}

// EncodeEvents packs event times, oldest first, as the stores keep them:
// the first as Unix milliseconds, each next one as the milliseconds since
// the one before, all as varints. A log of a thousand events a minute
// apart takes about three kilobytes.
func EncodeEvents(events []time.Time) []byte {
	out := make([]byte, 0, len(events)*3)
	var last int64
	for i, e := range events {
		ms := Millis(e)
		if i == 0 {
			out = binary.AppendVarint(out, ms)
		} else {
			out = binary.AppendVarint(out, ms-last)
		}
		last = ms
	}
	return out
}

// DecodeEvents reverses EncodeEvents.
func DecodeEvents(b []byte) ([]time.Time, error) {
	var (
		events []time.Time
		last   int64
	)
	for len(b) > 0 {
		v, n := binary.Varint(b)
		if n <= 0 {
			return nil, errCorruptEvents
		}
		b = b[n:]
		if events != nil {
			v += last
		}
		events = append(events, FromMillis(v))
		last = v
	}
	return events, nil
}

var errCorruptEvents = errors.New("corrupt counter events")
