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
// limit less the angle brackets), as written and as a key.
const maxEmailLength = 254

// emailDomains maps an email's domain to ASCII as DNS looks it up (UTS #46
// lookup: case folded, width mapped, IDNA rules and the bidi rule checked,
// U-labels to punycode), and also checks what a resolvable name needs: no
// empty label (so no "xn--" that decodes to nothing, no trailing dot),
// labels of 1 to 63 octets, at most 253 in all. idna.Lookup skips those
// length checks.
var emailDomains = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.VerifyDNSLength(true), idna.Transitional(false))

// CanonicalEmail checks that raw is a bare email address and returns the
// address as written (trimmed) and its canonical key: the local part in
// Unicode NFC and lower case, the domain lower-cased and in ASCII (IDNA
// punycode). Two spellings of one mailbox share a key, so they are one user
// and one rate-limit counter; homoglyphs stay distinct because NFC does not
// fold them. A key is itself a valid address whose key is itself.
func CanonicalEmail(raw string) (display, key string, err error) {
	display = strings.TrimSpace(raw)
	invalid := latchkey.Errorf(latchkey.CodeInvalid, "email must be a valid email address")
	if display == "" || len(display) > maxEmailLength || hasInvisible(display) || !utf8.ValidString(display) {
		return "", "", invalid
	}
	addr, perr := mail.ParseAddress(display)
	if perr != nil || addr.Name != "" || addr.Address != display {
		return "", "", invalid
	}
	at := strings.LastIndexByte(display, '@')
	local, domain := display[:at], display[at+1:]
	if local == "" || strings.ContainsAny(local, "\"\\ ") {
		return "", "", invalid
	}
	asciiDomain, ok := emailDomain(domain)
	if !ok {
		return "", "", invalid
	}
	key = foldKey(local) + "@" + asciiDomain
	if len(key) > maxEmailLength {
		return "", "", invalid
	}
	return display, key, nil
}

// emailDomain returns the ASCII form of an email's domain, or false if it
// is not a domain mail can be sent to: it must have at least two labels
// and a top-level label that is not all digits (RFC 3696 §2; an IP address
// is written in brackets, which are refused).
func emailDomain(domain string) (string, bool) {
	ascii, err := emailDomains.ToASCII(domain)
	if err != nil {
		return "", false
	}
	dot := strings.LastIndexByte(ascii, '.')
	if dot < 0 || strings.Trim(ascii[dot+1:], "0123456789") == "" {
		return "", false
	}
	return ascii, true
}

// foldKey folds what people may type in several ways into one key: NFC,
// lower case, and NFC again, since lower-casing can leave a string that is
// not in NFC ("İ̑" lowers to "ȋ", which composes to "ȋ"); without the
// second pass a key would not be its own key.
func foldKey(s string) string {
	return norm.NFC.String(strings.ToLower(norm.NFC.String(s)))
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
// NFC, lower case (foldKey).
func CanonicalUsername(raw string) (display, key string, err error) {
	display = strings.TrimSpace(raw)
	if display == "" || utf8.RuneCountInString(display) > maxUsernameLength || hasControl(display) || !utf8.ValidString(display) {
		return "", "", latchkey.Errorf(latchkey.CodeInvalid, "username must be 1 to %d printable characters", maxUsernameLength)
	}
	return display, foldKey(display), nil
}

func hasControl(s string) bool {
	return strings.IndexFunc(s, unicode.IsControl) >= 0
}

// hasInvisible reports control characters and invisible format characters
// (zero-width spaces and joiners, bidi overrides, byte order marks), which
// would let one address pass for another.
func hasInvisible(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }) >= 0
}

// prefixKey brings a listing's search prefix into the form of the keys it is
// matched against: NFC and lower case, like email keys; phone prefixes are
// digits and "+" and pass unchanged.
func prefixKey(p string) string {
	return foldKey(strings.TrimSpace(p))
}
