package users

import (
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/latchkeyhq/latchkey"
	"github.com/nyaruka/phonenumbers"
	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"
)

// maxEmailLength is the longest usable address (RFC 5321 §4.5.3.1.3 path
// limit less the angle brackets).
const maxEmailLength = 254

// CanonicalEmail checks that raw is a bare email address and returns the
// address as written (trimmed) and its canonical key: the local part in
// Unicode NFC and lower case, the domain lower-cased and in ASCII (IDNA
// punycode). Two spellings of one mailbox share a key, so they are one user
// and one rate-limit counter; homoglyphs stay distinct because NFC does not
// fold them.
func CanonicalEmail(raw string) (display, key string, err error) {
	display = strings.TrimSpace(raw)
	invalid := latchkey.Errorf(latchkey.CodeInvalid, "email must be a valid email address")
	if display == "" || len(display) > maxEmailLength || hasControl(display) || !utf8.ValidString(display) {
		return "", "", invalid
	}
	addr, perr := mail.ParseAddress(display)
	if perr != nil || addr.Name != "" || addr.Address != display {
		return "", "", invalid
	}
	at := strings.LastIndexByte(display, '@')
	local, domain := display[:at], display[at+1:]
	if local == "" || strings.ContainsAny(local, "\"\\ ") || !strings.Contains(domain, ".") {
		return "", "", invalid
	}
	asciiDomain, derr := idna.Lookup.ToASCII(strings.ToLower(domain))
	if derr != nil {
		return "", "", invalid
	}
	return display, strings.ToLower(norm.NFC.String(local)) + "@" + asciiDomain, nil
}

// e164 is a phone number in E.164: a plus, a country code not starting with
// 0, and 8 to 15 digits in all.
var e164 = regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)

// phoneSeparators are the characters people write inside phone numbers,
// dropped before checking the E.164 form.
var phoneSeparators = strings.NewReplacer(" ", "", "-", "", ".", "", "(", "", ")", "")

// NormalizePhone returns raw in E.164, after dropping spaces, hyphens, dots
// and parentheses, so "+1 (415) 555-0100" and "+14155550100" are one number.
// Anything else that is not E.164 is refused.
func NormalizePhone(raw string) (string, error) {
	p := phoneSeparators.Replace(strings.TrimSpace(raw))
	if !e164.MatchString(p) {
		return "", latchkey.Errorf(latchkey.CodeInvalid, "phone_number must be in E.164 format, like +14155550100")
	}
	return p, nil
}

// PhoneRegion tells where an E.164 number belongs, from libphonenumber's
// metadata: its ISO 3166 region code ("GB"), or "" when no region claims it
// (a non-geographic, unassigned or invalid number), and its country calling
// code (44). Numbers sharing a calling code are told apart by their
// national prefixes: +1 is the United States, Canada or one of the
// Caribbean nations.
func PhoneRegion(number string) (region string, callingCode int) {
	n, err := phonenumbers.Parse(number, "")
	if err != nil {
		return "", 0
	}
	region = phonenumbers.GetRegionCodeForNumber(n)
	if region == phonenumbers.UNKNOWN_REGION || region == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY {
		region = ""
	}
	return region, int(n.GetCountryCode())
}

// KnownCountry reports whether libphonenumber knows a country named the way
// an SMS allowlist names it: an ISO 3166 region code ("GB") or a calling
// code ("+44").
func KnownCountry(c string) bool {
	if code, ok := strings.CutPrefix(c, "+"); ok {
		n, err := strconv.Atoi(code)
		return err == nil && phonenumbers.GetSupportedCallingCodes()[n]
	}
	return phonenumbers.GetSupportedRegions()[c]
}

// maxUsernameLength bounds a username.
const maxUsernameLength = 128

// CanonicalUsername returns the username as written (trimmed) and its key:
// NFC, lower case.
func CanonicalUsername(raw string) (display, key string, err error) {
	display = strings.TrimSpace(raw)
	if display == "" || utf8.RuneCountInString(display) > maxUsernameLength || hasControl(display) || !utf8.ValidString(display) {
		return "", "", latchkey.Errorf(latchkey.CodeInvalid, "username must be 1 to %d printable characters", maxUsernameLength)
	}
	return display, strings.ToLower(norm.NFC.String(display)), nil
}

func hasControl(s string) bool {
	return strings.IndexFunc(s, unicode.IsControl) >= 0
}

// prefixKey brings a listing's search prefix into the form of the keys it is
// matched against: NFC and lower case, like email keys; phone prefixes are
// digits and "+" and pass unchanged.
func prefixKey(p string) string {
	return strings.ToLower(norm.NFC.String(strings.TrimSpace(p)))
}
