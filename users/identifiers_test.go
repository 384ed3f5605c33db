package users_test

import (
	"strings"
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
		{"a@XN--BCHER-KVA.example", "a@XN--BCHER-KVA.example", "a@xn--bcher-kva.example"},
		{"a@ｅｘａｍｐｌｅ.com", "a@ｅｘａｍｐｌｅ.com", "a@example.com"},                                    // fullwidth letters: the domain DNS looks up
		{"a@example。com", "a@example。com", "a@example.com"},                                    // an ideographic full stop separates labels
		{"a@" + strings.Repeat("d", 63) + ".com", "", "a@" + strings.Repeat("d", 63) + ".com"}, // the longest label
	}
	for _, c := range cases {
		display, key, err := users.CanonicalEmail(c.in)
		if c.display == "" {
			c.display = c.in
		}
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
		"a@b.com\r\nBcc: x@evil.tld", "a b@example.com", `"q"@example.com`, "a@exa mple.com", "a@@example.com",
		"a@xn--.com",                                       // a punycode label that decodes to nothing
		"a@xn--zz.com",                                     // invalid punycode
		"a@xn--ab.com",                                     // punycode of plain ASCII
		"a@xn--55qx5d.xn--",                                // an empty punycode top-level label
		"a@xn--wca.com", "a@xn--kba.com", "a@xn--qi7c.com", // punycode of what IDNA maps first: Ü, a soft hyphen, a fullwidth e
		"a@" + strings.Repeat("d", 64) + ".com",                          // a label longer than 63
		"a@" + strings.Repeat("ü", 60) + ".com",                          // a label longer than 63 once in punycode
		strings.Repeat("l", 60) + "@" + strings.Repeat("ä.", 25) + "com", // 139 bytes as written, 264 as a key
		"a@example.com.", "a@example。com。", "a@.example.com", // empty labels, trailing dots
		"a@1.2.3.4", "a@[1.2.3.4]", "a@example.123", // IP addresses and numeric top-level labels
		"a\u200b@example.com", "a@exa\u200bmple.com", "\u202eA@example.com", "\ufeffa@example.com", // invisible characters
		"a@exa_mple.com", "a@-example.com", "a@example-.com", "a\x00@example.com",
	} {
		if _, key, err := users.CanonicalEmail(bad); err == nil {
			t.Errorf("CanonicalEmail(%q) accepted, key %q", bad, key)
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
