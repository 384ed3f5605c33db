package smtpmail_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/delivery"
	"github.com/latchkeyhq/latchkey/smtpmail"
)

const (
	sender   = "noreply@latchkey.test"
	user     = "mailer"
	password = "s3cr3t p@ss/word%"
)

// received is one message the test server accepted.
type received struct {
	from   string
	to     []string
	data   []byte
	tls    bool   // the session was encrypted
	authAs string // the user it authenticated as, if any
}

// backend is a go-smtp Backend that records what it is sent. Its fields
// are set before the server starts.
type backend struct {
	// user and pass, when set, make sessions offer AUTH PLAIN and refuse
	// MAIL FROM until the client has authenticated with them.
	user, pass string
	// authErr, when set, is the reply to a wrong password.
	authErr *smtp.SMTPError
	// rcptErr and dataErr, when set, are the replies to RCPT TO and to
	// the end of DATA.
	rcptErr, dataErr *smtp.SMTPError
	// rcptErrTo, when set, are the replies to RCPT TO of the addresses
	// it names.
	rcptErrTo map[string]*smtp.SMTPError
	// dataStarted and dataRelease, when set, stall DATA: the session
	// signals dataStarted, then waits for dataRelease to close.
	dataStarted chan struct{}
	dataRelease chan struct{}
	stallOnce   sync.Once // only the first DATA stalls
	// discard, when set, makes the server count messages, not keep them.
	discard bool

	mu    sync.Mutex
	mail  []received
	count int
}

func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	_, isTLS := c.TLSConnectionState()
	return &session{be: b, cur: received{tls: isTLS}, conn: c}, nil
}

func (b *backend) messages() []received {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]received(nil), b.mail...)
}

type session struct {
	be     *backend
	conn   *smtp.Conn
	cur    received
	authAs string
}

func (s *session) AuthMechanisms() []string {
	if s.be.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, pass string) error {
		if username != s.be.user || pass != s.be.pass {
			if s.be.authErr != nil {
				return s.be.authErr
			}
			return smtp.ErrAuthFailed
		}
		s.authAs = username
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.be.user != "" && s.authAs == "" {
		return smtp.ErrAuthRequired
	}
	s.cur.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.be.rcptErr != nil {
		return s.be.rcptErr
	}
	if err := s.be.rcptErrTo[to]; err != nil {
		return err
	}
	s.cur.to = append(s.cur.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.be.dataStarted != nil {
		s.be.stallOnce.Do(func() {
			close(s.be.dataStarted)
			<-s.be.dataRelease
		})
	}
	if s.be.dataErr != nil {
		return s.be.dataErr
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.cur.data, s.cur.tls, s.cur.authAs = data, isTLS, s.authAs
	s.be.mu.Lock()
	s.be.count++
	if !s.be.discard {
		s.be.mail = append(s.be.mail, s.cur)
	}
	s.be.mu.Unlock()
	return nil
}

func (s *session) Reset()        { s.cur = received{tls: s.cur.tls} }
func (s *session) Logout() error { return nil }

// serverOpts chooses how the test server speaks.
type serverOpts struct {
	startTLS    *tls.Config // offer STARTTLS with this configuration
	implicitTLS *tls.Config // speak TLS from the first byte (smtps)
	// hangUpAfterData drops each connection right after the server
	// accepts a message, before the client's RSET and QUIT.
	hangUpAfterData bool
	// conns, when set, records every connection and what the client said
	// on it (in clear text only, beneath any TLS).
	conns *connLog
}

// hangUpListener hands out connections that close themselves once the
// server has written its acceptance of a message.
type hangUpListener struct{ net.Listener }

func (l hangUpListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return hangUpConn{c}, nil
}

type hangUpConn struct{ net.Conn }

func (c hangUpConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if bytes.Contains(p, []byte("OK: queued")) { // go-smtp's reply to a message it accepted
		_ = c.Conn.Close()
	}
	return n, err
}

// startServer runs an SMTP server on loopback until the test ends and
// returns its host:port.
func startServer(t testing.TB, be *backend, o serverOpts) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if o.hangUpAfterData {
		l = hangUpListener{l}
	}
	if o.conns != nil {
		l = loggingListener{l, o.conns}
	}
	if o.implicitTLS != nil {
		l = tls.NewListener(l, o.implicitTLS)
	}
	srv := smtp.NewServer(be)
	srv.Domain = "localhost"
	srv.TLSConfig = o.startTLS
	srv.ErrorLog = log.New(io.Discard, "", 0)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(l)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		_ = l.Close()
		<-done
	})
	return addr
}

