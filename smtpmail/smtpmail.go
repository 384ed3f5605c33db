// Package smtpmail delivers login emails through an SMTP server (a relay, a
// submission port, or a provider's SMTP endpoint). go-mail builds and sends
// every message: a multipart/alternative with a text/plain and a text/html
// part.
//
// A failure is permanent (delivery.Permanent) when the server answered with a
// 5xx reply, to RCPT (550 mailbox unavailable, 553 bad address), to DATA
// (554 rejected), to AUTH (535 bad credentials) or to anything else: the
// server has said that the same request will fail again. A message that
// cannot be built (an unparsable recipient) is permanent too. 4xx replies,
// network errors, TLS failures and timeouts are temporary, and the outbox
// retries them.
package smtpmail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/delivery"
)

// DefaultTimeout bounds each exchange with the server when Config.Timeout is
// zero.
const DefaultTimeout = 30 * time.Second

// Config configures a Sender.
type Config struct {
	// URL locates the server: smtp://[user:pass@]host:port, which must
	// offer STARTTLS unless the URL ends in ?starttls=off, or
	// smtps://[user:pass@]host:port for implicit TLS (usually port 465).
	// The user and password, percent-encoded, are sent with AUTH PLAIN or
	// LOGIN, and only over TLS or to a loopback host.
	URL string
	// From is the envelope and header sender: "Name <address>" or
	// "address".
	From string
	// TLSConfig, when set, is used for STARTTLS and implicit TLS (root
	// CAs, client certificates). Certificates are verified unless it says
	// otherwise; its ServerName defaults to the URL's host.
	TLSConfig *tls.Config
	// Timeout bounds each exchange with the server; 0 means
	// DefaultTimeout.
	Timeout time.Duration
}

// Sender sends email through one SMTP server. It is safe for concurrent
// use: every Send opens its own connection.
type Sender struct {
	host        string
	port        int
	implicitTLS bool // smtps: TLS from the first byte
	startTLS    bool // smtp: STARTTLS is required
	user, pass  string
	from        *mail.Address
	tlsConfig   *tls.Config
	timeout     time.Duration
}

var _ delivery.Sender = (*Sender)(nil)

// New checks cfg and returns a Sender. Its errors name the setting at fault
// and never contain the password.
func New(cfg Config) (*Sender, error) {
	s, err := parseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	if s.from, err = parseFrom(cfg.From); err != nil {
		return nil, err
	}
	switch {
	case cfg.Timeout < 0:
		return nil, fmt.Errorf("smtpmail: timeout %s is negative", cfg.Timeout)
	case cfg.Timeout == 0:
		s.timeout = DefaultTimeout
	default:
		s.timeout = cfg.Timeout
	}
	s.tlsConfig = tlsConfig(cfg.TLSConfig, s.host)
	return s, nil
}

