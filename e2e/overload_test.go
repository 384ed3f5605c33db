package e2e

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestOverloadIsRefusedAtOnce checks the admission control of a real node
// bounded to 4 requests in flight under 32 clients sending back to back:
// requests over the bound are refused with 503, Retry-After and a JSON
// message, the others are served, the health probes answer 200 all along,
// and the node's memory stays bounded. It checks the mechanism, not the
// figures: scripts/overload.sh measures those.
func TestOverloadIsRefusedAtOnce(t *testing.T) {
	c := newSQLiteCluster(t)
	cr := c.createApp(c.dbURL)
	n := c.startWith(c.dbURL, "LATCHKEY_MAX_IN_FLIGHT=4")
	cl := newClient(t)
	cl.token = cl.clientToken(n.url, cr)
	user := cl.must(cl.post(n.url+"/cis/v1/users", map[string]any{"email": "busy@example.com"}), http.StatusCreated)
	id := user["result"].(map[string]any)["user_id"].(string)

	var (
		mu       sync.Mutex
		statuses = map[int]int{}
		bad      []string
		wg       sync.WaitGroup
		stop     = make(chan struct{})
	)
	for range 32 {
		wg.Go(func() {
			hc := &http.Client{Timeout: 30 * time.Second}
			for {
				select {
				case <-stop:
					return
				default:
				}
				body := fmt.Sprintf(`{"channel":"direct","identifier":%q,"identifier_type":"user_id"}`, id)
				req, _ := http.NewRequest(http.MethodPost, n.url+"/cis/v1/auth/otp/send", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+cl.token)
				resp, err := hc.Do(req)
				mu.Lock()
				switch {
				case err != nil:
					bad = append(bad, err.Error())
				case resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "":
					bad = append(bad, "a 503 without Retry-After")
				}
				if err == nil {
					statuses[resp.StatusCode]++
					resp.Body.Close()
				}
				mu.Unlock()
			}
		})
	}
	refused := func() int {
		mu.Lock()
		defer mu.Unlock()
		return statuses[http.StatusServiceUnavailable]
	}
	probe := &http.Client{Timeout: 10 * time.Second}
	var probes []int
	var peakRSS int64
	for deadline := time.Now().Add(30 * time.Second); refused() < 100 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		probes = append(probes, readyStatus(probe, n.url))
		if r, err := probe.Get(n.url + "/healthz"); err == nil {
			r.Body.Close()
			probes = append(probes, r.StatusCode)
		} else {
			probes = append(probes, 0)
		}
		peakRSS = max(peakRSS, rss(t, n.cmd.Process.Pid))
	}
	close(stop)
	wg.Wait()

	if refused() == 0 || statuses[http.StatusOK] == 0 {
		t.Fatalf("statuses %v; want some requests served and some refused with 503", statuses)
	}
	if len(bad) > 0 {
		t.Fatalf("%d bad answers, the first: %s", len(bad), bad[0])
	}
	for _, s := range probes {
		if s != http.StatusOK {
			t.Fatalf("a health probe answered %d under overload: %v; want 200 all along", s, probes)
		}
	}
	if peakRSS > 200<<20 {
		t.Fatalf("the node's memory reached %d MB under overload; want it bounded (under 200 MB)", peakRSS>>20)
	}
	t.Logf("statuses %v; %d probes all 200; peak RSS %d MB", statuses, len(probes), peakRSS>>20)
}

// rss reads a process's resident memory from /proc.
func rss(t *testing.T, pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("cannot read the node's memory: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
