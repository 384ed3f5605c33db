package main

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
)

// showLimits returns the app's limits from `apps show --json`.
func (te *testEnv) showLimits(app string) map[string]any {
	te.t.Helper()
	code, out, errOut := te.runCmd("apps", "show", app, "--json")
	var view map[string]any
	if code != exitOK || json.Unmarshal([]byte(out), &view) != nil {
		te.t.Fatalf("apps show: %d %s %s", code, out, errOut)
	}
	return view["limits"].(map[string]any)
}

func TestAppsLimitFlags(t *testing.T) {
	te := newTestEnv(t)
	creds := te.createApp("--name", "Limited")
	defaults := map[string]any{"resend_cooldown": "30s", "sends_per_hour": 10.0, "sends_per_day": 30.0, "sms_countries": []any{},
		"sms_daily_budget": 0.0, "sms_prefix_per_hour": 20.0, "max_failures_per_minute": 1000.0, "ip_sends_per_hour": 1000.0,
		"ip_failures_per_hour": 500.0, "test_identifiers": []any{}}
	if got := te.showLimits(creds.AppID); !reflect.DeepEqual(got, defaults) {
		t.Fatalf("a new app's limits = %v; want the defaults %v", got, defaults)
	}

	code, _, errOut := te.runCmd("apps", "update", creds.AppID, "--resend-cooldown", "1m", "--sends-per-hour", "4",
		"--sends-per-day", "0", "--sms-countries", "gb, +1", "--sms-daily-budget", "250", "--sms-prefix-per-hour", "7",
		"--max-failures-per-minute", "99", "--ip-sends-per-hour", "40", "--ip-failures-per-hour", "0",
		"--test-identifier", "Ada@Example.com=73914682", "--test-identifier", "+1 (415) 555-0100=4242")
	if code != exitOK {
		t.Fatalf("apps update with every limit: %d %s", code, errOut)
	}
	want := map[string]any{"resend_cooldown": "1m0s", "sends_per_hour": 4.0, "sends_per_day": 0.0, "sms_countries": []any{"GB", "+1"},
		"sms_daily_budget": 250.0, "sms_prefix_per_hour": 7.0, "max_failures_per_minute": 99.0, "ip_sends_per_hour": 40.0,
		"ip_failures_per_hour": 0.0, "test_identifiers": []any{"ada@example.com", "+14155550100"}}
	if got := te.showLimits(creds.AppID); !reflect.DeepEqual(got, want) {
		t.Fatalf("limits after update = %v\nwant %v", got, want)
	}
	code, out, _ := te.runCmd("apps", "show", creds.AppID)
	for _, line := range []string{"resend_cooldown:", "sends_per_day:            off", "sms_countries:            GB,+1",
		"test_identifiers:         ada@example.com +14155550100"} {
		if code != exitOK || !strings.Contains(out, line) {
			t.Errorf("apps show lacks %q:\n%s", line, out)
		}
	}
	if strings.Contains(out, "73914682") || strings.Contains(te.showRaw(creds.AppID), "73914682") {
		t.Fatal("apps show prints a test identifier's code")
	}
	raw, err := os.ReadFile(strings.TrimPrefix(te.vars["LATCHKEY_DATABASE_URL"], "sqlite:"))
	if err != nil || strings.Contains(string(raw), "73914682") {
		t.Fatalf("the test identifier's code is stored in clear (%v)", err)
	}

	for _, bad := range []struct{ args, want []string }{
		{[]string{"--sends-per-hour", "5000"}, []string{"--sends-per-hour", "1000"}},
		{[]string{"--resend-cooldown", "10ms"}, []string{"--resend-cooldown", "1s to 1h"}},
		{[]string{"--max-failures-per-minute", "-1"}, []string{"--max-failures-per-minute", "10000"}},
		{[]string{"--sms-countries", "GB,XX"}, []string{"--sms-countries", "XX"}},
		{[]string{"--sms-daily-budget", "many"}, []string{"-sms-daily-budget", "whole number"}},
		{[]string{"--test-identifier", "ada@example.com=12"}, []string{"-test-identifier", "4 to 8 digits"}},
		{[]string{"--test-identifier", "ada=123456"}, []string{"-test-identifier", "email address or a phone number"}},
	} {
		code, _, errOut := te.runCmd(append([]string{"apps", "update", creds.AppID}, bad.args...)...)
		for _, w := range bad.want {
			if code == exitOK || !strings.Contains(errOut, w) {
				t.Errorf("apps update %v: exit %d, %q; want a refusal naming %q", bad.args, code, firstLine(errOut), w)
			}
		}
	}
	if got := te.showLimits(creds.AppID); !reflect.DeepEqual(got, want) {
		t.Fatalf("refused updates changed the limits: %v", got)
	}

	if code, _, errOut := te.runCmd("apps", "update", creds.AppID, "--remove-test-identifier", "ADA@example.com"); code != exitOK {
		t.Fatalf("remove a test identifier: %s", errOut)
	}
	if got := te.showLimits(creds.AppID)["test_identifiers"]; !reflect.DeepEqual(got, []any{"+14155550100"}) {
		t.Fatalf("test identifiers after removing one: %v", got)
	}
	if code, _, errOut := te.runCmd("apps", "update", creds.AppID, "--clear-test-identifiers", "--sms-countries", ""); code != exitOK {
		t.Fatalf("clear the test identifiers: %s", errOut)
	}
	if got := te.showLimits(creds.AppID); len(got["test_identifiers"].([]any)) != 0 || len(got["sms_countries"].([]any)) != 0 {
		t.Fatalf("after clearing: %v", got)
	}
}

func (te *testEnv) showRaw(app string) string {
	te.t.Helper()
	_, out, _ := te.runCmd("apps", "show", app, "--json")
	return out
}

// TestServerWarnsOfTestIdentifiers checks the start-up warning for every
// app with test identifiers.
func TestServerWarnsOfTestIdentifiers(t *testing.T) {
	te := newTestEnv(t)
	creds := te.createApp("--name", "Reviewed")
	te.createApp("--name", "Plain")
	if code, _, errOut := te.runCmd("apps", "update", creds.AppID, "--test-identifier", "review@example.com=123456"); code != exitOK {
		t.Fatal(errOut)
	}
	te.stderr.Reset()
	te.serve("serve")
	logs := te.stderr.String()
	if strings.Count(logs, "test identifiers") != 1 || !strings.Contains(logs, creds.AppID) || strings.Contains(logs, "123456") {
		t.Fatalf("start-up log:\n%s\nwant one warning naming the app with test identifiers, without the code", logs)
	}
}
