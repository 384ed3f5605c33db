package bench

import (
	"crypto/sha256"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
)

func TestJSONStringsAgreesWithEncodingJSON(t *testing.T) {
	keys := []string{"access_token", "session_id", "expires_in", "code"}
	for _, body := range []string{
		`{"access_token":"a.b.c","id_token":"x","refresh_token":"r","token_type":"Bearer","expires_in":3600,"session_id":"s1"}` + "\n",
		` { "session_id" : "s" , "nested" : {"access_token":"inner","list":[1,"]}",{"x":"}"}]} , "access_token":"outer" } `,
		`{"code":"12\"34\\u00e9\n","link":"http://h/magic-link?code=a\u0026b=c"}`,
		`{"message":"OTP sent","code":"042317"}`,
		`{"expires_in":null,"code":true}`,
		`{}`,
		`{"code":"x"} trailing data is ignored`,
	} {
		out := make([]string, len(keys))
		if !jsonStrings([]byte(body), keys, out) {
			t.Errorf("%s: refused", body)
			continue
		}
		var m map[string]any
		// The decoder reads the first value and ignores what follows, as
		// jsonStrings does.
		if err := json.NewDecoder(strings.NewReader(body)).Decode(&m); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		for i, k := range keys {
			want := ""
			switch v := m[k].(type) {
			case string:
				want = v
			case float64:
				want = "3600"
			case bool:
				want = "true"
			}
			if out[i] != want {
				t.Errorf("%s: %s = %q; encoding/json says %q", body, k, out[i], want)
			}
		}
	}
	for _, bad := range []string{``, `[]`, `{"a":}`, `{"a":"x"`, `{"a" "x"}`, `{"a":"x",}`, `{"a":"x"]`, `{"a":{"b":1}`, `{"a`, `"x"`} {
		if jsonStrings([]byte(bad), keys, make([]string, len(keys))) {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestJSONObjectRoundTrips(t *testing.T) {
	values := []string{"plain", `quote " and \ backslash`, "control \x01\n\t", "unicode é 日本", ""}
	for _, v := range values {
		var m map[string]string
		raw := jsonObject("k", v, "other", "x")
		if err := json.Unmarshal(raw, &m); err != nil || m["k"] != v || m["other"] != "x" {
			t.Errorf("%q: %s decodes to %q (%v)", v, raw, m["k"], err)
		}
	}
	if got := string(jsonObject()); got != "{}" {
		t.Errorf("empty object: %s", got)
	}
}

func TestFindCode(t *testing.T) {
	for text, want := range map[string]string{
		"Your sign-in code\n\nEnter this code to sign in to Shop.\n\n    042317\n\nThis code expires in 5 minutes.": "042317",
		"Sign in to Shop 2026: 123456":              "123456", // six digits preferred over a year
		"Your code is 4821 (expires in 10 minutes)": "4821",
		"no code at all, 12 or 123":                 "",
		"1234567890123 then 98765432":               "98765432",
	} {
		if got := FindCode(text); got != want {
			t.Errorf("FindCode(%q) = %q; want %q", text, got, want)
		}
	}
}

func TestParseProc(t *testing.T) {
	// A command name with spaces and parentheses, as the kernel allows.
	stat := "4242 (latch (key) srv) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 75 0 0 20 0 12 0 100 123456 789 18446744073709551615\n"
	cpu, err := parseStat([]byte(stat))
	if err != nil || cpu != 3250*time.Millisecond {
		t.Fatalf("parseStat = %v, %v; want 3.25s (325 ticks)", cpu, err)
	}
	if _, err := parseStat([]byte("4242 (x) S 1 2")); err == nil {
		t.Fatal("a short stat line was accepted")
	}
	rss, err := parseRSS([]byte("Name:\tlatchkey\nVmPeak:\t  900 kB\nVmRSS:\t   51200 kB\nThreads:\t12\n"))
	if err != nil || rss != 50<<20 {
		t.Fatalf("parseRSS = %d, %v; want 50 MiB", rss, err)
	}
	if _, err := parseRSS([]byte("Name:\tkthreadd\n")); err == nil {
		t.Fatal("a status without VmRSS was accepted")
	}
}

// TestReadProcOfThisProcess reads this test process's own /proc entry: a
// running Go program has used some CPU and holds some memory.
func TestReadProcOfThisProcess(t *testing.T) {
	if _, err := os.Stat(selfProc); err != nil {
		t.Skipf("no /proc on this system: %v", err)
	}
	// CPU time is counted in 10 ms ticks: spend some first.
	sample, err := readProc(selfProc)
	buf := make([]byte, 1<<20)
	for i := 0; err == nil && sample.cpu == 0 && i < 2000; i++ {
		sha256.Sum256(buf)
		sample, err = readProc(selfProc)
	}
	if err != nil || sample.cpu <= 0 || sample.rss <= 0 {
		t.Fatalf("readProc(%s) = %+v, %v; want positive CPU time and RSS", selfProc, sample, err)
	}
}

func TestJWTAlg(t *testing.T) {
	// {"alg":"ES256","kid":"k","typ":"at+jwt"}
	alg, err := jwtAlg("eyJhbGciOiJFUzI1NiIsImtpZCI6ImsiLCJ0eXAiOiJhdCtqd3QifQ.e30.sig")
	if err != nil || alg != "ES256" {
		t.Fatalf("jwtAlg = %q, %v", alg, err)
	}
	for _, bad := range []string{"", "opaque-token", "!!!.e30.x", "e30.e30.x"} {
		if _, err := jwtAlg(bad); err == nil {
			t.Errorf("jwtAlg(%q) succeeded", bad)
		}
	}
}