// testPKI is a self-signed certificate for 127.0.0.1 and localhost, and a
// pool that trusts it.
type testPKI struct {
	server *tls.Config
	roots  *x509.CertPool
}

func newPKI(t testing.TB) testPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "latchkey test SMTP"},
		NotBefore:             time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	return testPKI{
		server: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}},
		roots:  roots,
	}
}

var created = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

// fixedClock is a clock that stands still: no session idles or ages.
func fixedClock() time.Time { return created }

func emailMessage() latchkey.Message {
	return latchkey.Message{
		ID:        "msg_01HXYZ",
		AppID:     "app_1",
		Channel:   latchkey.ChannelEmail,
		To:        "alice@example.com",
		Subject:   "Your Acme code is 123456",
		Text:      "Your code is 123456.\n\nIt expires in 10 minutes. " + strings.Repeat("Long line. ", 12),
		HTML:      `<p>Your code is <b>123456</b>.</p><p style="color:#4f46e5">It expires in 10 minutes.</p>`,
		From:      "Acme",
		CreatedAt: created,
	}
}

func newSender(t testing.TB, cfg smtpmail.Config) *smtpmail.Sender {
	t.Helper()
	if cfg.From == "" {
		cfg.From = "Latchkey <" + sender + ">"
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 20 * time.Second // a safety net; no test waits for it
	}
	if cfg.Now == nil {
		cfg.Now = fixedClock
	}
	s, err := smtpmail.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// parsed is a received message read back with net/mail and mime/multipart.
type parsed struct {
	header mail.Header
	from   *mail.Address
	to     []*mail.Address
	subj   string
	parts  map[string]string // media type -> decoded body
	order  []string          // media types in order
}

func parse(t *testing.T, data []byte) parsed {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("read message: %v\n%s", err, data)
	}
	p := parsed{header: msg.Header, parts: map[string]string{}}
	if p.from, err = mail.ParseAddress(msg.Header.Get("From")); err != nil {
		t.Fatalf("From %q: %v", msg.Header.Get("From"), err)
	}
	if p.to, err = msg.Header.AddressList("To"); err != nil {
		t.Fatalf("To %q: %v", msg.Header.Get("To"), err)
	}
	if p.subj, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err != nil {
		t.Fatalf("Subject %q: %v", msg.Header.Get("Subject"), err)
	}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("Content-Type: %v", err)
	}
	if mediaType != "multipart/alternative" {
		t.Fatalf("Content-Type is %q, want multipart/alternative", mediaType)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("next part: %v", err)
		}
		pt, _, err := mime.ParseMediaType(part.Header.Get("Content-Type"))
		if err != nil {
			t.Fatalf("part Content-Type: %v", err)
		}
		// multipart decodes quoted-printable itself; base64 is on us.
		var body io.Reader = part
		if strings.EqualFold(part.Header.Get("Content-Transfer-Encoding"), "base64") {
			body = base64.NewDecoder(base64.StdEncoding, part)
		}
		b, err := io.ReadAll(body)
		if err != nil {
			t.Fatalf("read part: %v", err)
		}
		// Text travels with CRLF line breaks (MIME's canonical form);
		// a mail client shows them as the newlines of the original.
		p.parts[pt] = strings.ReplaceAll(string(b), "\r\n", "\n")
		p.order = append(p.order, pt)
	}
	return p
}

func onlyMessage(t *testing.T, be *backend) received {
	t.Helper()
	got := be.messages()
	if len(got) != 1 {
		t.Fatalf("server received %d messages, want 1", len(got))
	}
	return got[0]
}

func TestName(t *testing.T) {
	s := newSender(t, smtpmail.Config{URL: "smtp://127.0.0.1:25?starttls=off"})
	if s.Name() != "smtp" {
		t.Errorf("Name() = %q, want smtp", s.Name())
	}
}

