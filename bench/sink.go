package bench

import (
	"bytes"
	"container/list"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
)

// DefaultSinkCapacity is how many delivered messages a sink keeps for
// recipients nobody awaits yet; past it the oldest are dropped (and
// counted), so a sink that receives mail nobody reads stays bounded.
const DefaultSinkCapacity = 10000

// maxSinkMessage bounds one message a sink accepts; a login email is a few
// KiB.
const maxSinkMessage = 1 << 20

// Delivered is a message as it arrived at a sink.
type Delivered struct {
	// To is the recipient: the envelope address of an email (lower case),
	// the To number of an SMS.
	To string
	// Text is the plain-text body of an email (its text/plain part,
	// decoded), or an SMS's body.
	Text string
	// Arrived is when the sink had the whole message, by the sink's clock
	// (see WithClock); zero without one.
	Arrived time.Time
}

// SinkOption configures a sink.
type SinkOption func(*sinkConfig)

type sinkConfig struct {
	now      func() time.Time
	capacity int
}

// WithClock gives a sink the clock that stamps Delivered.Arrived. Without
// it Arrived is zero: the package never reads the wall clock itself.
func WithClock(now func() time.Time) SinkOption {
	return func(c *sinkConfig) { c.now = now }
}

// WithCapacity sets how many messages nobody awaits yet a sink keeps
// (DefaultSinkCapacity when not positive).
func WithCapacity(n int) SinkOption {
	return func(c *sinkConfig) { c.capacity = n }
}

func newSinkConfig(opts []SinkOption) sinkConfig {
	c := sinkConfig{capacity: DefaultSinkCapacity}
	for _, o := range opts {
		o(&c)
	}
	if c.capacity <= 0 {
		c.capacity = DefaultSinkCapacity
	}
	return c
}

func (c sinkConfig) stamp() time.Time {
	if c.now == nil {
		return time.Time{}
	}
	return c.now()
}

// SMTPSink is a loopback SMTP server that accepts every message, keeps its
// plain text per recipient and hands it to whoever awaits that recipient:
// what a user's mailbox is to the bench. It speaks SMTP through go-smtp and
// reads messages with net/mail and mime, as a mail client would.
type SMTPSink struct {
	cfg   sinkConfig
	l     *countingListener
	srv   *smtp.Server
	box   *mailbox
	done  chan struct{}
	bad   atomic.Int64 // messages that could not be read
	close sync.Once
}

// StartSMTPSink listens on addr ("127.0.0.1:0" picks a free port) and serves
// SMTP until Close. It offers no TLS and no authentication: point Latchkey
// at it with LATCHKEY_SMTP_URL=smtp://ADDR?starttls=off. Without WithClock
// the messages' Arrived is zero.
func StartSMTPSink(addr string, opts ...SinkOption) (*SMTPSink, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("bench: SMTP sink: %w", err)
	}
	s := &SMTPSink{cfg: newSinkConfig(opts), l: &countingListener{Listener: l}, done: make(chan struct{})}
	s.box = newMailbox(s.cfg.capacity)
	s.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &sinkSession{s: s}, nil
	}))
	s.srv.Domain = "localhost"
	s.srv.MaxMessageBytes = maxSinkMessage
	s.srv.MaxRecipients = 100
	s.srv.ErrorLog = log.New(io.Discard, "", 0)
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(s.l)
	}()
	return s, nil
}

// Addr is the sink's host:port.
func (s *SMTPSink) Addr() string { return s.l.Addr().String() }

// Await returns the oldest message to `to` (an email address, matched
// without regard to case) that no Await has returned yet, waiting for one
// to arrive until ctx ends.
func (s *SMTPSink) Await(ctx context.Context, to string) (Delivered, error) {
	return s.box.await(ctx, emailKey(to))
}

// Connections is the number of SMTP connections the sink has accepted.
func (s *SMTPSink) Connections() int64 { return s.l.accepted.Load() }

// Received is the number of messages the sink has accepted, counted once
// per recipient.
func (s *SMTPSink) Received() int64 { return s.box.received.Load() }

// Dropped is the number of messages dropped unread because the sink held
// its capacity of messages nobody awaited.
func (s *SMTPSink) Dropped() int64 { return s.box.dropped.Load() }

