// Package providerhttp is the HTTP client of the delivery providers
// reached over HTTP (SendGrid, Twilio, webhooks): Go's default transport,
// but keeping enough connections alive between messages that a busy
// outbox does not pay for a TCP and TLS handshake per message.
package providerhttp

import (
	"io"
	"net"
	"net/http"
	"time"
)

// Connection reuse. Go's default transport keeps 2 idle connections per
// host and closes the others after each burst of messages, so that the
// next burst pays for TCP and TLS handshakes again.
const (
	// MaxIdlePerHost keeps as many connections as the outbox may deliver
	// messages at once: up to 256 handed over by the sends of its node
	// (delivery's maxHandoffs), beside its claimed batches. Fewer, and a
	// busy minute reopens connections: at 32, a node delivering 1,450 SMS
	// a second opened 17 connections per 1,000 messages.
	MaxIdlePerHost = 256
	// IdleConnTimeout closes a kept connection unused this long, before a
	// load balancer on the way (commonly at 60s) drops it.
	IdleConnTimeout = 30 * time.Second
)

// NewClient returns the client a provider uses when its Config gives
// none, each request bounded by timeout.
func NewClient(timeout time.Duration) *http.Client {
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          MaxIdlePerHost,
		MaxIdleConnsPerHost:   MaxIdlePerHost,
		IdleConnTimeout:       IdleConnTimeout,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}}
}

// DrainClose reads what is left of a response body, up to limit more
// bytes, and closes it: a connection goes back to the pool only once its
// response has been read to the end.
func DrainClose(body io.ReadCloser, limit int64) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, limit))
	_ = body.Close()
}
