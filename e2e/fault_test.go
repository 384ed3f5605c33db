package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// proxy forwards TCP connections to PostgreSQL and can cut them all, as a
// database failover or a network partition would.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	down   atomic.Bool
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
		go func() { io.Copy(up, c); up.Close() }()
		go func() { io.Copy(c, up); c.Close() }()
	}
}

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
	u, _ := url.Parse(c.dbURL)
	p := newProxy(t, u.Host)
	u.Host = p.ln.Addr().String()
	q := u.Query()
	q.Set("connect_timeout", "2")
	u.RawQuery = q.Encode()
	proxied := u.String()
	cr := c.createApp(c.dbURL)
	n := c.start(proxied)
	cl := newClient(t)
	cl.token = cl.clientToken(n.url, cr)

	// Traffic: each round creates a user and sends it a direct code; every
	// acknowledged code is kept to be checked afterwards.
	type sent struct{ id, code string }
	var (
		mu       sync.Mutex
		acked    []sent
		bad      []string
		statuses = map[int]int{}
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				email := fmt.Sprintf("w%d-%d@example.com", w, i)
				r := cl.post(n.url+"/cis/v1/users", map[string]any{"email": email})
				record := func(r reply) bool {
					mu.Lock()
					defer mu.Unlock()
					statuses[r.status]++
					if r.status != http.StatusOK && r.status != http.StatusCreated {
						if r.status != http.StatusServiceUnavailable || r.body["message"] == nil {
							bad = append(bad, fmt.Sprintf("%d %s", r.status, r.raw))
						}
						return false
					}
					return true
				}
				if !record(r) {
					time.Sleep(20 * time.Millisecond)
					continue
				}
				id := r.body["result"].(map[string]any)["user_id"].(string)
				s := cl.post(n.url+"/cis/v1/auth/otp/send", map[string]any{"channel": "direct", "identifier": id, "identifier_type": "user_id"})
				if record(s) {
					mu.Lock()
					acked = append(acked, sent{id: id, code: s.body["code"].(string)})
					mu.Unlock()
				}
			}
		}()
	}
	stopTraffic := sync.OnceFunc(func() {
		close(stop)
		wg.Wait()
	})
	defer stopTraffic() // also when a wait below fails the test
	count := func(f func() int) func() int {
		return func() int {
			mu.Lock()
			defer mu.Unlock()
			return f()
		}
	}
	ackedCount := count(func() int { return len(acked) })
	outages := count(func() int { return statuses[http.StatusServiceUnavailable] })
	readyStatus := func() int {
		r, err := http.Get(n.url + "/readyz")
		if err != nil {
			return 0
		}
		r.Body.Close()
		return r.StatusCode
	}

	// Traffic flows, then the database goes away: /readyz says so and
	// requests see the outage.
	eventually(t, "sends acknowledged before the outage", func() bool { return ackedCount() > 0 })
	p.cut()
	eventually(t, "/readyz answering 503 during the outage", func() bool { return readyStatus() == http.StatusServiceUnavailable })
	eventually(t, "a request answered 503 during the outage", func() bool { return outages() > 0 })
	// The database comes back: the node recovers by itself and traffic is
	// acknowledged again.
	p.restore()
	before := ackedCount()
	recovered := waitFor(func() bool { return readyStatus() == http.StatusOK }) &&
		waitFor(func() bool { return ackedCount() > before })
	stopTraffic()
	if !recovered {
		t.Fatalf("the node did not recover (ready and acknowledging sends) after the database came back:\n%s", n.logs.String())
	}
	if len(bad) > 0 {
		t.Fatalf("during the outage some answers were not a clean 503 with a message: %v", bad[:min(len(bad), 5)])
	}
	if statuses[http.StatusServiceUnavailable] == 0 {
		t.Fatalf("no request saw the outage (statuses %v)", statuses)
	}
	// Nothing acknowledged was lost: every acknowledged code still works.
	for _, s := range acked {
		cl.must(cl.post(n.url+"/cis/v1/auth/otp/authenticate", map[string]any{"passcode": s.code, "identifier": s.id, "identifier_type": "user_id"}), 200)
	}
	if len(acked) == 0 {
		t.Fatal("no send was acknowledged")
	}
	t.Logf("statuses during the run: %v; %d acknowledged codes all authenticated", statuses, len(acked))
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
