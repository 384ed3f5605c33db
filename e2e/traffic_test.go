package e2e

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

// traffic runs login traffic against one node: each of its workers
// creates a user and sends it a direct code, over and over, recording
// every answer and keeping every acknowledged code to be checked later.
type traffic struct {
	cl   *client
	node *node
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once

	mu      sync.Mutex
	acked   []sentCode
	answers []answer
}

// sentCode is an acknowledged direct send: the user and the code.
type sentCode struct{ id, code string }

// answer is one request of the traffic: when it started and ended, and
// what came back (status 0: no answer at all, with the error in raw).
type answer struct {
	start, end time.Time
	status     int
	message    bool // the body carried a "message"
	raw        string
}

// startTraffic starts workers requests at a time against n, until stopped
// (and at the latest when the test ends).
func startTraffic(t *testing.T, cl *client, n *node, workers int) *traffic {
	tr := &traffic{cl: cl, node: n, stop: make(chan struct{})}
	for w := range workers {
		tr.wg.Add(1)
		go func() {
			defer tr.wg.Done()
			tr.work(w)
		}()
	}
	t.Cleanup(tr.halt)
	return tr
}

func (tr *traffic) work(w int) {
	for i := 0; ; i++ {
		select {
		case <-tr.stop:
			return
		default:
		}
		r := tr.call("/cis/v1/users", map[string]any{"email": fmt.Sprintf("w%d-%d@example.com", w, i)})
		if r.status != http.StatusCreated {
			time.Sleep(20 * time.Millisecond) // pace the retries of a failing node
			continue
		}
		id := r.body["result"].(map[string]any)["user_id"].(string)
		s := tr.call("/cis/v1/auth/otp/send", map[string]any{"channel": "direct", "identifier": id, "identifier_type": "user_id"})
		if s.status == http.StatusOK {
			tr.mu.Lock()
			tr.acked = append(tr.acked, sentCode{id: id, code: s.body["code"].(string)})
			tr.mu.Unlock()
		}
	}
}

// call posts one request and records its answer.
func (tr *traffic) call(path string, body any) reply {
	start := time.Now()
	r := tr.cl.post(tr.node.url+path, body)
	a := answer{start: start, end: time.Now(), status: r.status, message: r.body["message"] != nil, raw: string(r.raw)}
	tr.mu.Lock()
	tr.answers = append(tr.answers, a)
	tr.mu.Unlock()
	return r
}

// halt stops the workers and waits for them.
func (tr *traffic) halt() {
	tr.once.Do(func() {
		close(tr.stop)
		tr.wg.Wait()
	})
}

// ackedCount is how many sends have been acknowledged so far.
func (tr *traffic) ackedCount() int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return len(tr.acked)
}

// count is how many answers so far had this status.
func (tr *traffic) count(status int) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	n := 0
	for _, a := range tr.answers {
		if a.status == status {
			n++
		}
	}
	return n
}

// unclean returns the answers that were neither a success nor a clean 503
// with a message.
func (tr *traffic) unclean() []answer {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var bad []answer
	for _, a := range tr.answers {
		ok := a.status == http.StatusOK || a.status == http.StatusCreated
		if !ok && (a.status != http.StatusServiceUnavailable || !a.message) {
			bad = append(bad, a)
		}
	}
	return bad
}

// statuses counts the answers by status.
func (tr *traffic) statuses() map[int]int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	out := map[int]int{}
	for _, a := range tr.answers {
		out[a.status]++
	}
	return out
}

// checkAcked authenticates every acknowledged code: nothing acknowledged
// was lost.
func (tr *traffic) checkAcked(t *testing.T) {
	t.Helper()
	tr.halt()
	if len(tr.acked) == 0 {
		t.Fatal("no send was acknowledged")
	}
	for _, s := range tr.acked {
		tr.cl.must(tr.cl.post(tr.node.url+"/cis/v1/auth/otp/authenticate",
			map[string]any{"passcode": s.code, "identifier": s.id, "identifier_type": "user_id"}), http.StatusOK)
	}
}

// readyStatus asks a node's /readyz once and returns the status, or 0
// without an answer.
func readyStatus(hc *http.Client, nodeURL string) int {
	r, err := hc.Get(nodeURL + "/readyz")
	if err != nil {
		return 0
	}
	r.Body.Close()
	return r.StatusCode
}

// String shows an answer in a failure message.
func (a answer) String() string {
	return fmt.Sprintf("%d after %s: %s", a.status, a.end.Sub(a.start).Round(time.Millisecond), a.raw)
}
