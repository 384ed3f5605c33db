package bench

import (
	"strings"
	"testing"
)

// An HTML-only email, as Supabase Auth sends, arrives as the text a user
// reads, and its code is found.
func TestSMTPSinkReadsHTMLOnlyEmail(t *testing.T) {
	s := startTestSink(t)
	sendRaw(t, s.Addr(), []string{"Bench-3@Bench.Latchkey.Test"}, `From: auth@example.test
To: bench-3@bench.latchkey.test
Subject: Your sign-in link
Mime-Version: 1.0
Content-Type: text/html; charset=UTF-8
Content-Transfer-Encoding: quoted-printable

<h2>Your sign-in code</h2>
<style>p { color: #123456 }</style>
<p>Your code is 361855 &amp; it expires soon. Caf=C3=A9 =
ouvert.</p>
`)
	d := awaitSoon(t, s, "bench-3@bench.latchkey.test")
	if want := "Your sign-in code Your code is 361855 & it expires soon. Café ouvert."; d.Text != want {
		t.Errorf("text %q; want %q", d.Text, want)
	}
	if code := FindCode(d.Text); code != "361855" {
		t.Errorf("FindCode = %q; want 361855", code)
	}
}

func TestPlainTextPrefersPlainPart(t *testing.T) {
	raw := strings.ReplaceAll(`Content-Type: multipart/alternative; boundary=b

--b
Content-Type: text/html

<p>html 111111</p>
--b
Content-Type: text/plain

plain 222222
--b--
`, "\n", "\r\n")
	text, err := PlainText([]byte("Mime-Version: 1.0\r\n" + raw))
	if err != nil || strings.TrimSpace(text) != "plain 222222" {
		t.Errorf("PlainText = %q, %v; want the text/plain part", text, err)
	}
	html, err := PlainText([]byte(strings.ReplaceAll("Content-Type: multipart/mixed; boundary=m\n\n--m\nContent-Type: image/png\n\nxx\n--m\n"+
		"Content-Type: text/html\nContent-Transfer-Encoding: base64\n\nPHA+aHRtbCAxMTExMTE8L3A+\n--m--\n", "\n", "\r\n")))
	if err != nil || html != "html 111111" {
		t.Errorf("PlainText = %q, %v; want the text of the nested text/html part", html, err)
	}
	if _, err := PlainText([]byte("Content-Type: image/png\r\n\r\nxx")); err == nil {
		t.Error("a message without text gave no error")
	}
}