// Unreadable is the number of messages accepted whose plain text could not
// be read (they are answered with an error and not kept).
func (s *SMTPSink) Unreadable() int64 { return s.bad.Load() }

// Close stops the server and closes its connections; pending Awaits go on
// until their contexts end.
func (s *SMTPSink) Close() error {
	err := net.ErrClosed
	s.close.Do(func() {
		err = s.srv.Close()
		// go-smtp closes only the listeners Serve has registered: a sink
		// closed before its Serve goroutine ran would accept forever.
		_ = s.l.Close()
		<-s.done
	})
	return err
}

// emailKey is the mailbox key of an email address: addresses differ in case
// only in theory, and Latchkey may send in any case the user was created
// with.
func emailKey(addr string) string { return strings.ToLower(strings.TrimSpace(addr)) }

// countingListener counts accepted connections.
type countingListener struct {
	net.Listener
	accepted atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}

// sinkSession is one SMTP connection's transaction state.
type sinkSession struct {
	s  *SMTPSink
	to []string
}

func (x *sinkSession) Mail(string, *smtp.MailOptions) error { return nil }

func (x *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.to = append(x.to, emailKey(to))
	return nil
}

func (x *sinkSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	arrived := x.s.cfg.stamp()
	text, err := PlainText(raw)
	if err != nil {
		x.s.bad.Add(1)
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "unreadable message: " + err.Error()}
	}
	for _, to := range x.to {
		x.s.box.deliver(Delivered{To: to, Text: text, Arrived: arrived})
	}
	return nil
}

func (x *sinkSession) Reset()        { x.to = x.to[:0] }
func (x *sinkSession) Logout() error { return nil }

// PlainText returns the plain-text body of a raw email: the message itself
// when it is text/plain, else the first text/plain part of its multipart
// tree (multipart/alternative, as Latchkey sends, or nested in
// multipart/mixed), with its transfer encoding (quoted-printable, base64)
// undone. A message with no text/plain part gives the text of its first
// text/html part instead (Supabase Auth sends HTML only).
func PlainText(raw []byte) (string, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return "", fmt.Errorf("parse the message: %w", err)
	}
	text, ok, err := plainPart(textproto.MIMEHeader(msg.Header), msg.Body, 0)
	if err != nil {
		return "", err
	}
	if !ok {
		return htmlText(raw)
	}
	return text, nil
}

// maxMIMEDepth bounds multipart nesting.
const maxMIMEDepth = 8

// plainPart finds the first text/plain entity in h and body.
func plainPart(h textproto.MIMEHeader, body io.Reader, depth int) (string, bool, error) {
	ct := h.Get("Content-Type")
	if ct == "" {
		ct = "text/plain"
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return "", false, fmt.Errorf("parse the content type %q: %w", ct, err)
	}
	switch {
	case mt == "text/plain":
		text, err := io.ReadAll(decodeTransfer(h.Get("Content-Transfer-Encoding"), body))
		if err != nil {
			return "", false, fmt.Errorf("decode the text: %w", err)
		}
		return string(text), true, nil
	case strings.HasPrefix(mt, "multipart/") && depth < maxMIMEDepth:
		return plainInMultipart(multipart.NewReader(body, params["boundary"]), depth)
	}
	return "", false, nil
}

// plainInMultipart looks for a text/plain entity among a multipart's parts.
func plainInMultipart(mr *multipart.Reader, depth int) (string, bool, error) {
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			return "", false, nil
		}
		if err != nil {
			return "", false, fmt.Errorf("read a MIME part: %w", err)
		}
		text, ok, err := plainPart(p.Header, p, depth+1)
		if err != nil || ok {
			return text, ok, err
		}
	}
}

// decodeTransfer undoes a Content-Transfer-Encoding.
func decodeTransfer(enc string, r io.Reader) io.Reader {
	switch strings.ToLower(strings.TrimSpace(enc)) {
	case "quoted-printable":
		return quotedprintable.NewReader(r)
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, r) // skips line breaks
	}
	return r
}

