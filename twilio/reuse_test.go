package twilio_test

import (
	"testing"

	"github.com/latchkeyhq/latchkey/internal/providerhttp/reusetest"
	"github.com/latchkeyhq/latchkey/twilio"
)

// TestConnectionReuse runs the connection reuse suite: Twilio's answers
// are kept-alive connections whatever their status.
func TestConnectionReuse(t *testing.T) {
	reusetest.Run(t, reusetest.Provider{
		New: func(t *testing.T, url string) reusetest.Sender {
			s, err := twilio.New(twilio.Config{AccountSID: accountSID, AuthToken: authToken, From: number, APIURL: url})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			return s
		},
		Message: sms(), AcceptedStatus: 201, AcceptedBody: created,
	})
}
