package bench

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeAPI answers the few endpoints the otp-direct flow calls, the way
// Latchkey does, with a configurable authenticate.
type fakeAPI struct {
	t            *testing.T
	authenticate func(w http.ResponseWriter) // nil: a good answer
	slow         time.Duration               // added to every authenticate

	mu        sync.Mutex
	pending   map[string]bool // identifiers between send and authenticate
	overlaps  int             // sends for an identifier already pending
	sends     int
	badTokens int
}

// clientJWT has the header {"alg":"RS256"}: the tool reads only that.
const clientJWT = "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"

func (f *fakeAPI) server() *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oidc/token", func(w http.ResponseWriter, r *http.Request) {
		if r.FormValue("client_secret") != "secret" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"invalid_client","message":"Client authentication failed"}`))
			return
		}
		_, _ = w.Write([]byte(`{"access_token":"` + clientJWT + `","token_type":"Bearer","expires_in":3600}`))
	})
	api := func(h func(w http.ResponseWriter, body map[string]string)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer "+clientJWT {
				f.mu.Lock()
				f.badTokens++
				f.mu.Unlock()
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			var body map[string]string
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			h(w, body)
		}
	}
	mux.Handle("POST /cis/v1/users", api(func(w http.ResponseWriter, _ map[string]string) {
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"result":{}}`))
	}))
	mux.Handle("POST /cis/v1/auth/otp/send", api(func(w http.ResponseWriter, b map[string]string) {
		f.mu.Lock()
		f.sends++
		if f.pending[b["identifier"]] {
			f.overlaps++
		}
		f.pending[b["identifier"]] = true
		f.mu.Unlock()
		_, _ = w.Write([]byte(`{"message":"OTP sent","code":"123456"}`))
	}))
	mux.Handle("POST /cis/v1/auth/otp/authenticate", api(func(w http.ResponseWriter, b map[string]string) {
		time.Sleep(f.slow)
		f.mu.Lock()
		delete(f.pending, b["identifier"])
		f.mu.Unlock()
		if f.authenticate != nil {
			f.authenticate(w)
			return
		}
		_, _ = w.Write([]byte(`{"access_token":"a","id_token":"i","refresh_token":"r","token_type":"Bearer","expires_in":3600,"session_id":"s"}`))
	}))
	mux.Handle("POST /cis/v1/auth/session/logout", api(func(w http.ResponseWriter, _ map[string]string) {
		w.WriteHeader(http.StatusNoContent)
	}))
	srv := httptest.NewServer(mux)
	f.t.Cleanup(srv.Close)
	return srv
}

func newFake(t *testing.T) *fakeAPI { return &fakeAPI{t: t, pending: map[string]bool{}} }

func testConfig(url string) Config {
	return Config{URL: url, ClientID: "client", ClientSecret: "secret", Concurrency: 3, Users: 6, Count: 12,
		Seed: true, Logout: true, Now: time.Now, Rand: rand.Reader}
}

func endpointReport(t *testing.T, rep *Report, name string) EndpointReport {
	t.Helper()
	for _, e := range rep.Endpoints {
		if e.Endpoint == name {
			return e
		}
	}
	t.Fatalf("no endpoint %s in %+v", name, rep.Endpoints)
	return EndpointReport{}
}