// FindCode returns the passcode in a message's text: the first group of
// exactly six digits standing alone, else the first of four to eight (an
// app may set another length).
func FindCode(text string) string {
	fallback := ""
	for i := 0; i < len(text); {
		if text[i] < '0' || text[i] > '9' {
			i++
			continue
		}
		j := i
		for j < len(text) && text[j] >= '0' && text[j] <= '9' {
			j++
		}
		if n := j - i; n == 6 {
			return text[i:j]
		} else if n >= 4 && n <= 8 && fallback == "" {
			fallback = text[i:j]
		}
		i = j
	}
	return fallback
}

// mailbox keeps delivered messages per recipient, first in first out, and
// hands each to one awaiter. Messages nobody awaits are kept up to a
// capacity, past which the oldest is dropped.
type mailbox struct {
	mu       sync.Mutex
	capacity int
	all      *list.List // every kept *kept message, oldest first
	by       map[string]*rcptQueue
	received atomic.Int64
	dropped  atomic.Int64
}

// kept is a message in the mailbox.
type kept struct{ d Delivered }

// rcptQueue is one recipient's kept messages (elements of mailbox.all, in
// order) and the awaiters waiting for the next one, in order.
type rcptQueue struct {
	msgs    []*list.Element
	waiters []chan Delivered
}

func newMailbox(capacity int) *mailbox {
	return &mailbox{capacity: capacity, all: list.New(), by: map[string]*rcptQueue{}}
}

// deliver hands d to the recipient's first awaiter, or keeps it.
func (b *mailbox) deliver(d Delivered) {
	b.received.Add(1)
	b.mu.Lock()
	defer b.mu.Unlock()
	q := b.by[d.To]
	if q == nil {
		q = &rcptQueue{}
		b.by[d.To] = q
	}
	if len(q.waiters) > 0 {
		w := q.waiters[0]
		q.waiters = q.waiters[1:]
		w <- d // buffered, one value each
		b.forget(d.To, q)
		return
	}
	q.msgs = append(q.msgs, b.all.PushBack(&kept{d}))
	for b.all.Len() > b.capacity {
		b.dropOldest()
	}
}

// dropOldest drops the oldest kept message, which is the first of its
// recipient's queue.
func (b *mailbox) dropOldest() {
	e := b.all.Front()
	to := e.Value.(*kept).d.To
	q := b.by[to]
	q.msgs = q.msgs[1:]
	b.all.Remove(e)
	b.dropped.Add(1)
	b.forget(to, q)
}

// forget removes an empty queue, so that the map holds only recipients
// with messages or awaiters.
func (b *mailbox) forget(to string, q *rcptQueue) {
	if len(q.msgs) == 0 && len(q.waiters) == 0 {
		delete(b.by, to)
	}
}

// await returns the recipient's oldest kept message, or waits for the next.
func (b *mailbox) await(ctx context.Context, to string) (Delivered, error) {
	b.mu.Lock()
	q := b.by[to]
	if q != nil && len(q.msgs) > 0 {
		e := q.msgs[0]
		q.msgs = q.msgs[1:]
		b.all.Remove(e)
		b.forget(to, q)
		b.mu.Unlock()
		return e.Value.(*kept).d, nil
	}
	if q == nil {
		q = &rcptQueue{}
		b.by[to] = q
	}
	w := make(chan Delivered, 1)
	q.waiters = append(q.waiters, w)
	b.mu.Unlock()
	select {
	case d := <-w:
		return d, nil
	case <-ctx.Done():
		return b.abandon(to, w, ctx.Err())
	}
}

// abandon withdraws an awaiter whose context ended. A message handed to it
// meanwhile goes back to the front of the recipient's queue, so none is
// lost.
func (b *mailbox) abandon(to string, w chan Delivered, err error) (Delivered, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	q := b.by[to]
	if q == nil {
		q = &rcptQueue{}
		b.by[to] = q
	}
	for i, x := range q.waiters {
		if x == w {
			q.waiters = append(q.waiters[:i:i], q.waiters[i+1:]...)
			break
		}
	}
	select {
	case d := <-w:
		e := b.all.PushFront(&kept{d})
		q.msgs = append([]*list.Element{e}, q.msgs...)
	default:
	}
	b.forget(to, q)
	return Delivered{}, err
}
