package httpapi_test

import (
	"fmt"
	"net/http"
	"net/http/httptrace"
	"strings"
	"testing"
)

// TestDrainingTurnsReadinessAndClosesConnections checks what a stopping
// server answers: /readyz turns 503 at once, requests are still served,
// and each answer closes its connection, so a keep-alive client opens its
// next one (elsewhere, behind a load balancer).
func TestDrainingTurnsReadinessAndClosesConnections(t *testing.T) {
	draining := make(chan struct{})
	h := newHarnessWith(t, harnessOptions{draining: draining})
	c := h.newClient("Drain", false)
	c.call(http.MethodGet, "/readyz", nil).wantStatus(http.StatusOK)
	c.call(http.MethodPost, "/cis/v1/users", map[string]any{"email": "before@example.com"}).wantStatus(http.StatusCreated)

	close(draining)
	r := c.call(http.MethodGet, "/readyz", nil).wantStatus(http.StatusServiceUnavailable)
	if r.json()["status"] != "draining" {
		t.Fatalf("/readyz while draining: %s", r.body)
	}

	// Requests are still served, and the server closes each connection
	// after its answer: Go's client, which keeps connections alive, must
	// open a new one for each request.
	hc := &http.Client{Transport: &http.Transport{}}
	for i := range 3 {
		reused := false
		trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused }}
		body := strings.NewReader(fmt.Sprintf(`{"email":"during%d@example.com"}`, i))
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), http.MethodPost, h.srv.URL+"/cis/v1/users", body)
		req.Header.Set("Authorization", "Bearer "+c.token)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated || !resp.Close || reused {
			t.Fatalf("request %d while draining: status %d, Connection: close %t, on a reused connection %t; "+
				"want served (201), the connection closed after the answer, and a new connection each time",
				i+1, resp.StatusCode, resp.Close, reused)
		}
	}
}