func TestSendPlain(t *testing.T) {
	be := &backend{}
	addr := startServer(t, be, serverOpts{})
	s := newSender(t, smtpmail.Config{URL: "smtp://" + addr + "?starttls=off"})
	m := emailMessage()
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := onlyMessage(t, be)
	if got.from != sender {
		t.Errorf("MAIL FROM %q, want %q", got.from, sender)
	}
	if len(got.to) != 1 || got.to[0] != m.To {
		t.Errorf("RCPT TO %q, want [%q]", got.to, m.To)
	}
	if got.tls {
		t.Error("the session was encrypted, but starttls=off")
	}
	p := parse(t, got.data)
	if p.from.Name != "Acme" || p.from.Address != sender {
		t.Errorf("From = %q <%s>, want \"Acme\" <%s>", p.from.Name, p.from.Address, sender)
	}
	if len(p.to) != 1 || p.to[0].Address != m.To {
		t.Errorf("To = %v, want %s", p.to, m.To)
	}
	if p.subj != m.Subject {
		t.Errorf("Subject = %q, want %q", p.subj, m.Subject)
	}
	if want := []string{"text/plain", "text/html"}; strings.Join(p.order, ",") != strings.Join(want, ",") {
		t.Errorf("parts %v, want %v (plain first, so clients prefer the HTML)", p.order, want)
	}
	if p.parts["text/plain"] != m.Text {
		t.Errorf("text part = %q, want %q", p.parts["text/plain"], m.Text)
	}
	if p.parts["text/html"] != m.HTML {
		t.Errorf("html part = %q, want %q", p.parts["text/html"], m.HTML)
	}
	if id := p.header.Get("Message-ID"); id != "<msg_01HXYZ@latchkey.test>" {
		t.Errorf("Message-ID = %q, want <msg_01HXYZ@latchkey.test>", id)
	}
	if date, err := p.header.Date(); err != nil || !date.Equal(created) {
		t.Errorf("Date = %v (%v), want %v", date, err, created)
	}
}

func TestSendUsesConfiguredNameWhenMessageHasNone(t *testing.T) {
	be := &backend{}
	addr := startServer(t, be, serverOpts{})
	s := newSender(t, smtpmail.Config{URL: "smtp://" + addr + "?starttls=off", From: "Zoë's Café <" + sender + ">"})
	m := emailMessage()
	m.From = ""
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	p := parse(t, onlyMessage(t, be).data)
	if p.from.Name != "Zoë's Café" || p.from.Address != sender {
		t.Errorf("From = %q <%s>, want \"Zoë's Café\" <%s>", p.from.Name, p.from.Address, sender)
	}
}

func TestSendNonASCIISubject(t *testing.T) {
	be := &backend{}
	addr := startServer(t, be, serverOpts{})
	s := newSender(t, smtpmail.Config{URL: "smtp://" + addr + "?starttls=off"})
	m := emailMessage()
	m.Subject = "Ваш код входа: 123456 — ✓ Ünïcödé 🔑"
	m.From = "Café Ωmega"
	m.Text = "Код: 123456"
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := onlyMessage(t, be)
	raw, _, _ := bytes.Cut(got.data, []byte("\r\n\r\n"))
	for _, b := range raw {
		if b >= 0x80 {
			t.Fatalf("the header has raw 8-bit bytes; it should be encoded:\n%s", raw)
		}
	}
	p := parse(t, got.data)
	if p.subj != m.Subject {
		t.Errorf("Subject = %q, want %q", p.subj, m.Subject)
	}
	if p.from.Name != m.From {
		t.Errorf("From name = %q, want %q", p.from.Name, m.From)
	}
	if p.parts["text/plain"] != m.Text {
		t.Errorf("text part = %q, want %q", p.parts["text/plain"], m.Text)
	}
}

