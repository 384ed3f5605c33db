package delivery

import (
	"encoding/base64"
	"net/http"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/latchkeyhq/latchkey"
)

// EmailContent is Mosaic's email_content: when a request carries it, all
// branding comes from it and any field left out is empty.
type EmailContent struct {
	Subject      string `json:"subject"`
	PrimaryColor string `json:"primaryColor"`
	Base64Logo   string `json:"base64logo"`
	HeaderText   string `json:"headerText"`
	BodyText     string `json:"bodyText"`
	LinkText     string `json:"linkText"`
	InfoText     string `json:"infoText"`
	FooterText   string `json:"footerText"`
	SenderName   string `json:"senderName"`
}

// Limits on email_content, beyond Mosaic's own (subject required, logo at
// most 20000 characters).
const (
	maxLogoLength    = 20000
	maxSubjectLength = 200
	// MaxSenderNameLength bounds an email's display name.
	MaxSenderNameLength = 100
	maxTextLength       = 2000
)

var hexColor = regexp.MustCompile(`^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

// ValidColor reports whether s is a hex colour, #RGB or #RRGGBB: the only
// form the templates put into a style.
func ValidColor(s string) bool { return hexColor.MatchString(s) }

// ValidSenderName reports whether s can be an email's display name: one
// line of at most MaxSenderNameLength characters without quotes or angle
// brackets, so it cannot break out of the From header.
func ValidSenderName(s string) bool {
	return utf8.RuneCountInString(s) <= MaxSenderNameLength && !strings.ContainsAny(s, "\r\n\x00\"<>")
}

// Validate checks email_content. Every text is later rendered as text,
// never as markup; the subject and sender name must hold no line breaks,
// which would let a caller add mail headers.
func (c *EmailContent) Validate() error {
	switch {
	case strings.TrimSpace(c.Subject) == "":
		return latchkey.Errorf(latchkey.CodeInvalid, "email_content.subject is required")
	case utf8.RuneCountInString(c.Subject) > maxSubjectLength || strings.ContainsAny(c.Subject, "\r\n\x00"):
		return latchkey.Errorf(latchkey.CodeInvalid, "email_content.subject must be one line of at most %d characters", maxSubjectLength)
	case !ValidSenderName(c.SenderName):
		return latchkey.Errorf(latchkey.CodeInvalid, "email_content.senderName must be one line of at most %d characters without quotes or angle brackets", MaxSenderNameLength)
	case c.PrimaryColor != "" && !ValidColor(c.PrimaryColor):
		return latchkey.Errorf(latchkey.CodeInvalid, "email_content.primaryColor must be a hex colour such as #6981FF")
	case len(c.Base64Logo) > maxLogoLength:
		return latchkey.Errorf(latchkey.CodeInvalid, "email_content.base64logo must be at most %d characters", maxLogoLength)
	}
	for name, v := range map[string]string{"headerText": c.HeaderText, "bodyText": c.BodyText, "linkText": c.LinkText,
		"infoText": c.InfoText, "footerText": c.FooterText} {
		if utf8.RuneCountInString(v) > maxTextLength || !utf8.ValidString(v) {
			return latchkey.Errorf(latchkey.CodeInvalid, "email_content.%s must be at most %d characters", name, maxTextLength)
		}
	}
	if c.Base64Logo != "" {
		if _, err := LogoDataURI(c.Base64Logo); err != nil {
			return err
		}
	}
	return nil
}

// imageTypes are the logo formats mail clients display.
var imageTypes = map[string]bool{"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true}

// LogoDataURI checks that logo is a base64 image (bare, or a data: URI) and
// returns it as a data: URI whose media type is the one its bytes show.
func LogoDataURI(logo string) (string, error) {
	raw := logo
	if strings.HasPrefix(raw, "data:") {
		_, after, ok := strings.Cut(raw, ";base64,")
		if !ok {
			return "", latchkey.Errorf(latchkey.CodeInvalid, "email_content.base64logo must be base64 image data")
		}
		raw = after
	}
	data, err := base64.StdEncoding.DecodeString(raw)
	if err != nil || len(data) == 0 {
		return "", latchkey.Errorf(latchkey.CodeInvalid, "email_content.base64logo must be base64 image data")
	}
	kind := http.DetectContentType(data)
	if !imageTypes[kind] {
		return "", latchkey.Errorf(latchkey.CodeInvalid, "email_content.base64logo must be a PNG, JPEG, GIF or WebP image")
	}
	return "data:" + kind + ";base64," + base64.StdEncoding.EncodeToString(data), nil
}

// SMSInput is Mosaic's custom_sms_input.
type SMSInput struct {
	CustomMessage string `json:"custom_message"`
	SenderID      string `json:"sender_id"`
}

const maxSMSMessage = 140

var senderID = regexp.MustCompile(`^[A-Za-z0-9 ]{1,11}$`)

// Validate checks custom_sms_input: the message at most 140 characters with
// both {otp} and {app}, the sender ID at most 11 letters, digits or spaces.
func (in *SMSInput) Validate() error {
	if in.CustomMessage != "" {
		if utf8.RuneCountInString(in.CustomMessage) > maxSMSMessage {
			return latchkey.Errorf(latchkey.CodeInvalid, "custom_sms_input.custom_message must be at most %d characters", maxSMSMessage)
		}
		if !strings.Contains(in.CustomMessage, "{otp}") || !strings.Contains(in.CustomMessage, "{app}") {
			return latchkey.Errorf(latchkey.CodeInvalid, "custom_sms_input.custom_message must contain the {otp} and {app} placeholders")
		}
	}
	if in.SenderID != "" && !senderID.MatchString(in.SenderID) {
		return latchkey.Errorf(latchkey.CodeInvalid, "custom_sms_input.sender_id must be 1 to 11 letters, digits or spaces")
	}
	return nil
}
