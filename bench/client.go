package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// endpoint is one route of the API, as an index into per-endpoint tables.
type endpoint int

const (
	epToken endpoint = iota
	epCreateUser
	epOTPSend
	epOTPAuthenticate
	epInbox
	epLinkSend
	epLinkOpen
	epLinkAuthenticate
	epRefresh
	epLogout
	// epSMTPSink and epSMSSink are not the server's: they name the sinks in
	// the failures of flows whose message did not arrive.
	epSMTPSink
	epSMSSink
	epSupabaseAdminUsers
	epSupabaseOTP
	epSupabaseVerify
	epSupabaseLogout
	numEndpoints
)

// endpointInfo names each endpoint as the server's route pattern, so the
// report reads like the server's own logs.
var endpointInfo = [numEndpoints]struct{ method, path string }{
	epToken:            {http.MethodPost, "/oidc/token"},
	epCreateUser:       {http.MethodPost, "/cis/v1/users"},
	epOTPSend:          {http.MethodPost, "/cis/v1/auth/otp/send"},
	epOTPAuthenticate:  {http.MethodPost, "/cis/v1/auth/otp/authenticate"},
	epInbox:            {http.MethodGet, "/dev/inbox/messages"},
	epLinkSend:         {http.MethodPost, "/cis/v1/auth/link/email/send"},
	epLinkOpen:         {http.MethodGet, "/magic-link"},
	epLinkAuthenticate: {http.MethodPost, "/cis/v1/auth/link/email/authenticate"},
	epRefresh:          {http.MethodPost, "/cis/v1/auth/token/refresh"},
	epLogout:           {http.MethodPost, "/cis/v1/auth/session/logout"},
	epSMTPSink:         {"", "SMTP sink"},
	epSMSSink:          {"", "SMS sink"},

	// Supabase Auth's.
	epSupabaseAdminUsers: {http.MethodPost, "/admin/users"},
	epSupabaseOTP:        {http.MethodPost, "/otp"},
	epSupabaseVerify:     {http.MethodPost, "/verify"},
	epSupabaseLogout:     {http.MethodPost, "/logout"},
}

func (e endpoint) String() string {
	if endpointInfo[e].method == "" {
		return endpointInfo[e].path
	}
	return endpointInfo[e].method + " " + endpointInfo[e].path
}

// kindEndpoints lists the endpoints each flow calls, so that workers hold
// statistics only for those. The token endpoint is everyone's: the client
// token may expire during a run.
var kindEndpoints = [numKinds][]endpoint{
	kindOTPDirect:     {epToken, epOTPSend, epOTPAuthenticate, epLogout},
	kindOTPEmail:      {epToken, epOTPSend, epOTPAuthenticate, epLogout},
	kindOTPEmailInbox: {epToken, epOTPSend, epInbox, epOTPAuthenticate, epLogout},
	kindOTPSMS:        {epToken, epOTPSend, epOTPAuthenticate, epLogout},
	kindLink:          {epToken, epLinkSend, epLinkOpen, epLinkAuthenticate, epLogout},
	kindMagicLink:     {epToken, epLinkSend, epLinkOpen, epLinkAuthenticate, epLogout},
	kindRefresh:       {epToken, epRefresh},
}

const (
	// requestTimeout bounds one request.
	requestTimeout = 30 * time.Second
	// maxResponseBytes bounds what is read of one response.
	maxResponseBytes = 4 << 20
	// tokenRenewal renews the client access token when less than this part
	// of its lifetime is left, well before requests could meet an expired
	// one.
	tokenRenewal = 0.2
)

// client is the one HTTP client of a run, with the client access token
// every /cis/v1 call carries.
type client struct {
	s    *settings
	hc   *http.Client
	urls [numEndpoints]string // absolute URLs of the fixed endpoints

	token   atomic.Pointer[clientToken]
	tokenMu sync.Mutex // one renewal at a time

	// supabaseKey and supabaseBearer are the Supabase Auth key as header
	// values; supabaseHash is the password hash its seeded users get.
	supabaseKey, supabaseBearer []string
	supabaseHash                string
}

// clientToken is a client access token ready to send.
type clientToken struct {
	raw     string
	header  []string // "Bearer ..." as a header value
	renewAt time.Time
}

var jsonContentType = []string{"application/json"}

func newClient(s *settings) *client {
	// Tuned for load on one host: keep-alive connections, enough idle ones
	// that every flow in flight keeps its own, no HTTP/2 or compression
	// (the server answers small bodies uncompressed), and no proxy from the
	// environment between the tool and the server it measures.
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          s.maxInFlight + 16,
		MaxIdleConnsPerHost:   s.maxInFlight + 16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: requestTimeout,
		DisableCompression:    true,
		ForceAttemptHTTP2:     false,
	}
	c := &client{s: s, hc: &http.Client{
		Transport: tr,
		Timeout:   requestTimeout,
		// The only redirect in a flow is the magic link's, and following
		// it would leave the server for the app.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	for e := range numEndpoints {
		c.urls[e] = s.URL + endpointInfo[e].path
	}
	c.prepareSupabase()
	return c
}