func TestFailedAuthenticateCountsAsFailed(t *testing.T) {
	f := newFake(t)
	f.authenticate = func(w http.ResponseWriter) {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"message":"Internal server error"}`))
	}
	rep, err := Run(context.Background(), testConfig(f.server().URL))
	if err != nil {
		t.Fatal(err)
	}
	fr := rep.Flows[0]
	if fr.Completed != 0 || fr.Failed != 12 || rep.Completed != 0 || rep.Failed != 12 {
		t.Fatalf("completed %d, failed %d; want every flow failed", fr.Completed, fr.Failed)
	}
	if n := fr.Failures["POST /cis/v1/auth/otp/authenticate: status 500"]; n != 12 {
		t.Errorf("failures %v; want 12 at authenticate", fr.Failures)
	}
	if fr.Latency.P99 != 0 || fr.Latency.Max != 0 {
		t.Errorf("failed flows were timed: %+v", fr.Latency)
	}
	auth := endpointReport(t, rep, "POST /cis/v1/auth/otp/authenticate")
	if auth.Requests != 12 || auth.Errors["500"] != 12 || len(auth.Errors) != 1 {
		t.Errorf("authenticate: %+v", auth)
	}
	if send := endpointReport(t, rep, "POST /cis/v1/auth/otp/send"); send.Requests != 12 || len(send.Errors) != 0 {
		t.Errorf("send: %+v", send)
	}
	if logout := endpointReport(t, rep, "POST /cis/v1/auth/session/logout"); logout.Requests != 0 {
		t.Errorf("a failed flow went on to log out: %+v", logout)
	}
	var text strings.Builder
	if err := rep.WriteText(&text); err != nil || !strings.Contains(text.String(), "500: 12") ||
		!strings.Contains(text.String(), "otp-direct failed 12× at POST /cis/v1/auth/otp/authenticate: status 500") {
		t.Errorf("text report does not show the failures (%v):\n%s", err, text.String())
	}
}

// TestRefusalsAreCountedApart has the server refuse every other
// authenticate with 503, as an overloaded one does: those flows count as
// refused, not failed, the goodput counts only completed flows, and the
// endpoint's latency leaves the quick refusals out.
func TestRefusalsAreCountedApart(t *testing.T) {
	f := newFake(t)
	var mu sync.Mutex
	n := 0
	f.authenticate = func(w http.ResponseWriter) {
		mu.Lock()
		n++
		refuse := n%2 == 0
		mu.Unlock()
		if refuse {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"error_code":"unavailable","message":"The server is busy; try again shortly"}`))
			return
		}
		time.Sleep(20 * time.Millisecond) // what the server spends on a request it serves
		_, _ = w.Write([]byte(`{"access_token":"a","id_token":"i","refresh_token":"r","token_type":"Bearer","expires_in":3600,"session_id":"s"}`))
	}
	rep, err := Run(context.Background(), testConfig(f.server().URL))
	if err != nil {
		t.Fatal(err)
	}
	fr := rep.Flows[0]
	if fr.Completed != 6 || fr.Refused != 6 || fr.Failed != 0 || rep.Refused != 6 || rep.Failed != 0 || len(fr.Failures) != 0 {
		t.Fatalf("completed %d, refused %d, failed %d (%v); want 6 completed and 6 refused, none failed",
			fr.Completed, fr.Refused, fr.Failed, fr.Failures)
	}
	if rep.PerSecond != fr.PerSecond || rep.PerSecond <= 0 {
		t.Errorf("goodput %v; want the completed flows per second, %v", rep.PerSecond, fr.PerSecond)
	}
	auth := endpointReport(t, rep, "POST /cis/v1/auth/otp/authenticate")
	if auth.Requests != 12 || auth.Refused != 6 || len(auth.Errors) != 0 {
		t.Errorf("authenticate: %+v; want 12 requests, 6 refused, no errors", auth)
	}
	// The served requests all took the server's 20 ms; the refusals were
	// quick. Their p50 would be far under it if refusals counted.
	if auth.Latency.P50 < 20 {
		t.Errorf("authenticate p50 %.1f ms; want the latency of the served requests only (at least 20 ms)", auth.Latency.P50)
	}
	var text strings.Builder
	if err := rep.WriteText(&text); err != nil || !strings.Contains(text.String(), "6 refused by the server (503), 0 failed") {
		t.Errorf("text report does not show the refusals (%v):\n%s", err, text.String())
	}
}

