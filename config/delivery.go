package config

import (
	"fmt"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// deliveryVars are the variables of email and SMS delivery. Each provider
// variable also exists with LATCHKEY_FALLBACK_ in place of LATCHKEY_, for
// the fallback provider of a channel; LATCHKEY_FALLBACK_EMAIL_FROM defaults
// to LATCHKEY_EMAIL_FROM.
var deliveryVars = []Var{
	{"LATCHKEY_EMAIL_PROVIDER", "(none; devinbox in dev mode)", "email delivery: smtp, sendgrid or webhook (devinbox in dev mode)"},
	{"LATCHKEY_EMAIL_FALLBACK_PROVIDER", "", "email provider tried when the first fails: smtp, sendgrid or webhook, configured by LATCHKEY_FALLBACK_* variables"},
	{"LATCHKEY_EMAIL_FROM", "", "sender of emails: \"Name <address>\" or \"address\" (required for smtp and sendgrid)"},
	{"LATCHKEY_SMTP_URL", "", "smtp://[user:pass@]host:port (STARTTLS required; ?starttls=off to send in clear) or smtps://... (implicit TLS)"},
	{"LATCHKEY_SMTP_MAX_CONNECTIONS", "32", "SMTP sessions kept open to the server at once, each reused for many messages (1 to 100); sends beyond them wait for one"},
	{"LATCHKEY_SENDGRID_API_KEY", "", "SendGrid API key"},
	{"LATCHKEY_SENDGRID_API_URL", "https://api.sendgrid.com", "SendGrid API base URL"},
	{"LATCHKEY_SMS_PROVIDER", "(none; devinbox in dev mode)", "SMS delivery: twilio or webhook (devinbox in dev mode)"},
	{"LATCHKEY_SMS_FALLBACK_PROVIDER", "", "SMS provider tried when the first fails: twilio or webhook, configured by LATCHKEY_FALLBACK_* variables"},
	{"LATCHKEY_TWILIO_ACCOUNT_SID", "", "Twilio account SID (AC...)"},
	{"LATCHKEY_TWILIO_AUTH_TOKEN", "", "Twilio auth token"},
	{"LATCHKEY_TWILIO_FROM", "", "Twilio sender: an E.164 number, or a Messaging Service SID (MG...)"},
	{"LATCHKEY_TWILIO_API_URL", "https://api.twilio.com", "Twilio API base URL"},
	{"LATCHKEY_WEBHOOK_URL", "", "URL that receives messages as signed JSON POSTs (either channel)"},
	{"LATCHKEY_WEBHOOK_SECRET", "", "Standard Webhooks signing secret (whsec_... or at least 32 bytes)"},
}

// Provider is one configured delivery provider.
type Provider struct {
	Kind string // smtp, sendgrid, twilio, webhook or devinbox
	// Prefix is the variable prefix the settings came from (LATCHKEY_ or
	// LATCHKEY_FALLBACK_), for error messages.
	Prefix        string
	EmailFrom     string
	SMTPURL       string
	SendGridKey   string
	SendGridURL   string
	TwilioSID     string
	TwilioToken   string
	TwilioFrom    string
	TwilioURL     string
	WebhookURL    string
	WebhookSecret string
	// SMTPMaxConnections bounds the SMTP sessions open at once.
	SMTPMaxConnections int
}

// Delivery is the providers of each channel; nil when none is configured.
type Delivery struct {
	Email, EmailFallback *Provider
	SMS, SMSFallback     *Provider
}

// kinds lists the providers each channel accepts.
var kinds = map[string][]string{"email": {"smtp", "sendgrid", "webhook"}, "sms": {"twilio", "webhook"}}

// delivery reads the providers of both channels.
func (l *loader) delivery(dev bool) Delivery {
	d := Delivery{
		Email:         l.provider("LATCHKEY_EMAIL_PROVIDER", "email", "LATCHKEY_", dev),
		EmailFallback: l.provider("LATCHKEY_EMAIL_FALLBACK_PROVIDER", "email", "LATCHKEY_FALLBACK_", dev),
		SMS:           l.provider("LATCHKEY_SMS_PROVIDER", "sms", "LATCHKEY_", dev),
		SMSFallback:   l.provider("LATCHKEY_SMS_FALLBACK_PROVIDER", "sms", "LATCHKEY_FALLBACK_", dev),
	}
	if d.EmailFallback != nil && d.Email == nil {
		l.problems = append(l.problems, fmt.Errorf("LATCHKEY_EMAIL_FALLBACK_PROVIDER is set but LATCHKEY_EMAIL_PROVIDER is not"))
	}
	if d.SMSFallback != nil && d.SMS == nil {
		l.problems = append(l.problems, fmt.Errorf("LATCHKEY_SMS_FALLBACK_PROVIDER is set but LATCHKEY_SMS_PROVIDER is not"))
	}
	return d
}

// provider reads one provider choice and the variables it needs.
func (l *loader) provider(name, channel, prefix string, dev bool) *Provider {
	kind := strings.ToLower(strings.TrimSpace(l.getenv(name)))
	switch {
	case kind == "" && dev && prefix == "LATCHKEY_":
		return &Provider{Kind: "devinbox", Prefix: prefix}
	case kind == "":
		return nil
	case kind == "devinbox":
		if !dev {
			l.bad(name, kind, "devinbox is available only in dev mode (LATCHKEY_DEV=true)")
		}
		return &Provider{Kind: "devinbox", Prefix: prefix}
	}
	allowed := kinds[channel]
	if !slices.Contains(allowed, kind) {
		l.bad(name, kind, "want one of "+strings.Join(allowed, ", "))
		return nil
	}
	p := &Provider{Kind: kind, Prefix: prefix}
	l.providerSettings(p)
	return p
}

// providerSettings reads and checks the variables of p's kind.
func (l *loader) providerSettings(p *Provider) {
	get := func(suffix string) string { return strings.TrimSpace(l.getenv(p.Prefix + suffix)) }
	switch p.Kind {
	case "smtp":
		p.SMTPURL = l.required(p.Prefix+"SMTP_URL", get("SMTP_URL"))
		if p.SMTPURL != "" {
			l.checkSMTPURL(p.Prefix+"SMTP_URL", p.SMTPURL)
		}
		p.SMTPMaxConnections = l.smtpMaxConnections(p.Prefix + "SMTP_MAX_CONNECTIONS")
		p.EmailFrom = l.emailFrom(p)
	case "sendgrid":
		p.SendGridKey = l.required(p.Prefix+"SENDGRID_API_KEY", get("SENDGRID_API_KEY"))
		p.SendGridURL = l.apiURL(p.Prefix+"SENDGRID_API_URL", get("SENDGRID_API_URL"), "https://api.sendgrid.com")
		p.EmailFrom = l.emailFrom(p)
	case "twilio":
		p.TwilioSID = l.required(p.Prefix+"TWILIO_ACCOUNT_SID", get("TWILIO_ACCOUNT_SID"))
		if p.TwilioSID != "" && !twilioSID.MatchString(p.TwilioSID) {
			l.bad(p.Prefix+"TWILIO_ACCOUNT_SID", p.TwilioSID, "want AC followed by 32 hexadecimal characters")
		}
		p.TwilioToken = l.required(p.Prefix+"TWILIO_AUTH_TOKEN", get("TWILIO_AUTH_TOKEN"))
		p.TwilioFrom = l.required(p.Prefix+"TWILIO_FROM", get("TWILIO_FROM"))
		if p.TwilioFrom != "" && !twilioFrom.MatchString(p.TwilioFrom) {
			l.bad(p.Prefix+"TWILIO_FROM", p.TwilioFrom, "want an E.164 number like +14155550100 or a Messaging Service SID (MG...)")
		}
		p.TwilioURL = l.apiURL(p.Prefix+"TWILIO_API_URL", get("TWILIO_API_URL"), "https://api.twilio.com")
	case "webhook":
		p.WebhookURL = l.apiURL(p.Prefix+"WEBHOOK_URL", l.required(p.Prefix+"WEBHOOK_URL", get("WEBHOOK_URL")), "")
		p.WebhookSecret = l.required(p.Prefix+"WEBHOOK_SECRET", get("WEBHOOK_SECRET"))
		if p.WebhookSecret != "" && !strings.HasPrefix(p.WebhookSecret, "whsec_") && len(p.WebhookSecret) < MinSecretLength {
			l.problems = append(l.problems, fmt.Errorf("%sWEBHOOK_SECRET is too short: want whsec_... or at least %d bytes", p.Prefix, MinSecretLength))
		}
	}
}

var (
	twilioSID  = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)
	twilioFrom = regexp.MustCompile(`^(\+[1-9][0-9]{7,14}|MG[0-9a-fA-F]{32})$`)
)