func (c *client) close() { c.hc.CloseIdleConnections() }

// clientToken obtains a client access token with the app's credentials,
// for the checks before the run.
func (c *client) clientToken(ctx context.Context) (*clientToken, error) {
	tok, err := c.fetchToken(ctx, nil)
	if err != nil {
		return nil, err
	}
	c.token.Store(tok)
	return tok, nil
}

// fetchToken asks the token endpoint for a client access token; rec, when
// set, records the request.
func (c *client) fetchToken(ctx context.Context, rec *recorder) (*clientToken, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {c.s.ClientID},
		"client_secret": {c.s.ClientSecret}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.urls[epToken], strings.NewReader(form))
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	start := c.s.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		rec.transport(epToken)
		return nil, fmt.Errorf("bench: cannot reach the server at %s: %w", c.s.URL, err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	resp.Body.Close()
	rec.response(epToken, c.s.Now().Sub(start), resp.StatusCode, resp.StatusCode == http.StatusOK)
	if err != nil {
		return nil, fmt.Errorf("bench: reading the token response: %w", err)
	}
	var out struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
		Error       string `json:"error"`
		Message     string `json:"message"`
	}
	jsonErr := json.Unmarshal(body, &out)
	switch {
	case resp.StatusCode == http.StatusUnauthorized || out.Error == "invalid_client":
		return nil, fmt.Errorf("bench: the server refused the client credentials (client_id %q): %d %s",
			c.s.ClientID, resp.StatusCode, errorText(out.Error, out.Message, body))
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("bench: POST %s answered %d %s; is %s a Latchkey server?",
			endpointInfo[epToken].path, resp.StatusCode, errorText(out.Error, out.Message, body), c.s.URL)
	case jsonErr != nil || out.AccessToken == "":
		return nil, fmt.Errorf("bench: POST %s answered 200 without an access token", endpointInfo[epToken].path)
	}
	life := time.Duration(out.ExpiresIn) * time.Second
	if life <= 0 {
		life = time.Minute
	}
	return &clientToken{raw: out.AccessToken, header: []string{"Bearer " + out.AccessToken},
		renewAt: start.Add(time.Duration(float64(life) * (1 - tokenRenewal)))}, nil
}

// errorText summarises an error response for a message.
func errorText(code, message string, body []byte) string {
	switch {
	case code != "" && message != "":
		return code + ": " + message
	case code != "":
		return code
	case message != "":
		return message
	}
	const max = 200
	text := strings.TrimSpace(string(body))
	if len(text) > max {
		text = text[:max] + "..."
	}
	return strconv.Quote(text)
}

// authHeader returns the Authorization header value, renewing the client
// token when it nears its expiry. Only one caller renews; the others keep
// using the current token, still valid.
func (c *client) authHeader(ctx context.Context, now time.Time, rec *recorder) ([]string, *flowError) {
	tok := c.token.Load()
	if now.Before(tok.renewAt) {
		return tok.header, nil
	}
	if !c.tokenMu.TryLock() {
		return tok.header, nil
	}
	defer c.tokenMu.Unlock()
	if tok = c.token.Load(); now.Before(tok.renewAt) {
		return tok.header, nil
	}
	fresh, err := c.fetchToken(ctx, rec)
	if err != nil {
		return nil, &flowError{ep: epToken, reason: "renewing the client token failed"}
	}
	c.token.Store(fresh)
	return fresh.header, nil
}

// checkInbox makes sure the server has a dev inbox, which the
// otp-email-inbox flow reads.
func (c *client) checkInbox(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.urls[epInbox]+"?limit=1&to="+url.QueryEscape(userEmail(0)), nil)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("bench: cannot reach the dev inbox: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBytes))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("bench: the %s flow reads the dev inbox, but GET %s answered %d: run the server in dev mode (latchkey dev)",
			FlowOTPEmailInbox, endpointInfo[epInbox].path, resp.StatusCode)
	}
	return nil
}

// flowError is why a flow failed: the endpoint that misbehaved and how.
type flowError struct {
	ep     endpoint
	reason string
	// refused is set when the server answered 503: it did not admit the
	// request (overloaded, or its database away).
	refused bool
}

func (e *flowError) Error() string { return e.ep.String() + ": " + e.reason }

// requester sends one worker's requests, one at a time, reusing a buffer
// for the responses.
type requester struct {
	c   *client
	buf bytes.Buffer
	// bearer, when set, is the user's access token the next call to
	// Supabase Auth carries.
	bearer string
}

