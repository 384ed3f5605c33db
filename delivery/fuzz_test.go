package delivery_test

import (
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/delivery"
	"golang.org/x/net/html"
)

// FuzzEmailContent composes emails from any email_content that Validate
// accepts: composing never fails, no line break reaches the subject or the
// sender name (the mail headers), and every field comes out as text, never
// markup: the HTML holds only the template's own elements and no active
// attribute.
func FuzzEmailContent(f *testing.F) {
	attack := `<img src=x onerror=alert(1)><a href="javascript:alert(2)">x</a>"'&</td></table><script>`
	for _, s := range []delivery.EmailContent{
		{Subject: "Sign in", HeaderText: "Hi", BodyText: "Body", LinkText: "Go", InfoText: "i", FooterText: "f", SenderName: "Shop", PrimaryColor: "#123456"},
		{Subject: "Sign in " + attack, HeaderText: attack, BodyText: attack, LinkText: attack, InfoText: attack, FooterText: attack},
		{Subject: "a\r\nBcc: x@evil.example", SenderName: "x\nBcc: y"},
		{Subject: "=?utf-8?q?a=0D=0ABcc:_x@evil.example?=", SenderName: `x" <evil@example.com>`},
		{Subject: "a", PrimaryColor: "#fff;background:url(javascript:x)"},
		{Subject: "a", Base64Logo: "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="},
		{Subject: "a", Base64Logo: "data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+PC9zdmc+"},
		{Subject: "a\u2028b\u0085c", SenderName: "\u202eevil"}, {Subject: "\xff\xfe", BodyText: "\x00"},
		{Subject: strings.Repeat("s", 200), BodyText: strings.Repeat("<", 2000)},
	} {
		f.Add(s.Subject, s.HeaderText, s.BodyText, s.LinkText, s.InfoText, s.FooterText, s.SenderName, s.PrimaryColor, s.Base64Logo, true)
	}
	allowed := templateTags(f)
	f.Fuzz(func(t *testing.T, subject, header, body, linkText, info, footer, sender, color, logo string, isLink bool) {
		c := &delivery.EmailContent{Subject: subject, HeaderText: header, BodyText: body, LinkText: linkText,
			InfoText: info, FooterText: footer, SenderName: sender, PrimaryColor: color, Base64Logo: logo}
		if c.Validate() != nil {
			return
		}
		e := delivery.Email{AppName: "Shop", Code: "042317", Expiry: 5 * time.Minute, Custom: c}
		if isLink {
			e.Code, e.Link = "", "https://login.example/magic-link?code=abc"
		}
		out, err := delivery.ComposeEmail(e)
		if err != nil {
			t.Fatalf("validated content does not compose: %v", err)
		}
		if strings.ContainsAny(out.Subject+out.From, "\r\n\x00") {
			t.Fatalf("a line break reaches a header: subject %q, from %q", out.Subject, out.From)
		}
		assertNoActiveMarkup(t, out.HTML)
		for tag := range tagsOf(out.HTML) {
			if !allowed[tag] {
				t.Fatalf("the email holds a <%s> element the template does not", tag)
			}
		}
	})
}

// templateTags returns the elements the templates themselves write, with
// every field set.
func templateTags(f *testing.F) map[string]bool {
	all := map[string]bool{}
	for _, e := range []delivery.Email{
		{AppName: "Shop", Code: "1", Expiry: time.Minute, Custom: &delivery.EmailContent{Subject: "s", HeaderText: "h", BodyText: "b",
			LinkText: "l", InfoText: "i", FooterText: "f", PrimaryColor: "#123", Base64Logo: tinyPNG}},
		{AppName: "Shop", Link: "https://x.example/", Expiry: time.Minute, Custom: &delivery.EmailContent{Subject: "s", HeaderText: "h",
			BodyText: "b", LinkText: "l", InfoText: "i", FooterText: "f", PrimaryColor: "#123", Base64Logo: tinyPNG}},
	} {
		out, err := delivery.ComposeEmail(e)
		if err != nil {
			f.Fatal(err)
		}
		for tag := range tagsOf(out.HTML) {
			all[tag] = true
		}
	}
	return all
}

const tinyPNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

// tagsOf returns the element names of an HTML document.
func tagsOf(doc string) map[string]bool {
	tags := map[string]bool{}
	z := html.NewTokenizer(strings.NewReader(doc))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return tags
		case html.StartTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			tags[string(name)] = true
		}
	}
}

// FuzzCustomSMS composes SMS from any custom_sms_input that Validate accepts,
// with any app name the apps rules allow: a composed SMS holds the code,
// carries the sender ID, and fits in MaxSMSSegments; a refused one is an
// invalid-input error because it would not.
func FuzzCustomSMS(f *testing.F) {
	for _, s := range []struct{ message, sender, app string }{
		{"{otp} is your {app} code", "SHOP", "Shop"},
		{"{otp}" + strings.Repeat("{app}", 27), "", "Shopping Centre Mall"},
		{"🔑 {otp} {app} " + strings.Repeat("ж", 125), "", strings.Repeat("Ж", 80)},
		{"{app}{otp}" + strings.Repeat("€", 130), "ABCDEFGHIJK", strings.Repeat("{", 100)},
		{"{otp}{app}{otp}", "", "{otp}"}, {"{app}{otp}\r\n", "A B", "a\u0301"}, {"", "", ""},
	} {
		f.Add(s.message, s.sender, s.app, uint8(2))
	}
	f.Fuzz(func(t *testing.T, message, sender, app string, length uint8) {
		in := &delivery.SMSInput{CustomMessage: message, SenderID: sender}
		if in.Validate() != nil || !validAppName(app) {
			return
		}
		code := strings.Repeat("7", 4+int(length)%5)
		out, err := delivery.ComposeSMS(delivery.SMS{AppName: app, Code: code, Expiry: time.Minute, Custom: in})
		if err != nil {
			if latchkey.ErrorCode(err) != latchkey.CodeInvalid || latchkey.ErrorMessage(err) == "" {
				t.Fatalf("refusal %v; want invalid input with a message", err)
			}
			return
		}
		if !strings.Contains(out.Text, code) || out.From != sender {
			t.Fatalf("SMS %+v lacks the code %s or the sender ID %q", out, code, sender)
		}
		// Counted apart from the segmenting ComposeSMS applies: three
		// segments hold at most 3 × 153 characters, in either encoding.
		if n := utf8.RuneCountInString(out.Text); n > 3*153 {
			t.Fatalf("SMS %q is %d characters long, more than 3 SMS hold", out.Text, n)
		}
	})
}

// validAppName is apps.Validate's rule for names.
func validAppName(name string) bool {
	n := utf8.RuneCountInString(name)
	return n > 0 && n <= 100 && strings.IndexFunc(name, unicode.IsControl) < 0
}

// FuzzCountSMSSegments checks the counting against its definition: GSM-7
// exactly when every character is in the alphabet, at least one unit a
// character, one SMS up to 160 (GSM-7) or 70 (UCS-2) units, and enough
// parts of 153 or 67 units for the rest.
func FuzzCountSMSSegments(f *testing.F) {
	for _, s := range []string{"", "a", strings.Repeat("a", 161), strings.Repeat("€", 81), "😀", strings.Repeat("ж", 71), "\xff", "`"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		s := delivery.CountSMSSegments(text)
		single, part := 160, 153
		if s.Encoding == delivery.EncodingUCS2 {
			single, part = 70, 67
		}
		switch {
		case s.Units < utf8.RuneCountInString(text):
			t.Fatalf("%q: %d units for %d characters", text, s.Units, utf8.RuneCountInString(text))
		case (s.Count == 0) != (text == ""):
			t.Fatalf("%q: %d SMS", text, s.Count)
		case s.Units <= single && text != "" && s.Count != 1:
			t.Fatalf("%q: %d units in %d SMS; want 1", text, s.Units, s.Count)
		case s.Units > single && (s.Count*part < s.Units || (s.Count-1)*part >= s.Units+s.Count):
			t.Fatalf("%q: %d units in %d parts of %d", text, s.Units, s.Count, part)
		}
	})
}