func TestSendSTARTTLS(t *testing.T) {
	pki := newPKI(t)
	be := &backend{}
	addr := startServer(t, be, serverOpts{startTLS: pki.server})
	s := newSender(t, smtpmail.Config{URL: "smtp://" + addr, TLSConfig: &tls.Config{RootCAs: pki.roots}})
	if err := s.Send(context.Background(), emailMessage()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got := onlyMessage(t, be); !got.tls {
		t.Error("the message went over an unencrypted session")
	}
}

func TestSendSTARTTLSRejectsUntrustedCertificate(t *testing.T) {
	pki := newPKI(t)
	be := &backend{}
	addr := startServer(t, be, serverOpts{startTLS: pki.server})
	s := newSender(t, smtpmail.Config{URL: "smtp://" + addr}) // system roots only
	err := s.Send(context.Background(), emailMessage())
	if err == nil {
		t.Fatal("Send trusted a self-signed certificate")
	}
	if delivery.IsPermanent(err) {
		t.Errorf("a TLS failure is not the message's fault, but was permanent: %v", err)
	}
	if n := len(be.messages()); n != 0 {
		t.Errorf("server received %d messages", n)
	}
}

func TestSendRequiresSTARTTLSByDefault(t *testing.T) {
	be := &backend{}
	addr := startServer(t, be, serverOpts{}) // offers no STARTTLS
	s := newSender(t, smtpmail.Config{URL: "smtp://" + addr})
	err := s.Send(context.Background(), emailMessage())
	if err == nil {
		t.Fatal("Send went ahead without STARTTLS")
	}
	if !strings.Contains(err.Error(), "STARTTLS") {
		t.Errorf("the error should say STARTTLS is missing: %v", err)
	}
	if n := len(be.messages()); n != 0 {
		t.Errorf("server received %d messages in clear text", n)
	}
}

func TestSendImplicitTLS(t *testing.T) {
	pki := newPKI(t)
	be := &backend{user: user, pass: password}
	addr := startServer(t, be, serverOpts{implicitTLS: pki.server})
	u := url.URL{Scheme: "smtps", User: url.UserPassword(user, password), Host: addr}
	s := newSender(t, smtpmail.Config{URL: u.String(), TLSConfig: &tls.Config{RootCAs: pki.roots}})
	if err := s.Send(context.Background(), emailMessage()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := onlyMessage(t, be)
	if !got.tls || got.authAs != user {
		t.Errorf("tls=%v authAs=%q, want an encrypted session authenticated as %q", got.tls, got.authAs, user)
	}
}

func TestSendAuthPlain(t *testing.T) {
	pki := newPKI(t)
	be := &backend{user: user, pass: password}
	addr := startServer(t, be, serverOpts{startTLS: pki.server})
	u := url.URL{Scheme: "smtp", User: url.UserPassword(user, password), Host: addr}
	s := newSender(t, smtpmail.Config{URL: u.String(), TLSConfig: &tls.Config{RootCAs: pki.roots}})
	if err := s.Send(context.Background(), emailMessage()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := onlyMessage(t, be)
	if got.authAs != user || !got.tls {
		t.Errorf("authAs=%q tls=%v, want %q over TLS", got.authAs, got.tls, user)
	}
}

func TestSendAuthWrongPassword(t *testing.T) {
	pki := newPKI(t)
	be := &backend{user: user, pass: "the-right-one"}
	addr := startServer(t, be, serverOpts{startTLS: pki.server})
	u := url.URL{Scheme: "smtp", User: url.UserPassword(user, password), Host: addr}
	s := newSender(t, smtpmail.Config{URL: u.String(), TLSConfig: &tls.Config{RootCAs: pki.roots}})
	err := s.Send(context.Background(), emailMessage())
	if err == nil {
		t.Fatal("Send succeeded with a wrong password")
	}
	if strings.Contains(err.Error(), password) {
		t.Errorf("the error contains the password: %v", err)
	}
	if !strings.Contains(err.Error(), "535") {
		t.Errorf("the error should carry the server's 535 reply: %v", err)
	}
	if !delivery.IsPermanent(err) {
		t.Errorf("a 5xx reply should be permanent: %v", err)
	}
	if n := len(be.messages()); n != 0 {
		t.Errorf("server received %d messages", n)
	}
}

func TestSendRedactsPasswordEchoedByServer(t *testing.T) {
	pki := newPKI(t)
	be := &backend{user: user, pass: "the-right-one",
		authErr: &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "bad credentials " + password}}
	addr := startServer(t, be, serverOpts{startTLS: pki.server})
	u := url.URL{Scheme: "smtp", User: url.UserPassword(user, password), Host: addr}
	s := newSender(t, smtpmail.Config{URL: u.String(), TLSConfig: &tls.Config{RootCAs: pki.roots}})
	err := s.Send(context.Background(), emailMessage())
	if err == nil {
		t.Fatal("Send succeeded with a wrong password")
	}
	if strings.Contains(err.Error(), password) {
		t.Errorf("the error repeats the password the server echoed: %v", err)
	}
	if !strings.Contains(err.Error(), "bad credentials [redacted]") {
		t.Errorf("the error should keep the rest of the reply: %v", err)
	}
	if !delivery.IsPermanent(err) {
		t.Errorf("redaction lost the permanence of a 535: %v", err)
	}
}

func TestSendReplyClassification(t *testing.T) {
	tests := []struct {
		name      string
		be        *backend
		permanent bool
		code      string
	}{
		{"550 to RCPT", &backend{rcptErr: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "mailbox unavailable"}}, true, "550"},
		{"553 to RCPT", &backend{rcptErr: &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 1, 3}, Message: "bad destination address syntax"}}, true, "553"},
		{"451 to RCPT", &backend{rcptErr: &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}}, false, "451"},
		{"554 to DATA", &backend{dataErr: &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "message rejected as spam"}}, true, "554"},
		{"452 to DATA", &backend{dataErr: &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 3, 1}, Message: "insufficient storage"}}, false, "452"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := startServer(t, tt.be, serverOpts{})
			s := newSender(t, smtpmail.Config{URL: "smtp://" + addr + "?starttls=off"})
			err := s.Send(context.Background(), emailMessage())
			if err == nil {
				t.Fatal("Send succeeded")
			}
			if got := delivery.IsPermanent(err); got != tt.permanent {
				t.Errorf("IsPermanent = %v, want %v: %v", got, tt.permanent, err)
			}
			if !strings.Contains(err.Error(), tt.code) {
				t.Errorf("the error should carry the reply %s: %v", tt.code, err)
			}
			if n := len(tt.be.messages()); n != 0 {
				t.Errorf("server kept %d messages", n)
			}
		})
	}
}

