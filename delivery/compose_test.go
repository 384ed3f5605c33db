package delivery_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/delivery"
	"golang.org/x/net/html"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./delivery -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file; run go test ./delivery -update after checking the change\n--- got ---\n%s", name, got)
	}
}

func TestDefaultEmailsAndSMS(t *testing.T) {
	otp, err := delivery.ComposeEmail(delivery.Email{AppName: "Shop", Code: "042317", Expiry: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if otp.Subject != "Your Shop sign-in code" || otp.From != "Shop" {
		t.Fatalf("subject %q from %q", otp.Subject, otp.From)
	}
	golden(t, "otp_email.html", otp.HTML)
	golden(t, "otp_email.txt", otp.Text)

	link, err := delivery.ComposeEmail(delivery.Email{AppName: "Shop", Link: "https://login.example/magic-link?code=abc&x=1", Expiry: 15 * time.Minute,
		Branding: latchkey.Branding{SenderName: "Shop Team", LogoURL: "https://shop.example/logo.png", PrimaryColor: "#0a7"}})
	if err != nil {
		t.Fatal(err)
	}
	if link.From != "Shop Team" || !strings.Contains(link.HTML, `src="https://shop.example/logo.png"`) || !strings.Contains(link.HTML, "#0a7") {
		t.Fatalf("branding not applied: from %q", link.From)
	}
	golden(t, "link_email.html", link.HTML)
	golden(t, "link_email.txt", link.Text)

	sms, err := delivery.ComposeSMS(delivery.SMS{AppName: "Shop", Code: "042317", Expiry: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "otp.sms", sms.Text)
	if !strings.Contains(sms.Text, "042317") || !strings.Contains(sms.Text, "Shop") {
		t.Fatalf("SMS %q lacks the code or the app's name", sms.Text)
	}
	custom, err := delivery.ComposeSMS(delivery.SMS{AppName: "Shop", Code: "042317",
		Custom: &delivery.SMSInput{CustomMessage: "{app}: {otp} ({otp})", SenderID: "SHOP"}})
	if err != nil || custom.Text != "Shop: 042317 (042317)" || custom.From != "SHOP" {
		t.Fatalf("custom SMS %+v", custom)
	}
}

// TestEmailContentIsInert puts markup and header tricks in every
// email_content field: they come out as text.
func TestEmailContentIsInert(t *testing.T) {
	attack := `<img src=x onerror=alert(1)><a href="javascript:alert(2)">x</a>"'&`
	content := &delivery.EmailContent{Subject: "Sign in " + attack, HeaderText: attack, BodyText: attack, LinkText: attack,
		InfoText: attack, FooterText: attack, SenderName: "Shop", PrimaryColor: "#123456"}
	if err := content.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	got, err := delivery.ComposeEmail(delivery.Email{AppName: "Shop", Link: "https://login.example/magic-link?code=abc",
		Expiry: time.Minute, Custom: content})
	if err != nil {
		t.Fatal(err)
	}
	assertNoActiveMarkup(t, got.HTML)
	if !strings.Contains(got.HTML, "&lt;img src=x onerror=alert(1)&gt;") {
		t.Error("the injected markup was not escaped as text")
	}
	if !strings.Contains(got.Text, attack) {
		t.Error("the text part does not hold the fields verbatim")
	}
	golden(t, "custom_email.html", got.HTML)
	// Fields left out are empty: no default header, body or footer.
	bare, _ := delivery.ComposeEmail(delivery.Email{AppName: "Shop", Code: "1234", Expiry: time.Minute,
		Custom: &delivery.EmailContent{Subject: "Only a subject"}})
	if strings.Contains(bare.HTML, "Your sign-in code") || strings.Contains(bare.HTML, "safely ignore") || !strings.Contains(bare.HTML, "1234") {
		t.Error("email_content without texts still shows the default texts, or lost the code")
	}

	for name, c := range map[string]delivery.EmailContent{
		"CRLF subject":     {Subject: "a\r\nBcc: x@evil.example"},
		"CRLF sender":      {Subject: "a", SenderName: "x\nBcc: y"},
		"quote in sender":  {Subject: "a", SenderName: `x" <evil@example.com>`},
		"colour":           {Subject: "a", PrimaryColor: "red"},
		"CSS in colour":    {Subject: "a", PrimaryColor: "#fff;background:url(x)"},
		"logo not base64":  {Subject: "a", Base64Logo: "not base64!"},
		"logo not image":   {Subject: "a", Base64Logo: "PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+PC9zdmc+"},
		"logo too long":    {Subject: "a", Base64Logo: strings.Repeat("A", 20001)},
		"no subject":       {BodyText: "x"},
		"subject too long": {Subject: strings.Repeat("s", 201)},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%s: Validate accepted %+v", name, c)
		}
	}
}

// assertNoActiveMarkup walks every tag of an HTML document and fails on
// event handler attributes, script elements, javascript: URLs and images
// other than data: or https logos.
func assertNoActiveMarkup(t *testing.T, doc string) {
	t.Helper()
	z := html.NewTokenizer(strings.NewReader(doc))
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			return
		}
		if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
			continue
		}
		tok := z.Token()
		if tok.Data == "script" || tok.Data == "iframe" || tok.Data == "object" {
			t.Errorf("active element <%s> in the email", tok.Data)
		}
		for _, a := range tok.Attr {
			v := strings.ToLower(strings.TrimSpace(a.Val))
			if strings.HasPrefix(a.Key, "on") || strings.HasPrefix(v, "javascript:") {
				t.Errorf("active attribute %s=%q on <%s>", a.Key, a.Val, tok.Data)
			}
		}
	}
}