// call sends one request and checks its status against want. body is
// JSON (nil for a GET); rawURL, when set, replaces the endpoint's fixed URL.
// It returns the status, the response body (valid until the next call, and
// returned with an unexpected status too, for messages) and the response
// header. Every request is recorded in rec, when set.
func (q *requester) call(ctx context.Context, rec *recorder, ep endpoint, rawURL string, body []byte, want ...int) (int, []byte, http.Header, *flowError) {
	if rawURL == "" {
		rawURL = q.c.urls[ep]
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, endpointInfo[ep].method, rawURL, rd)
	if err != nil {
		return 0, nil, nil, &flowError{ep: ep, reason: "bad request URL"}
	}
	start := q.c.s.Now()
	if q.c.s.supabase() {
		q.c.supabaseHeaders(req, q.bearer)
	} else if ep != epInbox && ep != epLinkOpen {
		auth, ferr := q.c.authHeader(ctx, start, rec)
		if ferr != nil {
			return 0, nil, nil, ferr
		}
		req.Header["Authorization"] = auth
	}
	if body != nil {
		req.Header["Content-Type"] = jsonContentType
	}
	resp, err := q.c.hc.Do(req)
	if err != nil {
		rec.transport(ep)
		return 0, nil, nil, &flowError{ep: ep, reason: transportReason(err)}
	}
	q.buf.Reset()
	_, err = q.buf.ReadFrom(io.LimitReader(resp.Body, maxResponseBytes))
	resp.Body.Close()
	if err != nil {
		rec.transport(ep)
		return 0, nil, nil, &flowError{ep: ep, reason: transportReason(err)}
	}
	ok := false
	for _, w := range want {
		ok = ok || resp.StatusCode == w
	}
	rec.response(ep, q.c.s.Now().Sub(start), resp.StatusCode, ok)
	if !ok {
		return resp.StatusCode, q.buf.Bytes(), resp.Header, &flowError{ep: ep, reason: "status " + strconv.Itoa(resp.StatusCode),
			refused: resp.StatusCode == http.StatusServiceUnavailable}
	}
	return resp.StatusCode, q.buf.Bytes(), resp.Header, nil
}

// transportReason names a transport failure briefly, so that failures group
// in the report.
func transportReason(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return "transport: canceled"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "transport: timeout"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "transport: connection closed"
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return "transport: " + oe.Op + " " + oe.Err.Error()
	}
	return "transport: " + err.Error()
}

// appendJSONString appends s as a JSON string. The values sent are ASCII
// addresses, codes and tokens, but anything is escaped correctly.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// jsonObject builds a flat JSON object of string members from key, value
// pairs, without reflection.
func jsonObject(kv ...string) []byte {
	n := 2
	for _, s := range kv {
		n += len(s) + 4
	}
	b := make([]byte, 0, n)
	b = append(b, '{')
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, kv[i])
		b = append(b, ':')
		b = appendJSONString(b, kv[i+1])
	}
	return append(b, '}')
}

// jsonStrings reads the top-level members named in keys from the JSON
// object at the start of data (anything after it is ignored) into out, one
// per key: strings unescaped, other scalars as written; objects and arrays
// are skipped, and absent members are left empty. It reports false when
// data does not start with a well-formed object. It reads responses in the
// hot path at a fraction of the cost of encoding/json.
func jsonStrings(data []byte, keys []string, out []string) bool {
	for i := range out {
		out[i] = ""
	}
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return false
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return true
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return false
		}
		end, ok := stringEnd(data, i)
		if !ok {
			return false
		}
		key := data[i+1 : end-1]
		i = skipSpace(data, end)
		if i >= len(data) || data[i] != ':' {
			return false
		}
		i = skipSpace(data, i+1)
		vstart := i
		if i, ok = valueEnd(data, i); !ok {
			return false
		}
		for k, want := range keys {
			if string(key) == want && out[k] == "" {
				out[k], ok = scalar(data[vstart:i])
				if !ok {
					return false
				}
			}
		}
		i = skipSpace(data, i)
		if i >= len(data) {
			return false
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case '}':
			return true
		default:
			return false
		}
	}
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\n' || data[i] == '\r' || data[i] == '\t') {
		i++
	}
	return i
}

// stringEnd returns the index just past the JSON string starting at i.
func stringEnd(data []byte, i int) (int, bool) {
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			j++
		case '"':
			return j + 1, true
		}
	}
	return 0, false
}

// valueEnd returns the index just past the JSON value starting at i.
func valueEnd(data []byte, i int) (int, bool) {
	if i >= len(data) {
		return 0, false
	}
	switch data[i] {
	case '"':
		return stringEnd(data, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(data); j++ {
			switch data[j] {
			case '"':
				end, ok := stringEnd(data, j)
				if !ok {
					return 0, false
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, true
				}
			}
		}
		return 0, false
	default:
		j := i
		for j < len(data) && data[j] != ',' && data[j] != '}' && data[j] != ']' &&
			data[j] != ' ' && data[j] != '\n' && data[j] != '\r' && data[j] != '\t' {
			j++
		}
		return j, j > i
	}
}

// scalar returns a JSON value as a Go string: a string unescaped, an object
// or array as nothing, anything else as written.
func scalar(v []byte) (string, bool) {
	switch {
	case len(v) == 0:
		return "", false
	case v[0] == '{' || v[0] == '[':
		return "", true
	case v[0] != '"':
		if string(v) == "null" {
			return "", true
		}
		return string(v), true
	case bytes.IndexByte(v, '\\') < 0:
		return string(v[1 : len(v)-1]), true
	}
	var s string
	err := json.Unmarshal(v, &s)
	return s, err == nil
}