func TestSendSucceedsWhenServerHangsUpAfterAccepting(t *testing.T) {
	be := &backend{}
	addr := startServer(t, be, serverOpts{hangUpAfterData: true})
	s := newSender(t, smtpmail.Config{URL: "smtp://" + addr + "?starttls=off"})
	// The message is accepted; a failure to end the session cleanly must
	// not make the outbox send it again.
	if err := s.Send(context.Background(), emailMessage()); err != nil {
		t.Fatalf("Send = %v, want success once the server accepted the message", err)
	}
	onlyMessage(t, be)
}

func TestSendConnectionRefusedIsTemporary(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	s := newSender(t, smtpmail.Config{URL: "smtp://" + addr + "?starttls=off"})
	err = s.Send(context.Background(), emailMessage())
	if err == nil {
		t.Fatal("Send to a closed port succeeded")
	}
	if delivery.IsPermanent(err) {
		t.Errorf("a refused connection should be retried: %v", err)
	}
}

func TestSendStopsWhenContextEnds(t *testing.T) {
	be := &backend{dataStarted: make(chan struct{}), dataRelease: make(chan struct{})}
	addr := startServer(t, be, serverOpts{})
	t.Cleanup(func() { close(be.dataRelease) }) // runs before the server closes
	// Timeout is a backstop: were Send deaf to ctx, it would end in an
	// i/o timeout instead, which the test rejects.
	s := newSender(t, smtpmail.Config{URL: "smtp://" + addr + "?starttls=off", Timeout: 10 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-be.dataStarted
		cancel()
	}()
	err := s.Send(ctx, emailMessage())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Send = %v, want context.Canceled", err)
	}
	if strings.Contains(err.Error(), "i/o timeout") {
		t.Errorf("Send waited for its own timeout instead of stopping with ctx: %v", err)
	}
	if delivery.IsPermanent(err) {
		t.Errorf("a cancelled send should be retried: %v", err)
	}
}

