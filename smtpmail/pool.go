package smtpmail

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
	gosmtp "github.com/wneessen/go-mail/smtp"
)

// quitTimeout bounds the QUIT that ends a healthy session, so that a server
// gone silent cannot hold up a shutdown.
const quitTimeout = 5 * time.Second

// session is one SMTP conversation, greeted, encrypted and authenticated,
// that carries message after message.
type session struct {
	mail *gomail.Client // go-mail's settings for the session
	smtp *gosmtp.Client // the conversation itself
	nc   net.Conn
	// stop unties the connection from the context of the Send using it;
	// it reports false when that context has already closed it.
	stop func() bool

	opened, lastUsed time.Time
	used             int // messages carried
	// gen counts the times the session went idle, so that an idle timer
	// from an earlier idle spell does not close it.
	gen   int
	timer *time.Timer
}

// bind closes the connection when ctx ends: go-mail applies a context only
// to dialing, and a Send must stop with its context.
func (c *session) bind(ctx context.Context) {
	nc := c.nc
	c.stop = context.AfterFunc(ctx, func() { _ = nc.Close() })
}

// unbind undoes bind. It reports whether the connection is still open,
// that is, whether the context did not end first.
func (c *session) unbind() bool {
	if c.stop == nil {
		return true
	}
	open := c.stop()
	c.stop = nil
	return open
}

// abort drops the connection without a word to the server: after an error
// nothing says the conversation is in a state to be ended politely.
func (c *session) abort() {
	c.unbind()
	if c.nc != nil {
		_ = c.nc.Close()
	}
}

// quit ends a healthy session with QUIT, then drops the connection
// whatever the answer.
func (c *session) quit(timeout time.Duration) {
	if c.smtp != nil && c.smtp.UpdateDeadline(min(timeout, quitTimeout)) == nil {
		_ = c.smtp.Quit()
	}
	c.abort()
}

// poolConfig sets the limits of a pool.
type poolConfig struct {
	max         int           // sessions open at once
	idleTimeout time.Duration // an idle session is closed after this long
	maxMessages int           // a session is retired after carrying this many
	maxAge      time.Duration // a session is retired this long after it opened
	timeout     time.Duration // bounds QUIT
	now         func() time.Time
}

// pool keeps the sessions of one Sender: at most max open at once, counting
// those being dialed and those being closed, and the idle ones ready for the
// next message.
type pool struct {
	poolConfig

	mu     sync.Mutex
	idle   []*session // the most recently used last
	open   int
	closed bool
	// freed is closed, and replaced, whenever a session goes idle or a
	// slot frees up, to wake the callers waiting for one.
	freed chan struct{}
}

func newPool(cfg poolConfig) *pool {
	return &pool{poolConfig: cfg, freed: make(chan struct{})}
}

// get returns a session bound to ctx, and whether it has carried messages
// before: an idle one when there is one, else one newly dialed with dial
// when fewer than max are open, else, once one frees up, either.
func (p *pool) get(ctx context.Context, dial func(context.Context) (*session, error)) (*session, bool, error) {
	for {
		c, slot, wait := p.take()
		switch {
		case c != nil:
			c.bind(ctx)
			return c, true, nil
		case slot:
			c, err := dial(ctx)
			if err != nil {
				p.release()
				return nil, false, err
			}
			return c, false, nil
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, false, fmt.Errorf("waiting for one of the %d sessions: %w", p.max, ctx.Err())
		}
	}
}

// take hands out the most recently used idle session that is still within
// its limits, closing the expired ones it finds, or reserves a slot for a
// new session, or else returns the channel to wait on.
func (p *pool) take() (c *session, slot bool, wait <-chan struct{}) {
	var expired []*session
	defer func() {
		for _, e := range expired {
			p.retire(e)
		}
	}()
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	for len(p.idle) > 0 {
		c := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		c.timer.Stop()
		if now.Sub(c.lastUsed) >= p.idleTimeout || p.old(c, now) {
			expired = append(expired, c)
			continue
		}
		return c, false, nil
	}
	if p.open < p.max {
		p.open++
		return nil, true, nil
	}
	return nil, false, p.freed
}

// old reports whether c has reached its limit of messages or of age.
func (p *pool) old(c *session, now time.Time) bool {
	return c.used >= p.maxMessages || now.Sub(c.opened) >= p.maxAge
}

// put takes back a session that has just carried a message: it goes idle,
// or, at its limits or once the pool is closed, is retired.
func (p *pool) put(c *session) {
	now := p.now()
	c.lastUsed = now
	p.mu.Lock()
	if p.closed || p.old(c, now) {
		p.mu.Unlock()
		p.retire(c)
		return
	}
	c.gen++
	gen := c.gen
	c.timer = time.AfterFunc(p.idleTimeout, func() { p.expire(c, gen) })
	p.idle = append(p.idle, c)
	p.wake()
	p.mu.Unlock()
}

// expire closes c if it is still idle since the spell that armed its timer.
func (p *pool) expire(c *session, gen int) {
	p.mu.Lock()
	i := slices.Index(p.idle, c)
	if i < 0 || c.gen != gen {
		p.mu.Unlock()
		return
	}
	p.idle = slices.Delete(p.idle, i, i+1)
	p.mu.Unlock()
	p.retire(c)
}

// retire ends a healthy session with QUIT and frees its slot.
func (p *pool) retire(c *session) {
	c.quit(p.timeout)
	p.release()
}

// discard drops a session after an error and frees its slot.
func (p *pool) discard(c *session) {
	c.abort()
	p.release()
}

// release frees the slot of a session that is closed or was never opened.
func (p *pool) release() {
	p.mu.Lock()
	p.open--
	p.wake()
	p.mu.Unlock()
}

// wake tells the waiting callers that something changed; p.mu is held.
func (p *pool) wake() {
	close(p.freed)
	p.freed = make(chan struct{})
}

// close retires the idle sessions, at once and in parallel, and makes every
// session in use retire when its message is done. Sends may go on, each on
// a session of its own.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	for _, c := range idle {
		c.timer.Stop()
	}
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range idle {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.retire(c)
		}()
	}
	wg.Wait()
}
