package httpapi_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/httpapi"
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

// TestRequestsOverTheBoundAreRefusedAtOnce holds the only slot of a
// server bounded to one request in flight with a request whose body is
// still coming: every other request is refused at once with 503 and
// Retry-After, in its endpoint family's shape, while the probes still
// answer; once the slot is free, requests are served again.
func TestRequestsOverTheBoundAreRefusedAtOnce(t *testing.T) {
	var bounds boundsMet
	h := newHarnessWith(t, harnessOptions{maxInFlight: 1, busy: bounds.add})
	c := h.newClient("Busy", false)
	c.call(http.MethodPost, "/cis/v1/users", map[string]any{"email": "ada@example.com"}).wantStatus(http.StatusCreated)

	release := holdTheOnlySlot(t, h, c)

	cases := []struct {
		name, method, path string
		body               any
		want               func(map[string]any) bool
	}{
		{"users", http.MethodGet, "/cis/v1/users", nil,
			func(b map[string]any) bool { return b["error_code"] == float64(503) && b["message"] != nil }},
		{"otp", http.MethodPost, "/cis/v1/auth/otp/send", map[string]any{"channel": "direct", "identifier": "ada@example.com", "identifier_type": "email"},
			func(b map[string]any) bool { return b["error_code"] == "unavailable" && b["message"] != nil }},
		{"link", http.MethodPost, "/cis/v1/auth/link/email/send", map[string]any{"email": "ada@example.com"},
			func(b map[string]any) bool { return b["error_code"] == "503" && b["message"] != nil }},
		{"oauth", http.MethodPost, "/oidc/token", "grant_type=client_credentials",
			func(b map[string]any) bool { return b["error"] == "temporarily_unavailable" && b["message"] != nil }},
	}
	for _, tc := range cases {
		r := c.call(tc.method, tc.path, tc.body)
		if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") != "1" || !tc.want(r.json()) {
			t.Errorf("%s over the bound: %d, Retry-After %q, %s; want 503, Retry-After 1, the family's shape",
				tc.name, r.status, r.header.Get("Retry-After"), r.body)
		}
	}
	c.call(http.MethodGet, "/healthz", nil).wantStatus(http.StatusOK)
	c.call(http.MethodGet, "/readyz", nil).wantStatus(http.StatusOK)
	if got := bounds.count(httpapi.BoundInFlight); got < len(cases) || bounds.count(httpapi.BoundSends) != 0 {
		t.Errorf("Busy was told of %d refusals over %s and %d over %s; want each of the %d refusals, over the first",
			got, httpapi.BoundInFlight, bounds.count(httpapi.BoundSends), httpapi.BoundSends, len(cases))
	}

	if status := release(); status != http.StatusCreated {
		t.Fatalf("the request holding the slot: %d; want it served (201)", status)
	}
	c.call(http.MethodGet, "/cis/v1/users", nil).wantStatus(http.StatusOK)
}

// holdTheOnlySlot takes the one slot of a server bounded to one request in
// flight, and returns a function that frees it and returns the status of
// the request that held it.
func holdTheOnlySlot(tb testing.TB, h *harness, c *client) (release func() int) {
	tb.Helper()
	release = holdRequest(tb, h, c, "/cis/v1/users", `{"email":"grace@example.com"}`)
	waitRefused(tb, c, http.MethodGet, "/cis/v1/users", nil)
	return release
}

// holdRequest posts body to path, sending only its first half, so that
// the request is in flight until the returned function sends the rest; it
// returns the request's status.
func holdRequest(tb testing.TB, h *harness, c *client, path, body string) (release func() int) {
	tb.Helper()
	pr, pw := io.Pipe()
	held := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, h.srv.URL+path, pr)
		req.Header.Set("Authorization", "Bearer "+c.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			held <- 0
			return
		}
		resp.Body.Close()
		held <- resp.StatusCode
	}()
	_, _ = pw.Write([]byte(body[:len(body)/2]))
	finish := sync.OnceValue(func() int {
		_, _ = pw.Write([]byte(body[len(body)/2:]))
		pw.Close()
		return <-held
	})
	tb.Cleanup(func() { finish() }) // a test that failed first must not leave the server waiting
	return finish
}