func TestSendRejectsBadMessages(t *testing.T) {
	be := &backend{}
	addr := startServer(t, be, serverOpts{})
	s := newSender(t, smtpmail.Config{URL: "smtp://" + addr + "?starttls=off"})
	sms := emailMessage()
	sms.Channel, sms.To = latchkey.ChannelSMS, "+15555550100"
	badTo := emailMessage()
	badTo.To = "not an address"
	for name, m := range map[string]latchkey.Message{"sms": sms, "bad recipient": badTo} {
		err := s.Send(context.Background(), m)
		if err == nil || !delivery.IsPermanent(err) {
			t.Errorf("%s: Send = %v, want a permanent error", name, err)
		}
	}
	if n := len(be.messages()); n != 0 {
		t.Errorf("server received %d messages", n)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  smtpmail.Config
		want string // a fragment of the error
	}{
		{"empty URL", smtpmail.Config{}, "URL is empty"},
		{"wrong scheme", smtpmail.Config{URL: "http://mail.example.com:587"}, `scheme "http"`},
		{"no scheme", smtpmail.Config{URL: "mail.example.com:587"}, "scheme"},
		{"no host", smtpmail.Config{URL: "smtp://:587"}, "no host"},
		{"no port", smtpmail.Config{URL: "smtp://mail.example.com"}, "no port"},
		{"bad port", smtpmail.Config{URL: "smtp://mail.example.com:70000"}, "port"},
		{"path", smtpmail.Config{URL: "smtp://mail.example.com:587/x"}, "no path"},
		{"unknown option", smtpmail.Config{URL: "smtp://mail.example.com:587?startls=off"}, `unknown option "startls"`},
		{"bad starttls", smtpmail.Config{URL: "smtp://mail.example.com:587?starttls=maybe"}, "starttls"},
		{"starttls on smtps", smtpmail.Config{URL: "smtps://mail.example.com:465?starttls=off"}, "smtps"},
		{"user without password", smtpmail.Config{URL: "smtp://mailer@mail.example.com:587"}, "user and a password"},
		{"password in clear text", smtpmail.Config{URL: "smtp://mailer:" + url.QueryEscape(password) + "@mail.example.com:25?starttls=off"}, "clear text"},
		{"unparsable URL", smtpmail.Config{URL: "smtp://mailer:" + password + "@mail.example.com:5 87"}, "not valid"},
		{"bad sender", smtpmail.Config{URL: "smtp://mail.example.com:587", From: "Latchkey"}, "sender"},
		{"negative timeout", smtpmail.Config{URL: "smtp://mail.example.com:587", Timeout: -time.Second}, "negative"},
		{"negative connections", smtpmail.Config{URL: "smtp://mail.example.com:587", MaxConnections: -1}, "negative"},
		{"no clock", smtpmail.Config{URL: "smtp://mail.example.com:587", Now: nil}, "Now is nil"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.cfg.From == "" {
				tt.cfg.From = sender
			}
			if tt.name != "no clock" {
				tt.cfg.Now = fixedClock
			}
			_, err := smtpmail.New(tt.cfg)
			if err == nil {
				t.Fatal("New accepted it")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
			for _, secret := range []string{password, url.QueryEscape(password), "p@ss"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q contains the password", err)
				}
			}
		})
	}
	if _, err := smtpmail.New(smtpmail.Config{URL: "smtp://mail.example.com:587", Now: fixedClock}); err == nil {
		t.Error("New accepted an empty sender")
	}
}

func TestNewAcceptsGoodConfig(t *testing.T) {
	for _, raw := range []string{
		"smtp://mail.example.com:587",
		"smtp://mail.example.com:587?starttls=on",
		"smtp://127.0.0.1:25?starttls=off",
		"smtp://" + url.UserPassword(user, password).String() + "@localhost:25?starttls=off",
		"smtps://" + url.UserPassword(user, password).String() + "@mail.example.com:465",
		"smtp://[::1]:2525?starttls=off",
	} {
		if _, err := smtpmail.New(smtpmail.Config{URL: raw, From: "Latchkey <" + sender + ">", Now: fixedClock}); err != nil {
			t.Errorf("New(%s): %v", raw, err)
		}
	}
}

func Example() {
	s, err := smtpmail.New(smtpmail.Config{
		URL:  "smtp://mailer:secret@mail.example.com:587",
		From: "Example Login <login@example.com>",
		Now:  time.Now,
	})
	fmt.Println(s.Name(), err)
	// Output: smtp <nil>
}
