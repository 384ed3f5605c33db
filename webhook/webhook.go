// Package webhook delivers login messages, email or SMS, as a signed JSON
// POST to a URL of the operator's own: a bridge to any gateway that Latchkey
// has no provider for. Requests are signed the Standard Webhooks way
// (https://www.standardwebhooks.com/), so the receiver can use that
// project's libraries, or Verify, to check them.
//
// Each request carries the headers webhook-id (the message ID, the same on
// every retry, so a receiver can drop duplicates), webhook-timestamp (Unix
// seconds) and webhook-signature ("v1," and the base64 HMAC-SHA256 of
// id.timestamp.body).
//
// Any 2xx status is success. A failure is permanent (delivery.Permanent)
// when the receiver answers with a 4xx status other than 408 Request
// Timeout and 429 Too Many Requests: it has refused the message itself.
// Other statuses, network errors and timeouts are temporary, and the outbox
// retries them.
//
// Unless Config.HTTPClient says otherwise, requests go over connections kept
// alive between messages: as many as the outbox sends at once stay open,
// each closed after 30 seconds unused or by Close, and every response is
// read to its end so that its connection can carry the next request.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/delivery"
	"github.com/latchkeyhq/latchkey/internal/providerhttp"
)

// Standard Webhooks headers.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// EventType is the "type" of every body this package sends.
const EventType = "message.send"

// DefaultTolerance is how far a timestamp may be from the receiver's clock
// when Verify is given no tolerance: Standard Webhooks' five minutes.
const DefaultTolerance = 5 * time.Minute

// secretPrefix marks a Standard Webhooks secret: base64 after it.
const secretPrefix = "whsec_"

// Minimum key lengths: Standard Webhooks asks for 24 to 64 random bytes;
// a raw string, likely typed rather than generated, must be longer.
const (
	minKeyBytes       = 24
	minRawSecretBytes = 32
)

// defaultTimeout bounds a request made with the default HTTP client.
const defaultTimeout = 30 * time.Second

// maxBody is how much of a response is read for an error's text.
const maxBody = 64 << 10

// Verify's errors.
var (
	// ErrMissingHeaders is returned when a webhook header is absent.
	ErrMissingHeaders = errors.New("webhook: missing webhook-id, webhook-timestamp or webhook-signature")
	// ErrBadTimestamp is returned for a timestamp that is not Unix seconds
	// or is further from now than the tolerance.
	ErrBadTimestamp = errors.New("webhook: timestamp is malformed or outside the tolerance")
	// ErrBadSignature is returned when no v1 signature matches.
	ErrBadSignature = errors.New("webhook: no matching signature")
)

// Config configures a Sender.
type Config struct {
	// URL receives the POSTs; http or https.
	URL string
	// Secret signs the requests: "whsec_" and a base64 key of 24 to 64
	// bytes (the Standard Webhooks form), or any other string of at least
	// 32 bytes, used as the key as it is.
	Secret string
	// HTTPClient makes the requests; nil means a client with a 30s
	// timeout that keeps connections alive between messages.
	HTTPClient *http.Client
	// Now gives the webhook-timestamp. Required.
	Now func() time.Time
}

// Sender posts messages to one URL. It is safe for concurrent use.
type Sender struct {
	url     string
	safeURL string // url without credentials or query, for errors
	key     []byte
	client  *http.Client
	now     func() time.Time
}

var _ delivery.Sender = (*Sender)(nil)

// New checks cfg and returns a Sender. Its errors never contain the secret.
func New(cfg Config) (*Sender, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("webhook: the URL is not an http(s)://host/... URL")
	}
	if u.Fragment != "" {
		return nil, errors.New("webhook: the URL must have no fragment")
	}
	key, err := decodeSecret(cfg.Secret)
	if err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		return nil, errors.New("webhook: Now is nil; the sender needs a clock for webhook-timestamp")
	}
	client := cfg.HTTPClient
	if client == nil {
		client = providerhttp.NewClient(defaultTimeout)
	}
	return &Sender{url: u.String(), safeURL: safeURL(u), key: key, client: client, now: cfg.Now}, nil
}

// safeURL is u without the parts that may hold credentials (user info, a
// token in the query), fit for error messages.
func safeURL(u *url.URL) string {
	c := *u
	c.User, c.RawQuery, c.ForceQuery = nil, "", false
	return c.String()
}

