package main

import (
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/login"
	"github.com/latchkeyhq/latchkey/secrets"
)

// limitFlags adds the flags of `apps update` that change the app's abuse
// limits and test identifiers.
func (c *appChanges) limitFlags(fs *flag.FlagSet, keyring *secrets.Keyring) {
	limits := func(a *latchkey.App) *latchkey.Limits { return &a.Limits }
	c.durationFlag(fs, "resend-cooldown", "shortest time between two codes to one destination or user (0 off, 1s to 1h)",
		func(a *latchkey.App, d time.Duration) { limits(a).ResendCooldown = d })
	c.intFlag(fs, "sends-per-hour", "codes per sliding hour to one destination or user (0 off, up to 1000)",
		func(a *latchkey.App, n int) { limits(a).SendsPerHour = n })
	c.intFlag(fs, "sends-per-day", "codes per sliding day to one destination or user (0 off, up to 1000)",
		func(a *latchkey.App, n int) { limits(a).SendsPerDay = n })
	c.stringFlag(fs, "sms-countries", "comma-separated ISO 3166 codes (GB) or calling codes (+44) SMS may go to; empty for all",
		func(a *latchkey.App, v string) { limits(a).SMSCountries = parseCountries(v) })
	c.intFlag(fs, "sms-daily-budget", "SMS per calendar day (UTC) for the whole app (0 unlimited, up to 10000000)",
		func(a *latchkey.App, n int) { limits(a).SMSDailyBudget = n })
	c.intFlag(fs, "sms-prefix-per-hour", "SMS per sliding hour to numbers that differ only in their last 3 digits (0 off, up to 10000)",
		func(a *latchkey.App, n int) { limits(a).SMSPrefixPerHour = n })
	c.intFlag(fs, "max-failures-per-minute", "failed authentications in a sliding minute after which the app's authenticate calls are refused (0 off, up to 10000)",
		func(a *latchkey.App, n int) { limits(a).MaxFailuresPerMinute = n })
	c.intFlag(fs, "ip-sends-per-hour", "codes per sliding hour for one end-user address, when the backend forwards it (0 off, up to 10000)",
		func(a *latchkey.App, n int) { limits(a).IPSendsPerHour = n })
	c.intFlag(fs, "ip-failures-per-hour", "failed authentications per sliding hour from one end-user address (0 off, up to 10000)",
		func(a *latchkey.App, n int) { limits(a).IPFailuresPerHour = n })
	c.testIdentifierFlags(fs, keyring)
}

// testIdentifierFlags adds --test-identifier, --remove-test-identifier and
// --clear-test-identifiers.
func (c *appChanges) testIdentifierFlags(fs *flag.FlagSet, keyring *secrets.Keyring) {
	fs.Func("test-identifier", "ID=CODE: an email address or E.164 phone number whose passcode is always CODE (4 to 8 digits) "+
		"and is never delivered, for CI and app store review (repeatable; replaces that identifier's code)", func(v string) error {
		id, code, err := login.ParseTestIdentifier(v)
		if err != nil {
			return errors.New(latchkey.ErrorMessage(err))
		}
		*c = append(*c, func(a *latchkey.App) {
			a.Limits.TestIdentifiers = append(withoutTestIdentifier(a.Limits.TestIdentifiers, id),
				login.NewTestIdentifier(keyring, a.ID, id, code))
		})
		return nil
	})
	fs.Func("remove-test-identifier", "remove a test identifier (repeatable)", func(v string) error {
		id, err := login.CanonicalTestIdentifier(v)
		if err != nil {
			return errors.New(latchkey.ErrorMessage(err))
		}
		*c = append(*c, func(a *latchkey.App) { a.Limits.TestIdentifiers = withoutTestIdentifier(a.Limits.TestIdentifiers, id) })
		return nil
	})
	fs.BoolFunc("clear-test-identifiers", "remove every test identifier", func(string) error {
		*c = append(*c, func(a *latchkey.App) { a.Limits.TestIdentifiers = nil })
		return nil
	})
}

func withoutTestIdentifier(list []latchkey.TestIdentifier, id string) []latchkey.TestIdentifier {
	return slices.DeleteFunc(slices.Clone(list), func(t latchkey.TestIdentifier) bool { return t.Identifier == id })
}

// parseCountries reads --sms-countries: comma-separated, any case, empty
// for none.
func parseCountries(v string) []string {
	var out []string
	for c := range strings.SplitSeq(v, ",") {
		if c = strings.ToUpper(strings.TrimSpace(c)); c != "" && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

// flagMessage names the flag behind a setting in a validation message:
// "sends_per_hour must ..." becomes "--sends-per-hour must ...".
func flagMessage(fs *flag.FlagSet, msg string) string {
	name, rest, ok := strings.Cut(msg, " ")
	flagName := strings.ReplaceAll(name, "_", "-")
	if !ok || fs.Lookup(flagName) == nil {
		return msg
	}
	return "--" + flagName + " " + rest
}

// limitsView is an app's limits as the CLI shows them: every limit, and the
// test identifiers without their codes.
type limitsView struct {
	ResendCooldown       string   `json:"resend_cooldown"`
	SendsPerHour         int      `json:"sends_per_hour"`
	SendsPerDay          int      `json:"sends_per_day"`
	SMSCountries         []string `json:"sms_countries"`
	SMSDailyBudget       int      `json:"sms_daily_budget"`
	SMSPrefixPerHour     int      `json:"sms_prefix_per_hour"`
	MaxFailuresPerMinute int      `json:"max_failures_per_minute"`
	IPSendsPerHour       int      `json:"ip_sends_per_hour"`
	IPFailuresPerHour    int      `json:"ip_failures_per_hour"`
	TestIdentifiers      []string `json:"test_identifiers"`
}

func limitsViewOf(l latchkey.Limits) limitsView {
	ids := make([]string, len(l.TestIdentifiers))
	for i, t := range l.TestIdentifiers {
		ids[i] = t.Identifier
	}
	return limitsView{ResendCooldown: l.ResendCooldown.String(), SendsPerHour: l.SendsPerHour, SendsPerDay: l.SendsPerDay,
		SMSCountries: nonNilList(l.SMSCountries), SMSDailyBudget: l.SMSDailyBudget, SMSPrefixPerHour: l.SMSPrefixPerHour,
		MaxFailuresPerMinute: l.MaxFailuresPerMinute, IPSendsPerHour: l.IPSendsPerHour, IPFailuresPerHour: l.IPFailuresPerHour,
		TestIdentifiers: ids}
}

func nonNilList(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// rows are the limits as lines of `apps show`: 0 reads "off".
func (v limitsView) rows() [][2]string {
	off := func(n int) string {
		if n == 0 {
			return "off"
		}
		return fmt.Sprint(n)
	}
	cooldown := v.ResendCooldown
	if cooldown == "0s" {
		cooldown = "off"
	}
	countries := strings.Join(v.SMSCountries, ",")
	if countries == "" {
		countries = "all"
	}
	return [][2]string{
		{"resend_cooldown", cooldown}, {"sends_per_hour", off(v.SendsPerHour)}, {"sends_per_day", off(v.SendsPerDay)},
		{"sms_countries", countries}, {"sms_daily_budget", off(v.SMSDailyBudget)},
		{"sms_prefix_per_hour", off(v.SMSPrefixPerHour)}, {"max_failures_per_minute", off(v.MaxFailuresPerMinute)},
		{"ip_sends_per_hour", off(v.IPSendsPerHour)}, {"ip_failures_per_hour", off(v.IPFailuresPerHour)},
		{"test_identifiers", strings.Join(v.TestIdentifiers, " ")},
	}
}
