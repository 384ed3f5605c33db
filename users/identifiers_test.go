package users_test

import (
	"testing"

	"github.com/latchkeyhq/latchkey/users"
)

func TestCanonicalEmail(t *testing.T) {
	cases := []struct{ in, display, key string }{
		{"ada@example.com", "ada@example.com", "ada@example.com"},
		{"  Ada@EXAMPLE.com ", "Ada@EXAMPLE.com", "ada@example.com"},
		{"user+tag@sub.example.org", "user+tag@sub.example.org", "user+tag@sub.example.org"},
		{"jörg@bücher.example", "jörg@bücher.example", "jörg@xn--bcher-kva.example"},
		{"JÖRG@BÜCHER.example", "JÖRG@BÜCHER.example", "jörg@xn--bcher-kva.example"},
	}
	for _, c := range cases {
		display, key, err := users.CanonicalEmail(c.in)
		if err != nil || display != c.display || key != c.key {
			t.Errorf("CanonicalEmail(%q) = %q, %q, %v; want %q, %q", c.in, display, key, err, c.display, c.key)
		}
		// Canonicalising a key again changes nothing.
		if _, again, err := users.CanonicalEmail(key); err != nil || again != key {
			t.Errorf("CanonicalEmail(key %q) = %q, %v; want it unchanged", key, again, err)
		}
	}
	// A Cyrillic "а" is a different mailbox from a Latin "a".
	_, latin, _ := users.CanonicalEmail("a@example.com")
	_, cyrillic, _ := users.CanonicalEmail("\u0430@example.com")
	if latin == cyrillic {
		t.Error("a homoglyph address has the same key as the Latin one")
	}
	for _, bad := range []string{"", "plain", "@example.com", "a@", "a@localhost", "Ann <a@example.com>",
		"a@b.com\r\nBcc: x@evil.tld", "a b@example.com", `"q"@example.com`, "a@exa mple.com", "a@@example.com"} {
		if _, _, err := users.CanonicalEmail(bad); err == nil {
			t.Errorf("CanonicalEmail(%q) accepted", bad)
		}
	}
}

func TestNormalizePhone(t *testing.T) {
	for in, want := range map[string]string{
		"+14155550100":       "+14155550100",
		"+1 (415) 555-0100":  "+14155550100",
		" +44 7700.900.123 ": "+447700900123",
	} {
		if got, err := users.NormalizePhone(in); err != nil || got != want {
			t.Errorf("NormalizePhone(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "4155550100", "+0155550100", "+1415555010012345", "+1415CALLNOW",
		"+１４１５５５５０１００", "+1415555\n0100", "+123"} {
		if _, err := users.NormalizePhone(bad); err == nil {
			t.Errorf("NormalizePhone(%q) accepted", bad)
		}
	}
}

func TestPhoneRegion(t *testing.T) {
	cases := []struct {
		number string
		region string
		code   int
	}{
		{"+442079460958", "GB", 44},
		{"+14155550100", "US", 1},
		{"+16135550123", "CA", 1}, // Ottawa: +1 but not the US
		{"+18765550123", "JM", 1}, // Jamaica shares +1 too
		{"+33142685300", "FR", 33},
		{"+882355000000", "", 882}, // international networks: no region
		{"not a number", "", 0},
	}
	for _, tc := range cases {
		region, code := users.PhoneRegion(tc.number)
		if region != tc.region || code != tc.code {
			t.Errorf("PhoneRegion(%q) = %q, %d; want %q, %d", tc.number, region, code, tc.region, tc.code)
		}
	}
}

func TestKnownCountry(t *testing.T) {
	for _, c := range []string{"GB", "US", "+44", "+1", "+882"} {
		if !users.KnownCountry(c) {
			t.Errorf("KnownCountry(%q) = false; want true", c)
		}
	}
	for _, c := range []string{"XX", "gb", "+999", "+", "44", ""} {
		if users.KnownCountry(c) {
			t.Errorf("KnownCountry(%q) = true; want false", c)
		}
	}
}
