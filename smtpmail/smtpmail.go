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
//
// A Sender keeps its SMTP sessions open between messages, so that a
// message costs MAIL, RCPT, DATA and RSET rather than a TCP connection, a
// TLS handshake, EHLO and AUTH. It opens at most Config.MaxConnections
// sessions at once; sends beyond them wait for one to free up. A session is
// dropped after any error, never to carry another message; one that the
// server closed while it was idle is replaced, and the message sent on a
// new one, without the send failing. Sessions are retired after
// Config.MaxMessages messages or Config.MaxAge, closed after
// Config.IdleTimeout unused, and Close ends them all.
package smtpmail

import (
	"cmp"
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

// Defaults of the Config fields left zero.
const (
	// DefaultTimeout bounds each exchange with the server.
	DefaultTimeout = 30 * time.Second
	// DefaultMaxConnections is how many sessions a Sender opens at once:
	// as many messages in flight as the outbox had before sessions were
	// pooled (a claimed batch, 32), since a relay far away takes several
	// round trips per message (MAIL, RCPT, DATA, the message, RSET: at
	// 50 ms each, 4 sessions would carry 16 messages a second). A relay
	// that limits concurrent connections (Microsoft 365 allows 3) needs
	// fewer, set by LATCHKEY_SMTP_MAX_CONNECTIONS.
	DefaultMaxConnections = 32
	// DefaultIdleTimeout closes a session left unused, before the server
	// (which RFC 5321 asks to wait at least 5 minutes) or a NAT between
	// drops it.
	DefaultIdleTimeout = 30 * time.Second
	// DefaultMaxMessages retires a session after this many messages, so
	// that a relay behind a load balancer sees its load spread.
	DefaultMaxMessages = 500
	// DefaultMaxAge retires a session this long after it opened, so that a
	// changed DNS record or certificate is picked up.
	DefaultMaxAge = 5 * time.Minute
)

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
	// MaxConnections bounds the sessions open at once; 0 means
	// DefaultMaxConnections.
	MaxConnections int
	// IdleTimeout closes a session unused this long; 0 means
	// DefaultIdleTimeout.
	IdleTimeout time.Duration
	// MaxMessages retires a session after it has carried this many
	// messages; 0 means DefaultMaxMessages.
	MaxMessages int
	// MaxAge retires a session this long after it opened; 0 means
	// DefaultMaxAge.
	MaxAge time.Duration
	// Now reads the clock for the idle and age limits. Required.
	Now func() time.Time
}

// Sender sends email through one SMTP server. It is safe for concurrent
// use: its sends share a pool of sessions.
type Sender struct {
	host        string
	port        int
	implicitTLS bool // smtps: TLS from the first byte
	startTLS    bool // smtp: STARTTLS is required
	user, pass  string
	from        *mail.Address
	tlsConfig   *tls.Config
	pool        *pool // also holds the clock and the timeout (poolConfig)
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
	if cfg.Now == nil {
		return nil, errors.New("smtpmail: Now is nil; the sender needs a clock for its sessions' idle and age limits")
	}
	pc, err := poolLimits(cfg)
	if err != nil {
		return nil, err
	}
	pc.now = cfg.Now
	s.tlsConfig = tlsConfig(cfg.TLSConfig, s.host)
	s.pool = newPool(pc)
	return s, nil
}

