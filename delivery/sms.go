package delivery

import (
	"strings"
	"unicode/utf16"
)

// How carriers carry and bill an SMS (3GPP TS 23.038 and 23.040). A text
// made only of the GSM 03.38 default alphabet travels in 7-bit units
// ("GSM-7"): 160 in one SMS, 153 in each part of a longer one, since the
// header that joins the parts takes 7; a character of the alphabet's
// extension table takes two units. Any other character switches the whole
// text to UCS-2, 16-bit UTF-16 units: 70 in one SMS, 67 per part; a
// character beyond the Basic Multilingual Plane, such as most emoji, takes
// two. A character is never split across parts. Each part is billed as one
// SMS.
const (
	EncodingGSM7 = "GSM-7"
	EncodingUCS2 = "UCS-2"

	gsm7Single, gsm7Part = 160, 153
	ucs2Single, ucs2Part = 70, 67
)

// MaxSMSSegments is the most parts a login SMS may take: 459 GSM-7 units,
// or 201 UCS-2 ones. Three is the least that carries a custom_message of
// the 140 GSM-7 characters Mosaic accepts, naming {app} and {otp} once,
// with any app name (up to 100 characters) and the longest code: 238
// characters, extension characters aside. It caps what one send can cost
// at three SMS.
const MaxSMSSegments = 3

// gsm7Basic is the GSM 03.38 default alphabet, one unit each.
const gsm7Basic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
	"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"

// gsm7Extension is the default alphabet's extension table, reached by an
// escape: two units each.
const gsm7Extension = "\f^{}\\[~]|€"

// SMSSegments is how a text travels as SMS.
type SMSSegments struct {
	Encoding string // EncodingGSM7 or EncodingUCS2
	Units    int    // 7-bit units (GSM-7) or 16-bit units (UCS-2)
	Count    int    // the SMS parts, each billed as one SMS
}

// CountSMSSegments counts the encoding, units and parts of text as a carrier
// does.
func CountSMSSegments(text string) SMSSegments {
	widths, encoding := gsm7Widths(text)
	single, part := gsm7Single, gsm7Part
	if widths == nil {
		widths, encoding = ucs2Widths(text), EncodingUCS2
		single, part = ucs2Single, ucs2Part
	}
	units := 0
	for _, w := range widths {
		units += w
	}
	s := SMSSegments{Encoding: encoding, Units: units}
	switch {
	case units == 0:
	case units <= single:
		s.Count = 1
	default:
		s.Count = parts(widths, part)
	}
	return s
}

// gsm7Widths returns the units of each character of text in GSM-7, or nil
// if a character is outside it.
func gsm7Widths(text string) ([]int, string) {
	widths := make([]int, 0, len(text))
	for _, r := range text {
		switch {
		case strings.ContainsRune(gsm7Basic, r):
			widths = append(widths, 1)
		case strings.ContainsRune(gsm7Extension, r):
			widths = append(widths, 2)
		default:
			return nil, ""
		}
	}
	return widths, EncodingGSM7
}

// ucs2Widths returns the UTF-16 units of each character of text.
func ucs2Widths(text string) []int {
	widths := make([]int, 0, len(text))
	for _, r := range text {
		widths = append(widths, max(utf16.RuneLen(r), 1)) // invalid UTF-8 travels as U+FFFD
	}
	return widths
}

// parts fills parts of size units in order, never splitting a character.
func parts(widths []int, size int) int {
	n, used := 1, 0
	for _, w := range widths {
		if used+w > size {
			n, used = n+1, 0
		}
		used += w
	}
	return n
}