func TestMissingTokenCountsAsFailed(t *testing.T) {
	f := newFake(t)
	f.authenticate = func(w http.ResponseWriter) {
		_, _ = w.Write([]byte(`{"access_token":"a","id_token":"i","refresh_token":"r"}`))
	}
	rep, err := Run(context.Background(), testConfig(f.server().URL))
	if err != nil {
		t.Fatal(err)
	}
	if fr := rep.Flows[0]; fr.Completed != 0 || fr.Failures["POST /cis/v1/auth/otp/authenticate: no session_id in the response"] != 12 {
		t.Fatalf("flow: %+v", fr)
	}
	if auth := endpointReport(t, rep, "POST /cis/v1/auth/otp/authenticate"); auth.Errors[errInvalid] != 12 {
		t.Errorf("authenticate errors %v; want 12 invalid responses", auth.Errors)
	}
}

func TestNoTwoFlowsInFlightShareAUser(t *testing.T) {
	for _, open := range []bool{false, true} {
		f := newFake(t)
		f.slow = time.Millisecond
		cfg := testConfig(f.server().URL)
		cfg.Concurrency, cfg.Users, cfg.Count = 4, 8, 200
		if open {
			cfg.Rate = 5000 // far beyond the fake's pace: the cap is what holds
		}
		rep, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if f.overlaps != 0 || f.badTokens != 0 {
			t.Errorf("open %v: %d sends for a user already in flight, %d bad client tokens", open, f.overlaps, f.badTokens)
		}
		if rep.Failed != 0 || rep.Completed == 0 {
			t.Errorf("open %v: completed %d failed %d", open, rep.Completed, rep.Failed)
		}
		if !open && rep.Completed != 200 {
			t.Errorf("closed loop with --count 200 completed %d", rep.Completed)
		}
		if open && rep.OpenLoop.Started+rep.OpenLoop.Dropped != 200 {
			t.Errorf("open loop: %d started + %d dropped; want the 200 arrivals", rep.OpenLoop.Started, rep.OpenLoop.Dropped)
		}
	}
}

func TestOpenLoopCountsDroppedFlows(t *testing.T) {
	f := newFake(t)
	f.slow = 20 * time.Millisecond
	cfg := testConfig(f.server().URL)
	cfg.Users, cfg.Rate, cfg.Count = 1, 2000, 40 // one flow in flight at most
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ol := rep.OpenLoop
	if ol == nil || ol.Started+ol.Dropped != 40 || ol.Dropped == 0 || rep.Completed != ol.Started || rep.Settings.MaxInFlight != 1 {
		t.Fatalf("open loop %+v, completed %d, settings %+v", ol, rep.Completed, rep.Settings)
	}
}

func TestRunRefusesBadInput(t *testing.T) {
	url := newFake(t).server().URL
	for name, mutate := range map[string]func(*Config){
		"unknown flow":    func(c *Config) { c.Flows = []string{"otp-fax"} },
		"too many phones": func(c *Config) { c.Flows, c.Users = []string{FlowOTPSMS}, maxPhoneUsers+1 },
		"no clock":        func(c *Config) { c.Now = nil },
		"too few users":   func(c *Config) { c.Users, c.Concurrency = 2, 3 },
		"relative URL":    func(c *Config) { c.URL = "localhost:7080" },
		"no secret":       func(c *Config) { c.ClientSecret = "" },
		"negative rate":   func(c *Config) { c.Rate = -1 },
		"ceiling, no rng": func(c *Config) { c.Ceiling, c.Rand = true, nil },
		"wrong secret":    func(c *Config) { c.ClientSecret = "wrong" },
		"no server":       func(c *Config) { c.URL = "http://127.0.0.1:1" },
		"no dev inbox":    func(c *Config) { c.Flows = []string{FlowOTPEmailInbox} },
		"no such pid":     func(c *Config) { c.ServerPID = 1 << 30 },
	} {
		cfg := testConfig(url)
		mutate(&cfg)
		rep, err := Run(context.Background(), cfg)
		if err == nil || rep != nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if name == "wrong secret" && !strings.Contains(err.Error(), "refused the client credentials") {
			t.Errorf("wrong secret: %v", err)
		}
	}
}