// parseURL reads the server's location, TLS mode and credentials. It never
// wraps url.Parse's error, whose text quotes the whole URL, password
// included.
func parseURL(raw string) (*Sender, error) {
	if raw == "" {
		return nil, errors.New("smtpmail: the server URL is empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("smtpmail: the server URL is not valid: %w", err)
	}
	s := &Sender{}
	switch u.Scheme {
	case "smtp":
		s.startTLS = true
	case "smtps":
		s.implicitTLS = true
	default:
		return nil, fmt.Errorf("smtpmail: the server URL has scheme %q; use smtp:// (STARTTLS) or smtps:// (implicit TLS)", u.Scheme)
	}
	if err := s.parseHostPort(u); err != nil {
		return nil, err
	}
	if (u.Path != "" && u.Path != "/") || u.Fragment != "" || u.Opaque != "" {
		return nil, errors.New("smtpmail: the server URL must have no path or fragment: smtp://[user:pass@]host:port")
	}
	if err := s.parseQuery(u.Query()); err != nil {
		return nil, err
	}
	if err := s.parseUser(u.User); err != nil {
		return nil, err
	}
	return s, nil
}

// parseHostPort requires an explicit port: guessing between 25, 465 and
// 587 hides misconfigurations.
func (s *Sender) parseHostPort(u *url.URL) error {
	s.host = u.Hostname()
	if s.host == "" {
		return errors.New("smtpmail: the server URL has no host: smtp://[user:pass@]host:port")
	}
	port := u.Port()
	if port == "" {
		return fmt.Errorf("smtpmail: the server URL has no port after host %q (587 for STARTTLS, 465 for smtps)", s.host)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("smtpmail: the server URL's port %q is not a number from 1 to 65535", port)
	}
	s.port = n
	return nil
}

// parseQuery accepts only starttls=on|off, so that a misspelt option is an
// error rather than silently ignored.
func (s *Sender) parseQuery(q url.Values) error {
	for key, values := range q {
		if key != "starttls" {
			return fmt.Errorf("smtpmail: the server URL has unknown option %q; the only option is starttls=off", key)
		}
		if len(values) != 1 {
			return errors.New("smtpmail: the server URL repeats the starttls option")
		}
		if s.implicitTLS {
			return errors.New("smtpmail: starttls does not apply to smtps://, which is TLS from the start")
		}
		switch values[0] {
		case "on":
			s.startTLS = true
		case "off":
			s.startTLS = false
		default:
			return fmt.Errorf("smtpmail: the server URL has starttls=%q; use on or off", values[0])
		}
	}
	return nil
}

// parseUser reads the credentials, and refuses to send them in clear text
// anywhere but to this machine.
func (s *Sender) parseUser(user *url.Userinfo) error {
	if user == nil {
		return nil
	}
	pass, hasPass := user.Password()
	s.user, s.pass = user.Username(), pass
	if s.user == "" || !hasPass || s.pass == "" {
		return errors.New("smtpmail: the server URL must give both a user and a password (user:pass@host), or neither")
	}
	if !s.implicitTLS && !s.startTLS && !isLoopback(s.host) {
		return fmt.Errorf("smtpmail: the server URL turns STARTTLS off but has a password, which would cross the network to %q in clear text", s.host)
	}
	return nil
}

// isLoopback reports whether host names this machine.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// parseFrom reads the configured sender, whose address is also the envelope
// sender and the domain of Message-IDs.
func parseFrom(from string) (*mail.Address, error) {
	if from == "" {
		return nil, errors.New(`smtpmail: the sender is empty; set it to "Name <address>" or "address"`)
	}
	addr, err := mail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("smtpmail: the sender %q is not \"Name <address>\" or \"address\": %w", from, err)
	}
	return addr, nil
}

// tlsConfig copies the caller's TLS settings, naming the server for
// certificate checks and refusing anything older than TLS 1.2.
func tlsConfig(base *tls.Config, host string) *tls.Config {
	var c *tls.Config
	if base != nil {
		c = base.Clone()
	} else {
		c = &tls.Config{}
	}
	if c.ServerName == "" {
		c.ServerName = host
	}
	if c.MinVersion == 0 {
		c.MinVersion = tls.VersionTLS12
	}
	return c
}

// Name identifies the provider.
func (s *Sender) Name() string { return "smtp" }

// Send delivers m over one SMTP session. The session ends early when ctx
// does: its connection is closed under it. Its errors do not repeat the
// provider's name, which the outbox worker adds.
func (s *Sender) Send(ctx context.Context, m latchkey.Message) error {
	msg, err := s.compose(m)
	if err != nil {
		return delivery.Permanent(fmt.Errorf("cannot build the message: %w", err))
	}
	c := &conn{ctx: ctx, sender: s}
	defer c.close()
	client, err := gomail.NewClient(s.host, s.clientOptions(c.dial)...)
	if err != nil {
		return fmt.Errorf("go-mail client: %w", err)
	}
	err = client.DialAndSendWithContext(ctx, msg)
	if err == nil || msg.IsDelivered() {
		// The server accepted the message; a failed RSET or QUIT after
		// that must not make the outbox send it twice.
		return nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		err = fmt.Errorf("%w: %w", ctxErr, err)
	}
	return s.classify(fmt.Errorf("server %s: %w", net.JoinHostPort(s.host, strconv.Itoa(s.port)), err))
}

