package ratelimit

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/delivery"
	"github.com/latchkeyhq/latchkey/users"
)

// ForSend judges a send. An SMS to a country the app does not allow is
// refused at once (400, nothing counted). Otherwise it returns the counter
// update the send must commit with its challenge: it refuses the send (429,
// with when to retry) if any limit is reached, and else counts it against
// every limit; nil when no limit applies.
//
// A send is counted against its destination (for a decoy that names no
// address, its stand-in) and its subject (the user, or an unknown
// identifier's decoy, counted alike) with the resend cooldown
// and the hourly and daily caps; against the end user's address when the
// backend forwarded it; and, for an SMS, against its number's prefix (all
// but the last three digits) and the app's SMS budget for the day. The
// subject is counted per channel, so that a user who asked for an email
// code may ask for an SMS at once; the destination is counted across
// channels and kinds, so an address gets one cooldown whether it is sent a
// passcode or a magic link.
func (l *Limiter) ForSend(ctx context.Context, app latchkey.App, send latchkey.SendFacts) (*latchkey.CounterUpdate, error) {
	if err := l.checkCountry(ctx, app, send); err != nil {
		return nil, err
	}
	now := l.cfg.Now()
	cs := l.sendCounters(app, send, now)
	if len(cs) == 0 {
		return nil, nil
	}
	return &latchkey.CounterUpdate{Keys: keysOf(cs), Update: func(counters []*latchkey.Counter) error {
		return l.spend(ctx, app.ID, cs, counters, now)
	}}, nil
}

// spend refuses an event if any counter has reached a limit, with the
// longest wait among them; otherwise it records the event in every
// counter.
func (l *Limiter) spend(ctx context.Context, scope string, cs []counted, counters []*latchkey.Counter, now time.Time) error {
	var worst *refusal
	for i, c := range cs {
		if r := c.check(counters[i], now); r != nil && (worst == nil || r.wait > worst.wait) {
			worst = r
		}
	}
	if worst != nil {
		return l.refuse(ctx, scope, *worst)
	}
	for i, c := range cs {
		c.record(counters[i], now)
	}
	return nil
}

// sendCounters lists the counters a send is judged by, leaving out those
// whose limits are all off.
func (l *Limiter) sendCounters(app latchkey.App, send latchkey.SendFacts, now time.Time) []counted {
	lim := app.Limits
	var cs []counted
	if ws := targetWindows(lim); len(ws) > 0 {
		if send.Destination != "" {
			cs = append(cs, counted{key: l.counterKey(app.ID, "destination", send.Destination),
				masked: delivery.Mask(send.Destination), windows: ws})
		}
		cs = append(cs, counted{key: l.counterKey(app.ID, "subject", string(send.Channel)+":"+send.Subject),
			masked: maskSubject(send.Subject), windows: ws})
	}
	if send.EndUser.IsValid() && lim.IPSendsPerHour > 0 {
		cs = append(cs, counted{key: l.counterKey(app.ID, "send-address", addressValue(send.EndUser)),
			masked: maskAddress(send.EndUser), windows: []window{{IPSendsPerHour, lim.IPSendsPerHour, time.Hour,
				fmt.Sprintf("at most %d codes an hour for one end-user address", lim.IPSendsPerHour)}}})
	}
	if send.Channel != latchkey.ChannelSMS || send.Destination == "" {
		return cs
	}
	if prefix := smsPrefix(send); lim.SMSPrefixPerHour > 0 && prefix != "" {
		cs = append(cs, counted{key: l.counterKey(app.ID, "sms-prefix", prefix), masked: delivery.Mask(prefix) + "xxx",
			windows: []window{{SMSPrefixPerHour, lim.SMSPrefixPerHour, time.Hour,
				fmt.Sprintf("at most %d SMS an hour to numbers that differ only in their last 3 digits", lim.SMSPrefixPerHour)}}})
	}
	if lim.SMSDailyBudget > 0 {
		day := now.UTC().Format(time.DateOnly)
		cs = append(cs, counted{key: l.counterKey(app.ID, "sms-day", day), masked: day, daily: lim.SMSDailyBudget,
			dayWhat: fmt.Sprintf("the app's budget of %d SMS a day is spent until midnight UTC", lim.SMSDailyBudget)})
	}
	return cs
}

// targetWindows are the limits on one destination or subject: the resend
// cooldown and the hourly and daily caps, those that are on.
func targetWindows(lim latchkey.Limits) []window {
	var ws []window
	if lim.ResendCooldown > 0 {
		ws = append(ws, window{ResendCooldown, 1, lim.ResendCooldown,
			fmt.Sprintf("one code per %s to a destination or user", lim.ResendCooldown)})
	}
	if lim.SendsPerHour > 0 {
		ws = append(ws, window{SendsPerHour, lim.SendsPerHour, time.Hour,
			fmt.Sprintf("at most %d codes an hour to a destination or user", lim.SendsPerHour)})
	}
	if lim.SendsPerDay > 0 {
		ws = append(ws, window{SendsPerDay, lim.SendsPerDay, 24 * time.Hour,
			fmt.Sprintf("at most %d codes a day to a destination or user", lim.SendsPerDay)})
	}
	return ws
}

// smsPrefix is what an SMS is counted against as a run of numbers: its
// number's prefix, or a stand-in destination whole (it has no neighbours).
func smsPrefix(send latchkey.SendFacts) string {
	if send.StandIn {
		return send.Destination
	}
	return numberPrefix(send.Destination)
}

// numberPrefix is an E.164 number without its last three digits: the run
// of a thousand numbers that sequential pumping walks through.
func numberPrefix(number string) string {
	if len(number) < 6 {
		return ""
	}
	return number[:len(number)-3]
}

// maskSubject shows a user's subject as is (a user ID is no address) and an
// unknown identifier's with the identifier masked.
func maskSubject(subject string) string {
	if rest, ok := strings.CutPrefix(subject, "unknown:"); ok {
		idType, identifier, _ := strings.Cut(rest, ":")
		return "unknown:" + idType + ":" + delivery.Mask(identifier)
	}
	return subject
}

// checkCountry refuses an SMS to a number outside the app's allowed
// countries. A stand-in destination has no country.
func (l *Limiter) checkCountry(ctx context.Context, app latchkey.App, send latchkey.SendFacts) error {
	if send.Channel != latchkey.ChannelSMS || send.StandIn || l.SMSAllowed(app, send.Destination) {
		return nil
	}
	l.report(ctx, app.ID, refusal{limit: SMSCountries, masked: delivery.Mask(send.Destination)})
	region, code := users.PhoneRegion(send.Destination)
	calling := "+" + strconv.Itoa(code)
	where := calling
	if region != "" {
		where = region + " (" + calling + ")"
	}
	return latchkey.Errorf(latchkey.CodeInvalid, "This application does not send SMS to numbers in %s (sms_countries)", where)
}

// SMSAllowed reports whether the app sends SMS to number: its allowed
// countries are empty, or name the number's ISO 3166 region or its calling
// code (which admits every region that shares it).
func (l *Limiter) SMSAllowed(app latchkey.App, number string) bool {
	allowed := app.Limits.SMSCountries
	if len(allowed) == 0 {
		return true
	}
	region, code := users.PhoneRegion(number)
	calling := "+" + strconv.Itoa(code)
	for _, c := range allowed {
		if c == calling || (region != "" && c == region) {
			return true
		}
	}
	return false
}