// poolLimits reads the timeout and the session limits, putting the
// defaults in place of zeros.
func poolLimits(cfg Config) (poolConfig, error) {
	if cfg.Timeout < 0 || cfg.MaxConnections < 0 || cfg.IdleTimeout < 0 || cfg.MaxMessages < 0 || cfg.MaxAge < 0 {
		return poolConfig{}, fmt.Errorf("smtpmail: a limit is negative (timeout %s, %d connections, idle timeout %s, %d messages, age %s)",
			cfg.Timeout, cfg.MaxConnections, cfg.IdleTimeout, cfg.MaxMessages, cfg.MaxAge)
	}
	return poolConfig{
		timeout:     cmp.Or(cfg.Timeout, DefaultTimeout),
		max:         cmp.Or(cfg.MaxConnections, DefaultMaxConnections),
		idleTimeout: cmp.Or(cfg.IdleTimeout, DefaultIdleTimeout),
		maxMessages: cmp.Or(cfg.MaxMessages, DefaultMaxMessages),
		maxAge:      cmp.Or(cfg.MaxAge, DefaultMaxAge),
	}, nil
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

// Send delivers m over a pooled SMTP session. It ends early when ctx does:
// the session's connection is closed under it. Its errors do not repeat the
// provider's name, which the outbox worker adds.
func (s *Sender) Send(ctx context.Context, m latchkey.Message) error {
	msg, err := s.compose(m)
	if err != nil {
		return delivery.Permanent(fmt.Errorf("cannot build the message: %w", err))
	}
	err = s.deliver(ctx, msg)
	if err == nil {
		return nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		err = fmt.Errorf("%w: %w", ctxErr, err)
	}
	return s.classify(fmt.Errorf("server %s: %w", net.JoinHostPort(s.host, strconv.Itoa(s.port)), err))
}

// deliver sends msg over a session from the pool. A session that had
// carried messages before and turns out to have died while idle is
// replaced, and msg sent again: the server never started on it. A new
// session's failure is the message's, and so is the failure of the last
// idle session that the pool could hand out.
func (s *Sender) deliver(ctx context.Context, msg *gomail.Msg) error {
	for attempt := 1; ; attempt++ {
		c, reused, err := s.pool.get(ctx, s.dial)
		if err != nil {
			return err
		}
		err = c.mail.SendWithSMTPClient(c.smtp, msg)
		open := c.unbind()
		if err == nil && open {
			c.used++
			s.pool.put(c)
			return nil
		}
		s.pool.discard(c)
		if err == nil || msg.IsDelivered() {
			// The server accepted the message; a failed RSET, or a
			// context ending, after that must not make the outbox
			// send it twice.
			return nil
		}
		if !reused || !diedIdle(err) || ctx.Err() != nil || attempt > s.pool.max {
			return fmt.Errorf("send failed: %w", err)
		}
	}
}

// diedIdle reports whether err is a session's failure to start a message
// because the server had closed it: no reply, or 421 (closing the
// transmission channel), to the message's first command.
func diedIdle(err error) bool {
	var se *gomail.SendError
	if !errors.As(err, &se) || (se.Reason != gomail.ErrSMTPMailFrom && se.Reason != gomail.ErrConnCheck) {
		return false
	}
	code := se.ErrorCode()
	return code == 0 || code == 421
}

// Close ends the idle sessions with QUIT; a session in use ends when its
// message is done. The Sender remains usable, one session per message.
func (s *Sender) Close() error {
	s.pool.close()
	return nil
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

// clientOptions configures go-mail for one session. go-mail sends RSET
// after each message, so that the next starts from a clean state.
func (s *Sender) clientOptions(dial gomail.DialContextFunc) []gomail.Option {
	opts := []gomail.Option{
		gomail.WithPort(s.port),
		gomail.WithTimeout(s.pool.timeout),
		gomail.WithTLSConfig(s.tlsConfig),
		gomail.WithDialContextFunc(dial),
		// checkConn's NOOP before every message would cost a round
		// trip; a session that died while idle shows at MAIL instead.
		gomail.WithoutNoop(),
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

// dial opens a session: connects, greets, starts TLS and authenticates.
// The connection is bound to ctx from the start, since go-mail applies ctx
// to nothing but the dial, and it leaves the connection open when the
// greeting or STARTTLS fails.
func (s *Sender) dial(ctx context.Context) (*session, error) {
	c := &session{opened: s.pool.now()}
	c.lastUsed = c.opened
	dialConn := func(dialCtx context.Context, network, addr string) (net.Conn, error) {
		nc, err := s.dialConn(dialCtx, network, addr)
		if err != nil {
			return nil, err
		}
		c.nc = nc
		c.bind(ctx)
		return nc, nil
	}
	client, err := gomail.NewClient(s.host, s.clientOptions(dialConn)...)
	if err != nil {
		return nil, fmt.Errorf("go-mail client: %w", err)
	}
	c.mail = client
	if c.smtp, err = client.DialToSMTPClientWithContext(ctx); err != nil {
		c.abort()
		return nil, fmt.Errorf("dial failed: %w", err)
	}
	return c, nil
}

// dialConn connects to the server; dialCtx bounds the dial itself.
func (s *Sender) dialConn(dialCtx context.Context, network, addr string) (net.Conn, error) {
	if s.implicitTLS {
		d := &tls.Dialer{Config: s.tlsConfig}
		return d.DialContext(dialCtx, network, addr)
	}
	var d net.Dialer
	return d.DialContext(dialCtx, network, addr)
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
