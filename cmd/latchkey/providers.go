package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/config"
	"github.com/latchkeyhq/latchkey/delivery"
	"github.com/latchkeyhq/latchkey/sendgrid"
	"github.com/latchkeyhq/latchkey/smtpmail"
	"github.com/latchkeyhq/latchkey/twilio"
	"github.com/latchkeyhq/latchkey/webhook"
)

// senders builds each channel's providers from the configuration, primary
// first, then the fallback. A provider that refuses its settings stops the
// start-up with an error naming the variable.
func (s *system) senders(e env) (map[latchkey.Channel][]delivery.Sender, error) {
	d := s.cfg.Delivery
	out := map[latchkey.Channel][]delivery.Sender{}
	for _, c := range []struct {
		channel   latchkey.Channel
		providers []*config.Provider
	}{
		{latchkey.ChannelEmail, []*config.Provider{d.Email, d.EmailFallback}},
		{latchkey.ChannelSMS, []*config.Provider{d.SMS, d.SMSFallback}},
	} {
		for _, p := range c.providers {
			if p == nil {
				continue
			}
			sender, err := s.newSender(p, e)
			if err != nil {
				return nil, err
			}
			out[c.channel] = append(out[c.channel], sender)
			if closer, ok := sender.(io.Closer); ok {
				s.closers = append(s.closers, closer)
			}
		}
	}
	return out, nil
}

// newSender makes one provider; its errors name the variables at fault.
func (s *system) newSender(p *config.Provider, e env) (delivery.Sender, error) {
	named := func(variables string, err error) error {
		if err != nil {
			return fmt.Errorf("%s%s: %w", p.Prefix, variables, err)
		}
		return nil
	}
	switch p.Kind {
	case "devinbox":
		return delivery.DevInbox{Store: s.store, Rand: e.rand}, nil
	case "smtp":
		sender, err := smtpmail.New(smtpmail.Config{URL: p.SMTPURL, From: p.EmailFrom, MaxConnections: p.SMTPMaxConnections, Now: e.now})
		return sender, named("SMTP_URL or "+p.Prefix+"EMAIL_FROM", err)
	case "sendgrid":
		sender, err := sendgrid.New(sendgrid.Config{APIKey: p.SendGridKey, APIURL: p.SendGridURL, From: p.EmailFrom})
		return sender, named("SENDGRID_* or "+p.Prefix+"EMAIL_FROM", err)
	case "twilio":
		sender, err := twilio.New(twilio.Config{AccountSID: p.TwilioSID, AuthToken: p.TwilioToken, From: p.TwilioFrom, APIURL: p.TwilioURL})
		return sender, named("TWILIO_*", err)
	case "webhook":
		sender, err := webhook.New(webhook.Config{URL: p.WebhookURL, Secret: p.WebhookSecret, Now: e.now})
		return sender, named("WEBHOOK_*", err)
	default:
		return nil, fmt.Errorf("unknown delivery provider %q", p.Kind)
	}
}

// warnMissingProviders tells the operator, at start-up, of each channel
// that has no provider, naming the variable that gives it one: until it is
// set, every send on that channel answers 400
// external_provider_configuration_error.
func (s *system) warnMissingProviders() {
	d := s.cfg.Delivery
	for _, c := range []struct {
		channel  latchkey.Channel
		provider *config.Provider
		variable string
		kinds    string
	}{
		{latchkey.ChannelEmail, d.Email, "LATCHKEY_EMAIL_PROVIDER", "smtp, sendgrid or webhook"},
		{latchkey.ChannelSMS, d.SMS, "LATCHKEY_SMS_PROVIDER", "twilio or webhook"},
	} {
		if c.provider == nil {
			s.log.Warn(fmt.Sprintf("no %s provider: %s sends answer 400 external_provider_configuration_error until %s is set (%s)",
				c.channel, c.channel, c.variable, c.kinds), "variable", c.variable)
		}
	}
}

// closeSenders ends the providers' kept connections (pooled SMTP sessions,
// idle HTTP connections), once the outbox has stopped using them.
func (s *system) closeSenders() error {
	var errs []error
	for _, c := range s.closers {
		errs = append(errs, c.Close())
	}
	s.closers = nil
	return errors.Join(errs...)
}
