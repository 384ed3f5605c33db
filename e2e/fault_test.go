package e2e

import (
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// proxy forwards TCP connections to PostgreSQL and can cut them all, as a
// database failover or a network partition would, or swallow every byte in
// both directions without closing anything, as a stalled server or a
// half-open path would (a black hole).
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	down   atomic.Bool
	hole   atomic.Bool
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.cut() })
	return p
}

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if p.down.Load() {
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go p.pipe(up, c)
		go p.pipe(c, up)
	}
}

// pipe copies src to dst until either ends, dropping what it reads while
// the black hole is on.
func (p *proxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.hole.Load() {
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// blackHole swallows every byte in both directions, on open connections
// and new ones, until it is called with false; nothing is closed.
func (p *proxy) blackHole(on bool) { p.hole.Store(on) }

// cut closes every connection and refuses new ones until restore.
func (p *proxy) cut() {
	p.down.Store(true)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *proxy) restore() { p.down.Store(false) }

// TestDatabaseOutage cuts the node's connection to PostgreSQL in the middle
// of traffic: requests fail cleanly (503 with a JSON message) while it is
// away, /readyz says so, nothing acknowledged is lost, and the node recovers
// by itself when the database is back.
func TestDatabaseOutage(t *testing.T) {
	c := newCluster(t)
	p, proxied := newProxiedURL(t, c.dbURL)
	cr := c.createApp(c.dbURL)
	n := c.start(proxied)
	cl := newClient(t)
	cl.token = cl.clientToken(n.url, cr)
	tr := startTraffic(t, cl, n, 4)

	// Traffic flows, then the database goes away: /readyz says so and
	// requests see the outage.
	eventually(t, "sends acknowledged before the outage", func() bool { return tr.ackedCount() > 0 })
	p.cut()
	eventually(t, "/readyz answering 503 during the outage", func() bool { return readyStatus(http.DefaultClient, n.url) == http.StatusServiceUnavailable })
	eventually(t, "a request answered 503 during the outage", func() bool { return tr.count(http.StatusServiceUnavailable) > 0 })
	// The database comes back: the node recovers by itself and traffic is
	// acknowledged again.
	p.restore()
	recovered(t, tr, n)
	if bad := tr.unclean(); len(bad) > 0 {
		t.Fatalf("during the outage some answers were not a clean 503 with a message: %v", bad[:min(len(bad), 5)])
	}
	tr.checkAcked(t)
	t.Logf("statuses during the run: %v; %d acknowledged codes all authenticated", tr.statuses(), len(tr.acked))
}

// TestDatabaseBlackHole makes PostgreSQL go silent without closing
// anything for 10 s while requests run, as a stalled server, a stuck
// PgBouncer or a half-open path would: every request still gets an answer,
// a clean 503 once its database deadline (LATCHKEY_DB_TIMEOUT, 2 s here)
// passes, /readyz answers 503 instead of hanging, nothing acknowledged is
// lost, and the node recovers by itself when the bytes flow again.
func TestDatabaseBlackHole(t *testing.T) {
	c := newCluster(t)
	c.env = append(c.env, "LATCHKEY_DB_TIMEOUT=2s")
	p, proxied := newProxiedURL(t, c.dbURL)
	cr := c.createApp(c.dbURL)
	n := c.start(proxied)
	cl := newClient(t)
	cl.token = cl.clientToken(n.url, cr)
	// The bound on an answer is generous: a request makes a few database
	// calls, each bounded by 2 s, on a machine that may be busy. Without
	// deadlines, requests would wait for as long as the hole lasts.
	const answerBound = 20 * time.Second
	cl.http.Timeout = answerBound
	tr := startTraffic(t, cl, n, 4)
	eventually(t, "sends acknowledged before the black hole", func() bool { return tr.ackedCount() > 0 })

	p.blackHole(true)
	holeStart := time.Now()
	probes := probeReadiness(n.url, answerBound, 10*time.Second)
	p.blackHole(false)
	holeEnd := time.Now()

	for _, status := range probes {
		if status != http.StatusServiceUnavailable && status != http.StatusOK {
			t.Fatalf("/readyz probes during the black hole: %v; each must get an answer (200 or 503), none may hang", probes)
		}
	}
	if !slices.Contains(probes, http.StatusServiceUnavailable) {
		t.Fatalf("/readyz never answered 503 during the black hole: %v", probes)
	}
	recovered(t, tr, n)
	tr.halt()
	during := 0
	for _, a := range tr.answers {
		if a.start.Before(holeStart) || a.start.After(holeEnd) {
			continue
		}
		during++
		if a.status == 0 {
			t.Fatalf("a request sent during the black hole got no answer within %s: %s", answerBound, a.raw)
		}
	}
	if bad := tr.unclean(); len(bad) > 0 {
		t.Fatalf("some answers were neither a success nor a clean 503 with a message: %v", bad[:min(len(bad), 5)])
	}
	if tr.count(http.StatusServiceUnavailable) == 0 || during == 0 {
		t.Fatalf("no request saw the black hole: %d sent during it, statuses %v", during, tr.statuses())
	}
	tr.checkAcked(t)
	t.Logf("%d requests sent during the 10 s black hole, all answered; /readyz probes %v; statuses %v",
		during, probes, tr.statuses())
}

// probeReadiness asks /readyz over and over for d, each probe waiting up
// to bound for its answer, and returns every probe's status (0: none).
func probeReadiness(nodeURL string, bound, d time.Duration) []int {
	hc := &http.Client{Timeout: bound}
	var statuses []int
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		statuses = append(statuses, readyStatus(hc, nodeURL))
	}
	return statuses
}

// newProxiedURL puts a proxy in front of the cluster's database and
// returns it with the URL that goes through it.
func newProxiedURL(t *testing.T, dbURL string) (*proxy, string) {
	u, _ := url.Parse(dbURL)
	p := newProxy(t, u.Host)
	u.Host = p.ln.Addr().String()
	q := u.Query()
	q.Set("connect_timeout", "2")
	u.RawQuery = q.Encode()
	return p, u.String()
}

// recovered waits for the node to be ready and to acknowledge sends again
// once the database is back.
func recovered(t *testing.T, tr *traffic, n *node) {
	t.Helper()
	before := tr.ackedCount()
	ok := waitFor(func() bool { return readyStatus(http.DefaultClient, n.url) == http.StatusOK }) &&
		waitFor(func() bool { return tr.ackedCount() > before })
	if !ok {
		tr.halt()
		t.Fatalf("the node did not recover (ready and acknowledging sends) after the database came back:\n%s", n.logs.String())
	}
}

// waitFor polls cond every 50 ms for up to 15 s and reports whether it
// became true.
func waitFor(cond func() bool) bool {
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return false
}

// eventually fails the test unless cond becomes true within waitFor's
// deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !waitFor(cond) {
		t.Fatalf("timed out waiting for %s", what)
	}
}
