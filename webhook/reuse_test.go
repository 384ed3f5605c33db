package webhook_test

import (
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/internal/providerhttp/reusetest"
	"github.com/latchkeyhq/latchkey/webhook"
)

// TestConnectionReuse runs the connection reuse suite: a webhook's
// answers are kept-alive connections whatever their status.
func TestConnectionReuse(t *testing.T) {
	reusetest.Run(t, reusetest.Provider{
		New: func(t *testing.T, url string) reusetest.Sender {
			s, err := webhook.New(webhook.Config{URL: url, Secret: rawSecret, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			return s
		},
		Message: email(), AcceptedStatus: 204,
	})
}