// required reports a missing variable; it never echoes a value.
func (l *loader) required(name, value string) string {
	if value == "" {
		l.problems = append(l.problems, fmt.Errorf("%s is required by the chosen provider", name))
	}
	return value
}

// emailFrom reads the sender of an email provider; the fallback's defaults
// to the primary's.
func (l *loader) emailFrom(p *Provider) string {
	name := p.Prefix + "EMAIL_FROM"
	v := strings.TrimSpace(l.getenv(name))
	if v == "" && p.Prefix != "LATCHKEY_" {
		name, v = "LATCHKEY_EMAIL_FROM", strings.TrimSpace(l.getenv("LATCHKEY_EMAIL_FROM"))
	}
	if v == "" {
		l.problems = append(l.problems, fmt.Errorf("%s is required by the chosen email provider: want \"Name <address>\" or \"address\"", name))
		return ""
	}
	if _, err := mail.ParseAddress(v); err != nil || strings.ContainsAny(v, "\r\n") {
		l.bad(name, v, "want \"Name <address>\" or \"address\"")
	}
	return v
}

// apiURL reads an http(s) base URL, with a default.
func (l *loader) apiURL(name, v, def string) string {
	if v == "" {
		v = def
	}
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		l.bad(name, redactURL(v), "want an http or https URL")
	}
	return strings.TrimRight(v, "/")
}

// smtpMaxConnections reads a provider's bound on SMTP sessions; the
// fallback's, like the primary's, defaults to LATCHKEY_SMTP_MAX_CONNECTIONS's
// default.
func (l *loader) smtpMaxConnections(name string) int {
	v := strings.TrimSpace(l.getenv(name))
	if v == "" {
		v = Default("LATCHKEY_SMTP_MAX_CONNECTIONS")
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 100 {
		l.bad(name, v, "want a whole number from 1 to 100")
	}
	return n
}

// checkSMTPURL checks the shape of an SMTP URL without echoing a password.
func (l *loader) checkSMTPURL(name, v string) {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" || u.Port() == "" {
		l.bad(name, redactURL(v), "want smtp://[user:pass@]host:port or smtps://[user:pass@]host:port")
		return
	}
	if s := u.Query().Get("starttls"); s != "" && s != "off" {
		l.bad(name, redactURL(v), "the only starttls option is ?starttls=off")
	}
}
