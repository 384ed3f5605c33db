package users_test

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/latchkeyhq/latchkey/users"
)

// Seeds shared by the identifier fuzzers: the adversarial inputs of
// SECURITY.md ADV-05, -06, -08, -11 and -12 that reach identifiers.
var identifierSeeds = []string{
	"ada@example.com", " A@X.com ", "jörg@bücher.example", "\u0430@example.com", "a@exаmple.com",
	"a@xn--.com", "a@xn--zz.com", "a@xn--ab.com", "a@xn--bcher-kva.example", "a@xn--55qx5d.xn--",
	"a@ｅｘａｍｐｌｅ.com", "a@example。com", "a@example.com.", "a@1.2.3.4", "a@[::1]",
	"a@b.com\r\nBcc: x@evil.tld", "a\x00@example.com", "a\u200b@example.com", "\u202eA@example.com",
	"İ@example.com", "ǅ@example.com", "ΣΑΣ@example.com", "a\u0301@example.com", "\u00e1@example.com",
	"+14155550100", "+1 (415) 555-0100", "+１４１５５５５０１００", "+١٤١٥٥٥٥٠١٠٠", "+1415555\n0100", "+0155550100",
	"Ada", "İİİ", strings.Repeat("İ", 128), strings.Repeat("a", 129), "\xff\xfe",
	strings.Repeat("a", 1<<20),
}

func FuzzCanonicalEmail(f *testing.F) {
	for _, s := range identifierSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		display, key, err := users.CanonicalEmail(raw)
		if err != nil {
			if display != "" || key != "" {
				t.Fatalf("CanonicalEmail(%q) failed with values %q, %q", raw, display, key)
			}
			return
		}
		checkEmailKey(t, raw, key)
		if strings.ContainsAny(display, "\r\n\x00") || !utf8.ValidString(display) {
			t.Fatalf("CanonicalEmail(%q) display %q holds a line break, NUL or invalid UTF-8", raw, display)
		}
		_, again, err := users.CanonicalEmail(key)
		if err != nil || again != key {
			t.Fatalf("CanonicalEmail(%q) = key %q, whose key is %q, %v; want itself", raw, key, again, err)
		}
		if _, fromDisplay, _ := users.CanonicalEmail(display); fromDisplay != key {
			t.Fatalf("CanonicalEmail(%q): display %q has key %q, not %q", raw, display, fromDisplay, key)
		}
	})
}

// checkEmailKey checks what every email key must be: at most 254 bytes, one
// @, a local part, and an ASCII lower-case domain of at least two labels, none
// empty or longer than 63.
func checkEmailKey(t *testing.T, raw, key string) {
	t.Helper()
	local, domain, ok := strings.Cut(key, "@")
	if !ok || local == "" || strings.Contains(domain, "@") || len(key) > 254 {
		t.Fatalf("CanonicalEmail(%q) key %q is not one local part @ one domain of at most 254 bytes", raw, key)
	}
	labels := strings.Split(domain, ".")
	if len(labels) < 2 || strings.ToLower(domain) != domain {
		t.Fatalf("CanonicalEmail(%q) key domain %q: want at least two labels, in lower case", raw, domain)
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || !domainLabel.MatchString(l) {
			t.Fatalf("CanonicalEmail(%q) key domain %q has the label %q", raw, domain, l)
		}
	}
}

var domainLabel = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$`)

func FuzzNormalizePhone(f *testing.F) {
	for _, s := range identifierSeeds {
		f.Add(s)
	}
	e164 := regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := users.NormalizePhone(raw)
		if err != nil {
			return
		}
		if !e164.MatchString(p) {
			t.Fatalf("NormalizePhone(%q) = %q, not E.164", raw, p)
		}
		if again, err := users.NormalizePhone(p); err != nil || again != p {
			t.Fatalf("NormalizePhone(%q) = %q, which normalises to %q, %v", raw, p, again, err)
		}
	})
}

func FuzzCanonicalUsername(f *testing.F) {
	for _, s := range identifierSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		display, key, err := users.CanonicalUsername(raw)
		if err != nil {
			return
		}
		if display == "" || key == "" || strings.ContainsAny(display+key, "\r\n\x00") || !utf8.ValidString(key) {
			t.Fatalf("CanonicalUsername(%q) = %q, %q", raw, display, key)
		}
		if _, again, err := users.CanonicalUsername(key); err != nil || again != key {
			t.Fatalf("CanonicalUsername(%q) = key %q, whose key is %q, %v; want itself", raw, key, again, err)
		}
	})
}
