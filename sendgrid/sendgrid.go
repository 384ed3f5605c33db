// Package sendgrid delivers login emails through SendGrid's v3 Mail Send API
// (POST /v3/mail/send), one request per message.
//
// SendGrid answers 202 Accepted to a message it will deliver. A failure is
// permanent (delivery.Permanent) when SendGrid rejects the request itself
// with a 4xx status (400 invalid request, 401 bad API key, 403 sender not
// verified, 413 too large, and the rest) other than 408 Request Timeout and
// 429 Too Many Requests: the same request would be rejected again. 408, 429,
// 5xx statuses, network errors and timeouts are temporary, and the outbox
// retries them.
//
// Unless Config.HTTPClient says otherwise, requests go over connections kept
// alive between messages: as many as the outbox sends at once stay open,
// each closed after 30 seconds unused or by Close, and every response is
// read to its end so that its connection can carry the next request.
package sendgrid

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/delivery"
	"github.com/latchkeyhq/latchkey/internal/providerhttp"
)

// DefaultAPIURL is SendGrid's API, used when Config.APIURL is empty.
const DefaultAPIURL = "https://api.sendgrid.com"

// defaultTimeout bounds a request made with the default HTTP client.
const defaultTimeout = 30 * time.Second

// maxErrorBody is how much of a response is read: SendGrid's error lists
// are small, and anything bigger is not one of them.
const maxErrorBody = 64 << 10

// Config configures a Sender.
type Config struct {
	// APIKey is a SendGrid API key with the Mail Send permission.
	APIKey string
	// APIURL is the API's base URL; empty means DefaultAPIURL. The EU
	// region's is https://api.eu.sendgrid.com.
	APIURL string
	// From is the sender, "Name <address>" or "address"; the address must
	// be a sender verified in SendGrid.
	From string
	// HTTPClient makes the requests; nil means a client with a 30s
	// timeout that keeps connections alive between messages.
	HTTPClient *http.Client
}

// Sender sends email through SendGrid. It is safe for concurrent use.
type Sender struct {
	apiKey   string
	endpoint string // {APIURL}/v3/mail/send
	from     *mail.Address
	client   *http.Client
}

var _ delivery.Sender = (*Sender)(nil)

// New checks cfg and returns a Sender. Its errors never contain the API key.
func New(cfg Config) (*Sender, error) {
	if err := checkAPIKey(cfg.APIKey); err != nil {
		return nil, err
	}
	endpoint, err := endpointURL(cfg.APIURL)
	if err != nil {
		return nil, err
	}
	if cfg.From == "" {
		return nil, errors.New(`sendgrid: the sender is empty; set it to "Name <address>"`)
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("sendgrid: the sender %q is not \"Name <address>\" or \"address\": %w", cfg.From, err)
	}
	client := cfg.HTTPClient
	if client == nil {
		client = providerhttp.NewClient(defaultTimeout)
	}
	return &Sender{apiKey: cfg.APIKey, endpoint: endpoint, from: from, client: client}, nil
}

// checkAPIKey rejects a missing key, and one that cannot go in a header
// (a stray newline from a secrets file), without quoting it.
func checkAPIKey(key string) error {
	if key == "" {
		return errors.New("sendgrid: the API key is empty")
	}
	for _, r := range key {
		if r <= ' ' || r == 0x7f {
			return errors.New("sendgrid: the API key contains spaces or control characters; check for a trailing newline")
		}
	}
	return nil
}

// endpointURL builds the Mail Send URL from the API's base URL.
func endpointURL(base string) (string, error) {
	if base == "" {
		base = DefaultAPIURL
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("sendgrid: the API URL is not valid: %w", err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("sendgrid: the API URL %q is not an http(s)://host URL", base)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("sendgrid: the API URL %q must have no credentials, query or fragment", u.Redacted())
	}
	return strings.TrimSuffix(u.String(), "/") + "/v3/mail/send", nil
}

// Close closes the idle kept connections, at shutdown.
func (s *Sender) Close() error {
	s.client.CloseIdleConnections()
	return nil
}

// Name identifies the provider.
func (s *Sender) Name() string { return "sendgrid" }

// Send asks SendGrid to deliver m. Its errors do not repeat the provider's
// name, which the outbox worker adds.
func (s *Sender) Send(ctx context.Context, m latchkey.Message) error {
	if m.Channel != latchkey.ChannelEmail {
		return delivery.Permanent(fmt.Errorf("cannot send a %q message: SendGrid carries email only", m.Channel))
	}
	body, err := json.Marshal(s.request(m))
	if err != nil {
		return delivery.Permanent(fmt.Errorf("encode the request: %w", err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build the request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+s.apiKey)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("send the request: %w", err)
	}
	defer providerhttp.DrainClose(resp.Body, maxErrorBody)
	return s.result(resp)
}

// mailSend is the v3 Mail Send request body, as far as Latchkey uses it.
type mailSend struct {
	Personalizations []personalization `json:"personalizations"`
	From             address           `json:"from"`
	Subject          string            `json:"subject"`
	Content          []content         `json:"content"`
}

type personalization struct {
	To []address `json:"to"`
}

type address struct {
	Email string `json:"email"`
	Name  string `json:"name,omitempty"`
}

type content struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// request builds the body for m. text/plain comes first because SendGrid
// rejects content whose plain part is not first.
func (s *Sender) request(m latchkey.Message) mailSend {
	name := s.from.Name
	if m.From != "" {
		name = m.From
	}
	parts := []content{{Type: "text/plain", Value: m.Text}}
	if m.HTML != "" {
		parts = append(parts, content{Type: "text/html", Value: m.HTML})
	}
	return mailSend{
		Personalizations: []personalization{{To: []address{{Email: m.To}}}},
		From:             address{Email: s.from.Address, Name: name},
		Subject:          m.Subject,
		Content:          parts,
	}
}

// result turns SendGrid's answer into Send's error.
func (s *Sender) result(resp *http.Response) error {
	if resp.StatusCode == http.StatusAccepted {
		return nil // Send's DrainClose reads the body, so the connection is reused
	}
	body, readErr := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	return delivery.HTTPError(resp, s.scrub(errorDetail(body)), readErr)
}

// errorResponse is SendGrid's error body.
type errorResponse struct {
	Errors []struct {
		Message string `json:"message"`
		Field   any    `json:"field"` // a string, or null
	} `json:"errors"`
}

// errorDetail reads the messages out of an error body: "message (field
// from.email); message". A body that is not SendGrid's (a proxy's HTML
// page) yields the start of its text.
func errorDetail(body []byte) string {
	var er errorResponse
	if json.Unmarshal(body, &er) == nil && len(er.Errors) > 0 {
		msgs := make([]string, 0, len(er.Errors))
		for _, e := range er.Errors {
			msg := e.Message
			if field, ok := e.Field.(string); ok && field != "" {
				msg += " (field " + field + ")"
			}
			msgs = append(msgs, msg)
		}
		return strings.Join(msgs, "; ")
	}
	return delivery.Snippet(body)
}

// scrub removes the API key from text taken from a response, should the
// server ever quote the request back.
func (s *Sender) scrub(text string) string {
	return strings.ReplaceAll(text, s.apiKey, "[redacted]")
}
