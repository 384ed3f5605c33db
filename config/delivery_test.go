package config_test

import (
	"strings"
	"testing"

	"github.com/latchkeyhq/latchkey/config"
)

func TestDeliveryProviders(t *testing.T) {
	c, err := config.Load(getenv(map[string]string{
		"LATCHKEY_EMAIL_PROVIDER": "smtp", "LATCHKEY_SMTP_URL": "smtp://u:p@mail.example:587", "LATCHKEY_EMAIL_FROM": "Shop <no-reply@shop.example>",
		"LATCHKEY_EMAIL_FALLBACK_PROVIDER": "sendgrid", "LATCHKEY_FALLBACK_SENDGRID_API_KEY": "SG.key",
		"LATCHKEY_SMS_PROVIDER": "twilio", "LATCHKEY_TWILIO_ACCOUNT_SID": "AC" + strings.Repeat("a", 32),
		"LATCHKEY_TWILIO_AUTH_TOKEN": "tok", "LATCHKEY_TWILIO_FROM": "+14155550100",
		"LATCHKEY_SMS_FALLBACK_PROVIDER": "webhook", "LATCHKEY_FALLBACK_WEBHOOK_URL": "https://hooks.example/sms",
		"LATCHKEY_FALLBACK_WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
	}))
	if err != nil {
		t.Fatal(err)
	}
	d := c.Delivery
	if d.Email.Kind != "smtp" || d.Email.SMTPURL == "" || d.EmailFallback.Kind != "sendgrid" ||
		d.EmailFallback.EmailFrom != "Shop <no-reply@shop.example>" || d.EmailFallback.SendGridURL != "https://api.sendgrid.com" ||
		d.SMS.Kind != "twilio" || d.SMS.TwilioURL != "https://api.twilio.com" || d.SMSFallback.Kind != "webhook" {
		t.Fatalf("delivery = %+v", d)
	}
	if d.Email.SMTPMaxConnections != 32 {
		t.Errorf("SMTPMaxConnections = %d, want the default 32", d.Email.SMTPMaxConnections)
	}
}

func TestSMTPMaxConnections(t *testing.T) {
	vars := map[string]string{
		"LATCHKEY_EMAIL_PROVIDER": "smtp", "LATCHKEY_SMTP_URL": "smtp://mail.example:587", "LATCHKEY_EMAIL_FROM": "a@b.example",
		"LATCHKEY_SMTP_MAX_CONNECTIONS":    "8",
		"LATCHKEY_EMAIL_FALLBACK_PROVIDER": "smtp", "LATCHKEY_FALLBACK_SMTP_URL": "smtp://backup.example:587",
	}
	c, err := config.Load(getenv(vars))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Delivery.Email.SMTPMaxConnections; got != 8 {
		t.Errorf("primary SMTPMaxConnections = %d, want 8", got)
	}
	if got := c.Delivery.EmailFallback.SMTPMaxConnections; got != 32 {
		t.Errorf("fallback SMTPMaxConnections = %d, want its own default 32", got)
	}
	for _, bad := range []string{"0", "101", "many"} {
		vars["LATCHKEY_FALLBACK_SMTP_MAX_CONNECTIONS"] = bad
		_, err := config.Load(getenv(vars))
		if err == nil || !strings.Contains(err.Error(), "LATCHKEY_FALLBACK_SMTP_MAX_CONNECTIONS") {
			t.Errorf("LATCHKEY_FALLBACK_SMTP_MAX_CONNECTIONS=%s: Load = %v, want a problem naming it", bad, err)
		}
	}
}

func TestDevModeDefaultsToTheDevInbox(t *testing.T) {
	c, err := config.Load(getenv(map[string]string{"LATCHKEY_DEV": "true"}))
	if err != nil || c.Delivery.Email.Kind != "devinbox" || c.Delivery.SMS.Kind != "devinbox" {
		t.Fatalf("dev delivery = %+v, %v", c.Delivery, err)
	}
	c, err = config.Load(getenv(nil))
	if err != nil || c.Delivery.Email != nil || c.Delivery.SMS != nil {
		t.Fatalf("delivery outside dev = %+v, %v; want none", c.Delivery, err)
	}
}

func TestDeliveryMisconfigurationNamesTheVariable(t *testing.T) {
	cases := []struct {
		vars map[string]string
		want string
	}{
		{map[string]string{"LATCHKEY_EMAIL_PROVIDER": "postal"}, "LATCHKEY_EMAIL_PROVIDER"},
		{map[string]string{"LATCHKEY_EMAIL_PROVIDER": "devinbox"}, "LATCHKEY_EMAIL_PROVIDER"},
		{map[string]string{"LATCHKEY_SMS_PROVIDER": "sendgrid"}, "LATCHKEY_SMS_PROVIDER"},
		{map[string]string{"LATCHKEY_EMAIL_PROVIDER": "smtp", "LATCHKEY_EMAIL_FROM": "a@b.example"}, "LATCHKEY_SMTP_URL"},
		{map[string]string{"LATCHKEY_EMAIL_PROVIDER": "smtp", "LATCHKEY_SMTP_URL": "http://x:25", "LATCHKEY_EMAIL_FROM": "a@b.example"}, "LATCHKEY_SMTP_URL"},
		{map[string]string{"LATCHKEY_EMAIL_PROVIDER": "smtp", "LATCHKEY_SMTP_URL": "smtp://x:25"}, "LATCHKEY_EMAIL_FROM"},
		{map[string]string{"LATCHKEY_EMAIL_PROVIDER": "sendgrid", "LATCHKEY_EMAIL_FROM": "not an address"}, "LATCHKEY_SENDGRID_API_KEY"},
		{map[string]string{"LATCHKEY_SMS_PROVIDER": "twilio", "LATCHKEY_TWILIO_ACCOUNT_SID": "AC1", "LATCHKEY_TWILIO_AUTH_TOKEN": "t",
			"LATCHKEY_TWILIO_FROM": "+14155550100"}, "LATCHKEY_TWILIO_ACCOUNT_SID"},
		{map[string]string{"LATCHKEY_SMS_PROVIDER": "webhook", "LATCHKEY_WEBHOOK_URL": "https://h.example", "LATCHKEY_WEBHOOK_SECRET": "short"}, "LATCHKEY_WEBHOOK_SECRET"},
		{map[string]string{"LATCHKEY_SMS_FALLBACK_PROVIDER": "webhook", "LATCHKEY_FALLBACK_WEBHOOK_URL": "https://h.example",
			"LATCHKEY_FALLBACK_WEBHOOK_SECRET": strings.Repeat("s", 32)}, "LATCHKEY_SMS_FALLBACK_PROVIDER"},
		{map[string]string{"LATCHKEY_EMAIL_PROVIDER": "smtp", "LATCHKEY_SMTP_URL": "smtp://x:25", "LATCHKEY_EMAIL_FROM": "a@b.example",
			"LATCHKEY_EMAIL_FALLBACK_PROVIDER": "smtp"}, "LATCHKEY_FALLBACK_SMTP_URL"},
	}
	for _, tc := range cases {
		_, err := config.Load(getenv(tc.vars))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load(%v) = %v; want a problem naming %s", tc.vars, err, tc.want)
		}
	}
	_, err := config.Load(getenv(map[string]string{"LATCHKEY_EMAIL_PROVIDER": "smtp",
		"LATCHKEY_SMTP_URL": "ftp://user:hunter2@x:25", "LATCHKEY_EMAIL_FROM": "a@b.example"}))
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error %v; want a problem that does not echo the SMTP password", err)
	}
}