// decodeSecret turns a configured secret into the HMAC key. Its errors
// never quote the secret.
func decodeSecret(secret string) ([]byte, error) {
	if encoded, ok := strings.CutPrefix(secret, secretPrefix); ok {
		key, err := base64.StdEncoding.DecodeString(encoded)
		if err != nil {
			return nil, errors.New("webhook: the secret starts with whsec_ but the rest is not standard base64")
		}
		if len(key) < minKeyBytes || len(key) > 64 {
			return nil, fmt.Errorf("webhook: the whsec_ secret decodes to %d bytes; Standard Webhooks keys are %d to 64", len(key), minKeyBytes)
		}
		return key, nil
	}
	if len(secret) < minRawSecretBytes {
		return nil, fmt.Errorf("webhook: the secret is %d bytes; use at least %d, or a whsec_ secret", len(secret), minRawSecretBytes)
	}
	return []byte(secret), nil
}

// Close closes the idle kept connections, at shutdown.
func (s *Sender) Close() error {
	s.client.CloseIdleConnections()
	return nil
}

// Name identifies the provider.
func (s *Sender) Name() string { return "webhook" }

// payload is the request body.
type payload struct {
	Type      string `json:"type"`
	ID        string `json:"id"`
	Channel   string `json:"channel"`
	To        string `json:"to"`
	From      string `json:"from,omitempty"`
	Subject   string `json:"subject,omitempty"`
	Text      string `json:"text"`
	HTML      string `json:"html,omitempty"`
	AppID     string `json:"app_id"`
	CreatedAt string `json:"created_at"`
}

// Send posts m. Its errors do not repeat the provider's name, which the
// outbox worker adds.
func (s *Sender) Send(ctx context.Context, m latchkey.Message) error {
	if m.ID == "" {
		return delivery.Permanent(errors.New("the message has no ID to put in webhook-id"))
	}
	body, err := json.Marshal(payload{
		Type: EventType, ID: m.ID, Channel: string(m.Channel), To: m.To, From: m.From,
		Subject: m.Subject, Text: m.Text, HTML: m.HTML, AppID: m.AppID,
		CreatedAt: m.CreatedAt.UTC().Format(time.RFC3339),
	})
	if err != nil {
		return delivery.Permanent(fmt.Errorf("encode the body: %w", err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build the request: %w", err)
	}
	ts := strconv.FormatInt(s.now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderID, m.ID)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, "v1,"+base64.StdEncoding.EncodeToString(sign(s.key, m.ID, ts, body)))
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("send the request: %w", s.redact(err))
	}
	defer providerhttp.DrainClose(resp.Body, maxBody)
	return result(resp)
}

// redact takes the URL's credentials and query out of a transport error,
// whose text quotes the URL.
func (s *Sender) redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = s.safeURL
	}
	return err
}

// result turns the receiver's answer into Send's error.
func result(resp *http.Response) error {
	body, readErr := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return nil
	}
	return delivery.HTTPError(resp, delivery.Snippet(body), readErr)
}

// sign is the Standard Webhooks signature: HMAC-SHA256 of
// "id.timestamp.body".
func sign(key []byte, id, timestamp string, body []byte) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return mac.Sum(nil)
}

// Verify checks a received request the way a receiver should: the
// timestamp within tolerance of now (DefaultTolerance when tolerance is 0
// or less), and one of the space-separated "v1,<base64>" signatures
// matching, compared in constant time. secret is in the form Config takes.
// A nil error means the body is authentic and fresh.
func Verify(secret string, headers http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	key, err := decodeSecret(secret)
	if err != nil {
		return err
	}
	id, ts, sigs := headers.Get(HeaderID), headers.Get(HeaderTimestamp), headers.Get(HeaderSignature)
	if id == "" || ts == "" || sigs == "" {
		return ErrMissingHeaders
	}
	if err := checkTimestamp(ts, now, tolerance); err != nil {
		return err
	}
	want := sign(key, id, ts, body)
	for _, sig := range strings.Fields(sigs) {
		encoded, ok := strings.CutPrefix(sig, "v1,")
		if !ok {
			continue // another scheme, which this receiver does not know
		}
		got, err := base64.StdEncoding.DecodeString(encoded)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrBadSignature
}

// checkTimestamp rejects a timestamp too far from now either way: an old
// one may be a replay, and one from the future would stay valid too long.
func checkTimestamp(ts string, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %q is not Unix seconds", ErrBadTimestamp, ts)
	}
	diff := now.Sub(time.Unix(sec, 0))
	if diff > tolerance || diff < -tolerance {
		return fmt.Errorf("%w: %s is %s from now, more than %s", ErrBadTimestamp, ts, diff.Round(time.Second), tolerance)
	}
	return nil
}
