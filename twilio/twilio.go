// Package twilio delivers login codes by SMS through Twilio Programmable
// Messaging: one POST to the 2010-04-01 Messages resource per message.
//
// Twilio answers 201 Created, with the new message's sid, to a message it
// has queued. A failure is permanent (delivery.Permanent) when Twilio
// refuses the request with a 4xx status other than 408 and 429: an invalid
// To number (error 21211), a landline (21614), a recipient who replied STOP
// (21610), a region not enabled (21408), bad credentials (20003). The same
// request would be refused again. 408, 429, 5xx statuses, network errors and
// timeouts are temporary, and the outbox retries them.
//
// Unless Config.HTTPClient says otherwise, requests go over connections kept
// alive between messages: as many as the outbox sends at once stay open,
// each closed after 30 seconds unused or by Close, and every response is
// read to its end so that its connection can carry the next request.
package twilio

import (
	"context"
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

// DefaultAPIURL is Twilio's REST API, used when Config.APIURL is empty.
const DefaultAPIURL = "https://api.twilio.com"

// defaultTimeout bounds a request made with the default HTTP client.
const defaultTimeout = 30 * time.Second

// maxBody is how much of a response is read; Twilio's are a few KiB.
const maxBody = 64 << 10

// Config configures a Sender.
type Config struct {
	// AccountSID is the account's SID: "AC" and 32 hex digits.
	AccountSID string
	// AuthToken is the account's auth token.
	AuthToken string
	// From is the sender: a Twilio number in E.164 form (+15005550006),
	// or a Messaging Service SID ("MG" and 32 hex digits), which then
	// picks the sender from its pool.
	From string
	// APIURL is the API's base URL; empty means DefaultAPIURL.
	APIURL string
	// HTTPClient makes the requests; nil means a client with a 30s
	// timeout that keeps connections alive between messages.
	HTTPClient *http.Client
}

// Sender sends SMS through Twilio. It is safe for concurrent use.
type Sender struct {
	accountSID string
	authToken  string
	from       string
	service    bool   // from is a Messaging Service SID
	endpoint   string // {APIURL}/2010-04-01/Accounts/{AccountSID}/Messages.json
	client     *http.Client
}

var _ delivery.Sender = (*Sender)(nil)

// New checks cfg and returns a Sender. Its errors never contain the auth
// token.
func New(cfg Config) (*Sender, error) {
	if !isSID(cfg.AccountSID, "AC") {
		return nil, fmt.Errorf(`twilio: the account SID %q is not "AC" followed by 32 hex digits`, cfg.AccountSID)
	}
	if cfg.AuthToken == "" {
		return nil, errors.New("twilio: the auth token is empty")
	}
	if strings.ContainsFunc(cfg.AuthToken, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return nil, errors.New("twilio: the auth token contains spaces or control characters; check for a trailing newline")
	}
	s := &Sender{accountSID: cfg.AccountSID, authToken: cfg.AuthToken, from: cfg.From, client: cfg.HTTPClient}
	switch {
	case isSID(cfg.From, "MG"):
		s.service = true
	case !isE164(cfg.From):
		return nil, fmt.Errorf(`twilio: the sender %q is neither an E.164 number (+15005550006) nor a Messaging Service SID ("MG" and 32 hex digits)`, cfg.From)
	}
	base, err := baseURL(cfg.APIURL)
	if err != nil {
		return nil, err
	}
	s.endpoint = base + "/2010-04-01/Accounts/" + url.PathEscape(cfg.AccountSID) + "/Messages.json"
	if s.client == nil {
		s.client = providerhttp.NewClient(defaultTimeout)
	}
	return s, nil
}

// isSID reports whether s is a Twilio SID of the given kind: two letters
// and 32 hex digits.
func isSID(s, prefix string) bool {
	rest, ok := strings.CutPrefix(s, prefix)
	return ok && len(rest) == 32 && strings.Trim(rest, "0123456789abcdefABCDEF") == ""
}

// isE164 reports whether s is a number in E.164 form: "+", then up to 15
// digits, the first not 0.
func isE164(s string) bool {
	digits, ok := strings.CutPrefix(s, "+")
	return ok && len(digits) >= 2 && len(digits) <= 15 && digits[0] != '0' &&
		strings.Trim(digits, "0123456789") == ""
}

// baseURL checks the API's base URL and drops a trailing slash.
func baseURL(base string) (string, error) {
	if base == "" {
		return DefaultAPIURL, nil
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("twilio: the API URL is not valid: %w", err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("twilio: the API URL %q is not an http(s)://host URL", base)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("twilio: the API URL %q must have no credentials, query or fragment", u.Redacted())
	}
	return strings.TrimSuffix(u.String(), "/"), nil
}

// Close closes the idle kept connections, at shutdown.
func (s *Sender) Close() error {
	s.client.CloseIdleConnections()
	return nil
}

// Name identifies the provider.
func (s *Sender) Name() string { return "twilio" }

// Send asks Twilio to deliver m. Its errors do not repeat the provider's
// name, which the outbox worker adds.
func (s *Sender) Send(ctx context.Context, m latchkey.Message) error {
	if m.Channel != latchkey.ChannelSMS {
		return delivery.Permanent(fmt.Errorf("cannot send a %q message: Twilio carries SMS only", m.Channel))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint, strings.NewReader(s.form(m).Encode()))
	if err != nil {
		return fmt.Errorf("build the request: %w", err)
	}
	req.SetBasicAuth(s.accountSID, s.authToken)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("send the request: %w", err)
	}
	defer providerhttp.DrainClose(resp.Body, maxBody)
	return s.result(resp)
}

// form is the request's parameters. An alphanumeric sender ID on the
// message replaces a configured number; a Messaging Service chooses its own
// sender (alphanumeric IDs included, as set up in Twilio), so it is never
// overridden.
func (s *Sender) form(m latchkey.Message) url.Values {
	v := url.Values{"To": {m.To}, "Body": {m.Text}}
	switch {
	case s.service:
		v.Set("MessagingServiceSid", s.from)
	case m.From != "":
		v.Set("From", m.From)
	default:
		v.Set("From", s.from)
	}
	return v
}

// message is the part of Twilio's Message resource that Send reads.
type message struct {
	SID    string `json:"sid"`
	Status string `json:"status"`
}

// apiError is Twilio's error body.
type apiError struct {
	Code     int    `json:"code"`
	Message  string `json:"message"`
	MoreInfo string `json:"more_info"`
	Status   int    `json:"status"`
}

// result turns Twilio's answer into Send's error.
func (s *Sender) result(resp *http.Response) error {
	body, readErr := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		var msg message
		if err := json.Unmarshal(body, &msg); err != nil || msg.SID == "" {
			// Without a sid nothing says the message was queued.
			return fmt.Errorf("status %s without a message sid (%s)", resp.Status, s.scrub(delivery.Snippet(body)))
		}
		return nil
	}
	return delivery.HTTPError(resp, s.errorDetail(body), readErr)
}

// errorDetail reads an error body: "error 21211: The 'To' number ... is not
// a valid phone number. (https://www.twilio.com/docs/errors/21211)". A body
// that is not Twilio's (a proxy's page) yields the start of its text.
func (s *Sender) errorDetail(body []byte) string {
	var e apiError
	if json.Unmarshal(body, &e) != nil || (e.Code == 0 && e.Message == "") {
		return s.scrub(delivery.Snippet(body))
	}
	var b strings.Builder
	if e.Code != 0 {
		b.WriteString("error " + strconv.Itoa(e.Code) + ": ")
	}
	b.WriteString(e.Message)
	if e.MoreInfo != "" {
		b.WriteString(" (" + e.MoreInfo + ")")
	}
	return s.scrub(b.String())
}

// scrub removes the auth token from text taken from a response, should the
// server ever quote the request back.
func (s *Sender) scrub(text string) string {
	return strings.ReplaceAll(text, s.authToken, "[redacted]")
}
