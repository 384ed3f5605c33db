package latchkey_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
)

func TestEventsRoundTrip(t *testing.T) {
	t0 := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	cases := [][]time.Time{
		nil,
		{t0},
		{t0, t0, t0.Add(time.Millisecond), t0.Add(23 * time.Hour), t0.Add(24*time.Hour + 999*time.Millisecond)},
	}
	for _, events := range cases {
		got, err := latchkey.DecodeEvents(latchkey.EncodeEvents(events))
		if err != nil || !reflect.DeepEqual(got, events) {
			t.Errorf("DecodeEvents(EncodeEvents(%v)) = %v, %v", events, got, err)
		}
	}
	// A minute's worth of failures, 60 ms apart, costs a byte or two each.
	var burst []time.Time
	for i := range 1000 {
		burst = append(burst, t0.Add(time.Duration(i)*60*time.Millisecond))
	}
	if n := len(latchkey.EncodeEvents(burst)); n > 2100 {
		t.Errorf("1000 events 60 ms apart encode to %d bytes; want about two per event", n)
	}
	if _, err := latchkey.DecodeEvents([]byte{0xff}); err == nil {
		t.Error("DecodeEvents accepted a truncated varint")
	}
}

func TestLimitsValidate(t *testing.T) {
	if err := latchkey.DefaultLimits().Validate(); err != nil {
		t.Fatalf("the default limits are invalid: %v", err)
	}
	off := latchkey.Limits{}
	if err := off.Validate(); err != nil {
		t.Fatalf("all limits off is invalid: %v", err)
	}
	bad := []struct {
		change func(*latchkey.Limits)
		want   string
	}{
		{func(l *latchkey.Limits) { l.ResendCooldown = time.Millisecond }, "resend_cooldown must be 0 (off) or from 1s to 1h"},
		{func(l *latchkey.Limits) { l.ResendCooldown = 2 * time.Hour }, "resend_cooldown"},
		{func(l *latchkey.Limits) { l.SendsPerHour = -1 }, "sends_per_hour must be from 0 (off) to 1000, got -1"},
		{func(l *latchkey.Limits) { l.SendsPerDay = 1001 }, "sends_per_day"},
		{func(l *latchkey.Limits) { l.MaxFailuresPerMinute = 10001 }, "max_failures_per_minute must be from 0 (off) to 10000"},
		{func(l *latchkey.Limits) { l.IPFailuresPerHour = -5 }, "ip_failures_per_hour"},
		{func(l *latchkey.Limits) { l.SMSDailyBudget = 20_000_000 }, "sms_daily_budget"},
		{func(l *latchkey.Limits) {
			l.TestIdentifiers = []latchkey.TestIdentifier{{Identifier: "a@example.com", CodeHash: []byte{1}}, {Identifier: "a@example.com", CodeHash: []byte{2}}}
		}, "distinct"},
	}
	for _, tc := range bad {
		l := latchkey.DefaultLimits()
		tc.change(&l)
		err := l.Validate()
		if err == nil || latchkey.ErrorCode(err) != latchkey.CodeInvalid || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v; want an invalid error containing %q", l, err, tc.want)
		}
	}
}
