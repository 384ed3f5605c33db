package delivery

import (
	"bytes"
	"embed"
	htmltemplate "html/template"
	"strconv"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/latchkeyhq/latchkey"
)

//go:embed templates
var templates embed.FS

var (
	htmlEmail = htmltemplate.Must(htmltemplate.ParseFS(templates, "templates/email.html"))
	textEmail = texttemplate.Must(texttemplate.ParseFS(templates, "templates/email.txt"))
)

// defaultColor is the accent of the default template.
const defaultColor = "#4f46e5"

// Content is a composed message, ready for the outbox.
type Content struct {
	Subject string
	Text    string
	HTML    string
	From    string // email sender name, or SMS sender ID
}

// Email describes one login email: a passcode (Code) or a magic link
// (Link).
type Email struct {
	AppName  string
	Branding latchkey.Branding
	Code     string
	Link     string
	Expiry   time.Duration
	// Custom, when set, replaces the default branding entirely (fields it
	// leaves out are empty), as Mosaic's email_content does.
	Custom *EmailContent
}

// emailView is what the templates see. Every field is text: html/template
// escapes it, and only the logo and colour, validated first, are marked
// safe.
type emailView struct {
	Subject, AppName, Header, Body, Code, Link, LinkText, Expiry, Info, Footer string
	Color                                                                      htmltemplate.CSS
	Logo                                                                       htmltemplate.URL
}

// ComposeEmail renders a login email in HTML and plain text.
func ComposeEmail(e Email) (Content, error) {
	v := defaultEmailView(e)
	from := e.AppName
	if e.Branding.SenderName != "" {
		from = e.Branding.SenderName
	}
	if c := e.Custom; c != nil {
		v = emailView{Subject: c.Subject, AppName: e.AppName, Header: c.HeaderText, Body: c.BodyText, Code: e.Code,
			Link: e.Link, LinkText: c.LinkText, Expiry: v.Expiry, Info: c.InfoText, Footer: c.FooterText,
			Color: htmltemplate.CSS(defaultColor)}
		if c.PrimaryColor != "" {
			v.Color = htmltemplate.CSS(c.PrimaryColor)
		}
		if c.Base64Logo != "" {
			logo, err := LogoDataURI(c.Base64Logo)
			if err != nil {
				return Content{}, err
			}
			v.Logo = htmltemplate.URL(logo)
		}
		from = c.SenderName
	}
	var html, text bytes.Buffer
	if err := htmlEmail.Execute(&html, v); err != nil {
		return Content{}, err
	}
	if err := textEmail.Execute(&text, v); err != nil {
		return Content{}, err
	}
	return Content{Subject: v.Subject, Text: strings.TrimSpace(text.String()) + "\n", HTML: html.String(), From: from}, nil
}

func defaultEmailView(e Email) emailView {
	color := defaultColor
	if e.Branding.PrimaryColor != "" {
		color = e.Branding.PrimaryColor
	}
	v := emailView{AppName: e.AppName, Code: e.Code, Link: e.Link, Color: htmltemplate.CSS(color),
		Logo:   htmltemplate.URL(e.Branding.LogoURL),
		Expiry: "This " + noun(e) + " expires in " + humanDuration(e.Expiry) + ".",
		Footer: "If you didn't request this email, you can safely ignore it."}
	if e.Link != "" {
		v.Subject = "Sign in to " + e.AppName
		v.Header = "Sign in to " + e.AppName
		v.Body = "Click the button below to sign in. The link can be used once."
		v.LinkText = "Sign in"
	} else {
		v.Subject = "Your " + e.AppName + " sign-in code"
		v.Header = "Your sign-in code"
		v.Body = "Enter this code to sign in to " + e.AppName + "."
	}
	return v
}

func noun(e Email) string {
	if e.Link != "" {
		return "link"
	}
	return "code"
}

// humanDuration writes a duration as people say it: "5 minutes", "1 hour".
func humanDuration(d time.Duration) string {
	plural := func(n int, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return strconv.Itoa(n) + " " + unit + "s"
	}
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return plural(int(d/time.Hour), "hour")
	case d >= time.Minute:
		return plural(int(d/time.Minute), "minute")
	default:
		return plural(int(d/time.Second), "second")
	}
}

// SMS describes one login SMS.
type SMS struct {
	AppName string
	Code    string
	Expiry  time.Duration
	Custom  *SMSInput
}

// ComposeSMS renders a login SMS: by default the code, the app's name and
// the expiry; a custom message has {otp} and {app} replaced. The text as
// sent must fit in MaxSMSSegments.
func ComposeSMS(s SMS) (Content, error) {
	text := s.Code + " is your " + s.AppName + " sign-in code. It expires in " + humanDuration(s.Expiry) + "."
	var from string
	if s.Custom != nil {
		if s.Custom.CustomMessage != "" {
			text = strings.NewReplacer("{otp}", s.Code, "{app}", s.AppName).Replace(s.Custom.CustomMessage)
		}
		from = s.Custom.SenderID
	}
	if seg := CountSMSSegments(text); seg.Count > MaxSMSSegments {
		return Content{}, latchkey.Errorf(latchkey.CodeInvalid,
			"custom_sms_input.custom_message would be sent as %d SMS (%d %s units once {app} and {otp} are filled in); the limit is %d: %d characters in GSM-7, or %d in UCS-2 (any character outside GSM-7, such as an emoji)",
			seg.Count, seg.Units, seg.Encoding, MaxSMSSegments, MaxSMSSegments*gsm7Part, MaxSMSSegments*ucs2Part)
	}
	return Content{Text: text, From: from}, nil
}