// compose builds the message. Its Message-ID derives from the outbox ID, so
// a retried message keeps the same one and receivers can tell duplicates
// apart; its Date is when the message was written to the outbox, the moment
// RFC 5322 asks for.
func (s *Sender) compose(m latchkey.Message) (*gomail.Msg, error) {
	if m.Channel != latchkey.ChannelEmail {
		return nil, fmt.Errorf("a %q message is not email, the only kind SMTP carries", m.Channel)
	}
	msg := gomail.NewMsg()
	name := s.from.Name
	if m.From != "" {
		name = m.From
	}
	if err := msg.FromFormat(name, s.from.Address); err != nil {
		return nil, fmt.Errorf("sender: %w", err)
	}
	if err := msg.To(m.To); err != nil {
		return nil, fmt.Errorf("recipient: %w", err)
	}
	msg.Subject(m.Subject)
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	if m.ID != "" {
		msg.SetMessageIDWithValue(m.ID + "@" + domain(s.from.Address))
	}
	if !m.CreatedAt.IsZero() {
		msg.SetDateWithValue(m.CreatedAt)
	}
	return msg, nil
}

// domain is the part of an address after its last "@".
func domain(addr string) string {
	return addr[strings.LastIndexByte(addr, '@')+1:]
}

// clientOptions configures go-mail for one session.
func (s *Sender) clientOptions(dial gomail.DialContextFunc) []gomail.Option {
	opts := []gomail.Option{
		gomail.WithPort(s.port),
		gomail.WithTimeout(s.timeout),
		gomail.WithTLSConfig(s.tlsConfig),
		gomail.WithDialContextFunc(dial),
	}
	switch {
	case s.implicitTLS:
		opts = append(opts, gomail.WithSSL())
	case s.startTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if s.user != "" {
		// PLAIN and LOGIN work with every server; go-mail's own
		// discovery would skip them on smtps:// (it only counts STARTTLS
		// as encryption when we dial), and go-mail refuses to send
		// either in clear text to a host other than loopback.
		opts = append(opts, gomail.WithUsername(s.user), gomail.WithPassword(s.pass),
			gomail.WithOpportunisticSMTPAuth(gomail.SMTPAuthPlain, gomail.SMTPAuthLogin))
	}
	return opts
}

// conn dials the one connection of a Send. It ties the connection to the
// Send's ctx, which go-mail only applies to dialing, and closes it however
// the session ends: go-mail leaves it open when the greeting or STARTTLS
// fails.
type conn struct {
	ctx    context.Context
	sender *Sender
	nc     net.Conn
	stop   func() bool
}

// dial is the go-mail DialContextFunc. dialCtx bounds the dial itself; the
// connection lives until c.ctx ends or c.close.
func (c *conn) dial(dialCtx context.Context, network, addr string) (net.Conn, error) {
	var nc net.Conn
	var err error
	if c.sender.implicitTLS {
		d := &tls.Dialer{Config: c.sender.tlsConfig}
		nc, err = d.DialContext(dialCtx, network, addr)
	} else {
		var d net.Dialer
		nc, err = d.DialContext(dialCtx, network, addr)
	}
	if err != nil {
		return nil, err
	}
	c.nc = nc
	c.stop = context.AfterFunc(c.ctx, func() { _ = nc.Close() })
	return nc, nil
}

// close releases the connection; after go-mail's QUIT it is a no-op.
func (c *conn) close() {
	if c.nc == nil {
		return
	}
	c.stop()
	_ = c.nc.Close()
}

// classify marks 5xx replies permanent and removes the password from the
// error's text, since a server's reply may quote what it was sent.
func (s *Sender) classify(err error) error {
	if s.pass != "" && strings.Contains(err.Error(), s.pass) {
		err = &redacted{text: strings.ReplaceAll(err.Error(), s.pass, "[redacted]"), err: err}
	}
	if code := replyCode(err); code >= 500 && code <= 599 {
		return delivery.Permanent(err)
	}
	return err
}

// replyCode finds the SMTP reply code behind err, or 0 when the server did
// not answer with one (a network failure, a timeout, a TLS error).
func replyCode(err error) int {
	// go-mail's SendError holds the server's reply without unwrapping to
	// it, so ask it for the code.
	var se *gomail.SendError
	if errors.As(err, &se) {
		return se.ErrorCode()
	}
	// Replies during the session setup (EHLO, STARTTLS, AUTH) come as
	// textproto errors.
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}

// redacted is an error whose text has had a secret removed.
type redacted struct {
	text string
	err  error
}

func (e *redacted) Error() string { return e.text }
func (e *redacted) Unwrap() error { return e.err }
