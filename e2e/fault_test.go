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
	time.Sleep(500 * time.Millisecond)
	p.cut()
	time.Sleep(1500 * time.Millisecond)
	ready, err := http.Get(n.url + "/readyz")
	if err != nil || ready.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("/readyz during the outage: %v %v; want 503", ready, err)
	}
	ready.Body.Close()
	p.restore()
	recovered := false
	for range 100 {
		if r, err := http.Get(n.url + "/readyz"); err == nil {
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				recovered = true
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()
	if !recovered {
		t.Fatalf("the node did not recover after the database came back:\n%s", n.logs.String())
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
