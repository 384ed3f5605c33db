package main

import (
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestDevServesMetricsAndSaysWhere starts `latchkey dev`: it serves
// Prometheus metrics on their own address, which it prints, and nothing
// else there; `latchkey serve` serves none unless asked.
func TestDevServesMetricsAndSaysWhere(t *testing.T) {
	te := newTestEnv(t)
	base := te.serve("dev")
	where := regexp.MustCompile(`Metrics: +(http://\S+/metrics)`).FindStringSubmatch(te.stdout.String())
	if where == nil {
		t.Fatalf("latchkey dev did not print where its metrics are:\n%s", te.stdout.String())
	}
	if strings.HasPrefix(where[1], base+"/") {
		t.Fatalf("metrics at %s share the API's address %s; want their own", where[1], base)
	}
	resp, err := http.Get(where[1])
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "latchkey_build_info") {
		t.Fatalf("GET %s: %s; want the metrics", where[1], resp.Status)
	}
	if resp, err := http.Get(base + "/metrics"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("the API's address answers /metrics: %v %v; want 404", resp, err)
	}

	plain := newTestEnv(t)
	plain.serve("serve")
	if strings.Contains(plain.stderr.String(), "metrics listening") {
		t.Fatalf("latchkey serve serves metrics without LATCHKEY_METRICS_ADDR:\n%s", plain.stderr.String())
	}
}

func TestDevMetricsAddressIsBesideTheAPI(t *testing.T) {
	for api, want := range map[string]string{"127.0.0.1:7080": "127.0.0.1:7081", ":9000": ":9001", "127.0.0.1:0": "127.0.0.1:0", "nowhere": ""} {
		if got := devMetricsAddr(api); got != want {
			t.Errorf("devMetricsAddr(%q) = %q; want %q", api, got, want)
		}
	}
}

// TestDevGoesOnWhenItsMetricsAddressIsTaken starts `latchkey dev` with the
// port it would serve metrics on taken: it starts without metrics and says
// so, while a taken LATCHKEY_METRICS_ADDR, set by the operator, stops it.
func TestDevGoesOnWhenItsMetricsAddressIsTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	_, port, _ := net.SplitHostPort(taken.Addr().String())
	n, _ := strconv.Atoi(port)
	te := newTestEnv(t)
	te.vars["LATCHKEY_ADDR"] = net.JoinHostPort("127.0.0.1", strconv.Itoa(n-1))
	below, err := net.Listen("tcp", te.vars["LATCHKEY_ADDR"])
	if err != nil {
		t.Skipf("the port below the taken one is taken too: %v", err) // by another program: nothing to judge
	}
	below.Close()
	te.serve("dev")
	if !strings.Contains(te.stderr.String(), "no metrics") || !strings.Contains(te.stdout.String(), "Metrics:    off") {
		t.Fatalf("dev did not say it runs without metrics:\n%s\n%s", te.stderr.String(), te.stdout.String())
	}

	set := newTestEnv(t)
	set.vars["LATCHKEY_METRICS_ADDR"] = taken.Addr().String()
	if code, _, stderr := set.runCmd("serve"); code != exitError || !strings.Contains(stderr, "LATCHKEY_METRICS_ADDR") {
		t.Fatalf("serve with a taken LATCHKEY_METRICS_ADDR exited %d: %s; want it to stop, naming the variable", code, stderr)
	}
}
