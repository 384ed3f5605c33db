package delivery_test

import (
	"strings"
	"testing"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/delivery"
)

func TestCountSMSSegments(t *testing.T) {
	a := strings.Repeat
	cases := []struct {
		name, text string
		want       delivery.SMSSegments
	}{
		{"empty", "", delivery.SMSSegments{Encoding: "GSM-7"}},
		{"plain", "042317 is your Shop sign-in code.", delivery.SMSSegments{Encoding: "GSM-7", Units: 33, Count: 1}},
		{"GSM-7 accents and Greek", "Ünïcödé? Δ ΣΩ é à", delivery.SMSSegments{Encoding: "UCS-2", Units: 17, Count: 1}},
		{"GSM-7 basic letters", "ÄÖÑÜ§¿äöñüàèéùìòÇØøÅåΔΦΓΛΩΠΨΣΘΞÆæßÉ¡£¥¤@$_", delivery.SMSSegments{Encoding: "GSM-7", Units: 42, Count: 1}},
		{"160 in one", a("a", 160), delivery.SMSSegments{Encoding: "GSM-7", Units: 160, Count: 1}},
		{"161 in two", a("a", 161), delivery.SMSSegments{Encoding: "GSM-7", Units: 161, Count: 2}},
		{"306 in two", a("a", 306), delivery.SMSSegments{Encoding: "GSM-7", Units: 306, Count: 2}},
		{"307 in three", a("a", 307), delivery.SMSSegments{Encoding: "GSM-7", Units: 307, Count: 3}},
		{"extension characters count two", a("€", 80), delivery.SMSSegments{Encoding: "GSM-7", Units: 160, Count: 1}},
		{"every extension character", "{}[]~|^\\€\f", delivery.SMSSegments{Encoding: "GSM-7", Units: 20, Count: 1}},
		{"one past with an extension character", a("a", 159) + "{", delivery.SMSSegments{Encoding: "GSM-7", Units: 161, Count: 2}},
		{"an escape is never split", a("a", 152) + "€" + a("a", 152), delivery.SMSSegments{Encoding: "GSM-7", Units: 306, Count: 3}},
		{"a backtick is not GSM-7", "`", delivery.SMSSegments{Encoding: "UCS-2", Units: 1, Count: 1}},
		{"one emoji switches to UCS-2", "042317 is your Shop code 🔑", delivery.SMSSegments{Encoding: "UCS-2", Units: 27, Count: 1}},
		{"70 UCS-2 in one", a("ж", 70), delivery.SMSSegments{Encoding: "UCS-2", Units: 70, Count: 1}},
		{"71 UCS-2 in two", a("ж", 71), delivery.SMSSegments{Encoding: "UCS-2", Units: 71, Count: 2}},
		{"an emoji takes two units", a("a", 69) + "😀", delivery.SMSSegments{Encoding: "UCS-2", Units: 71, Count: 2}},
		{"a surrogate pair is never split", a("a", 66) + "😀" + a("a", 67), delivery.SMSSegments{Encoding: "UCS-2", Units: 135, Count: 3}},
		{"201 UCS-2 in three", a("ж", 201), delivery.SMSSegments{Encoding: "UCS-2", Units: 201, Count: 3}},
		{"invalid UTF-8", "\xff", delivery.SMSSegments{Encoding: "UCS-2", Units: 1, Count: 1}},
	}
	for _, c := range cases {
		if got := delivery.CountSMSSegments(c.text); got != c.want {
			t.Errorf("%s: CountSMSSegments = %+v; want %+v", c.name, got, c.want)
		}
	}
	// A single emoji turns a one-SMS text into three.
	text := a("a", 150)
	if one, three := delivery.CountSMSSegments(text), delivery.CountSMSSegments(text+"🙂"); one.Count != 1 || three.Count != 3 {
		t.Errorf("150 letters: %d SMS; with an emoji: %d; want 1 and 3", one.Count, three.Count)
	}
}

// TestCustomSMSIsLimitedAsSent checks the limit on the text as sent: every
// GSM-7 custom_message Mosaic accepts fits with the longest app name and code,
// and a message that {app} makes longer than three SMS is refused, naming
// the limit and what it would have been.
func TestCustomSMSIsLimitedAsSent(t *testing.T) {
	longest := delivery.SMS{AppName: strings.Repeat("N", 100), Code: "12345678",
		Custom: &delivery.SMSInput{CustomMessage: "{app}{otp}" + strings.Repeat("m", 130)}}
	if err := longest.Custom.Validate(); err != nil {
		t.Fatal(err)
	}
	if sms, err := delivery.ComposeSMS(longest); err != nil || len(sms.Text) != 238 {
		t.Fatalf("the longest GSM-7 message: %q, %v; want it sent", sms.Text, err)
	}

	repeated := delivery.SMS{AppName: "Shopping Centre Mall", Code: "123456",
		Custom: &delivery.SMSInput{CustomMessage: "{otp}" + strings.Repeat("{app}", 27)}}
	if err := repeated.Custom.Validate(); err != nil {
		t.Fatalf("the template itself is within 140 characters: %v", err)
	}
	_, err := delivery.ComposeSMS(repeated)
	if latchkey.ErrorCode(err) != latchkey.CodeInvalid {
		t.Fatalf("27 times {app}: %v; want refused as invalid input", err)
	}
	msg := latchkey.ErrorMessage(err)
	for _, want := range []string{"custom_sms_input.custom_message", "as 4 SMS", "546 GSM-7 units", "the limit is 3", "459 characters in GSM-7", "201 in UCS-2"} {
		if !strings.Contains(msg, want) {
			t.Errorf("refusal %q does not say %q", msg, want)
		}
	}

	// In UCS-2 the same template fits with a short app name, not a long one.
	emoji := delivery.SMS{AppName: "Shop", Code: "123456",
		Custom: &delivery.SMSInput{CustomMessage: "🔑 {otp} {app} " + strings.Repeat("ж", 125)}}
	if _, err := delivery.ComposeSMS(emoji); err != nil {
		t.Fatalf("a 140-unit UCS-2 message (3 SMS): %v; want it sent", err)
	}
	emoji.AppName = strings.Repeat("Ж", 80)
	if _, err := delivery.ComposeSMS(emoji); err == nil || !strings.Contains(err.Error(), "216 UCS-2 units") {
		t.Fatalf("a 216-unit UCS-2 message (4 SMS): %v; want refused", err)
	}
}
