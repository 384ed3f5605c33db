package e2e

import (
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestBurstAcrossNodesAdmitsExactlyTheCap sends a burst of codes to one
// address through three nodes at once: the counters live in PostgreSQL, so
// exactly the app's cap is admitted and delivered, whichever node took
// each request, and a node started afterwards still refuses.
func TestBurstAcrossNodesAdmitsExactlyTheCap(t *testing.T) {
	c := newCluster(t)
	cr := c.createApp(c.dbURL)
	const limit, burst = 5, 45
	c.command(c.dbURL, "apps", "update", cr.AppID, "--resend-cooldown", "0", "--sends-per-hour", "5")
	nodes := []*node{c.start(c.dbURL), c.start(c.dbURL), c.start(c.dbURL)}
	cl := newClient(t)
	cl.token = cl.clientToken(nodes[0].url, cr)
	cl.must(cl.post(nodes[1].url+"/cis/v1/users", map[string]any{"email": "burst@example.com"}), http.StatusCreated)
	send := map[string]any{"channel": "email", "identifier": "burst@example.com", "identifier_type": "email"}

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[int]int{}
		start    = make(chan struct{})
	)
	for i := range burst {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r := cl.post(nodes[i%len(nodes)].url+"/cis/v1/auth/otp/send", send)
			mu.Lock()
			statuses[r.status]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	if statuses[http.StatusOK] != limit || statuses[http.StatusTooManyRequests] != burst-limit {
		t.Fatalf("a burst of %d over three nodes gave %v; want exactly %d admitted and the rest 429", burst, statuses, limit)
	}
	if n := waitForMessages(t, cl, nodes[2].url, "burst@example.com", limit); n != limit {
		t.Fatalf("%d messages delivered; want the %d admitted", n, limit)
	}

	// A restart forgets nothing: a new node refuses too.
	for _, n := range nodes {
		n.stop()
	}
	fresh := c.start(c.dbURL)
	r := cl.post(fresh.url+"/cis/v1/auth/otp/send", send)
	if r.status != http.StatusTooManyRequests || r.body["error_code"] != "rate_limited" {
		t.Fatalf("after a restart: %d %s; want 429 rate_limited", r.status, r.raw)
	}
}

// waitForMessages waits until the dev inbox holds want messages to "to",
// and returns how many it holds.
func waitForMessages(t *testing.T, cl *client, nodeURL, to string, want int) int {
	t.Helper()
	n := 0
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, err := cl.http.Get(nodeURL + "/dev/inbox/messages?limit=100&to=" + to)
		if err != nil {
			continue
		}
		var msgs []map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&msgs)
		resp.Body.Close()
		if n = len(msgs); n >= want {
			break
		}
	}
	return n
}
