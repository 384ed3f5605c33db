package sendgrid_test

import (
	"testing"

	"github.com/latchkeyhq/latchkey/internal/providerhttp/reusetest"
	"github.com/latchkeyhq/latchkey/sendgrid"
)

// TestConnectionReuse runs the connection reuse suite: SendGrid's answers
// are kept-alive connections whatever their status.
func TestConnectionReuse(t *testing.T) {
	reusetest.Run(t, reusetest.Provider{
		New: func(t *testing.T, url string) reusetest.Sender {
			s, err := sendgrid.New(sendgrid.Config{APIKey: apiKey, APIURL: url, From: "Latchkey <login@latchkey.test>"})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			return s
		},
		Message: message(), AcceptedStatus: 202,
	})
}