// waitRefused sends the request until the server refuses it for being
// busy: the requests held are in flight.
func waitRefused(tb testing.TB, c *client, method, path string, body any) {
	tb.Helper()
	for deadline := time.Now().Add(30 * time.Second); c.call(method, path, body).status != http.StatusServiceUnavailable; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatalf("%s %s was never refused: the requests held are not in flight", method, path)
		}
	}
}

// TestLoginsBegunComeFirst fills the share of the bound that requests
// beginning a login may hold, with a passcode send and a magic-link send:
// another send is refused, while the requests that go on with a login
// begun are still served.
func TestLoginsBegunComeFirst(t *testing.T) {
	var bounds boundsMet
	h := newHarnessWith(t, harnessOptions{maxInFlight: 5, busy: bounds.add}) // sends may hold 2
	c := h.newClient("Busy", false).withoutSendLimits()
	id := c.mustUser(map[string]any{"email": "ada@example.com"})
	otp := holdRequest(t, h, c, "/cis/v1/auth/otp/send", `{"channel":"direct","identifier":"ada@example.com","identifier_type":"email"}`)
	link := holdRequest(t, h, c, "/cis/v1/auth/link/email/send", `{"email":"ada@example.com","channel":"direct","redirect_uri":"http://localhost:8080/complete"}`)
	send := map[string]any{"channel": "direct", "identifier": id, "identifier_type": "user_id"}
	waitRefused(t, c, http.MethodPost, "/cis/v1/auth/otp/send", send)

	c.authOTP(otpBody(id, "user_id", "000000")).wantStatus(http.StatusBadRequest) // served: the wrong code
	c.call(http.MethodGet, "/cis/v1/users", nil).wantStatus(http.StatusOK)
	if a, b := otp(), link(); a != http.StatusOK || b != http.StatusOK {
		t.Fatalf("the sends held: %d and %d; want both served", a, b)
	}
	c.call(http.MethodPost, "/cis/v1/auth/otp/send", send).wantStatus(http.StatusOK)
	if bounds.count(httpapi.BoundSends) == 0 || bounds.count(httpapi.BoundInFlight) != 0 {
		t.Errorf("Busy was told of %d refusals over %s and %d over %s; want the send's, over the first only",
			bounds.count(httpapi.BoundSends), httpapi.BoundSends, bounds.count(httpapi.BoundInFlight), httpapi.BoundInFlight)
	}
}

// boundsMet records the bounds that Deps.Busy is told requests were
// refused over.
type boundsMet struct {
	mu  sync.Mutex
	met []string
}

func (b *boundsMet) add(bound string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.met = append(b.met, bound)
}

// count returns how many refusals were over bound.
func (b *boundsMet) count(bound string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, m := range b.met {
		if m == bound {
			n++
		}
	}
	return n
}

// TestTheGivenRequestCarriesTheRoute checks that middleware around the
// handler learns the route that served a request, as around a ServeMux:
// its pattern, never the raw path, or none when no route matched.
func TestTheGivenRequestCarriesTheRoute(t *testing.T) {
	h := newHarness(t)
	handler := httpapi.NewHandler(h.deps)
	for _, tc := range []struct{ method, target, want string }{
		{http.MethodGet, "/healthz", "GET /healthz"},
		{http.MethodGet, "/cis/v1/users/email/ada@example.com", "GET /cis/v1/users/email/{email}"},
		{http.MethodGet, "/no/such/ada@example.com", ""},
		{http.MethodDelete, "/healthz", ""},
	} {
		req := httptest.NewRequest(tc.method, tc.target, nil)
		handler.ServeHTTP(httptest.NewRecorder(), req)
		if req.Pattern != tc.want {
			t.Errorf("%s %s: the request given carries the route %q; want %q", tc.method, tc.target, req.Pattern, tc.want)
		}
	}
}
