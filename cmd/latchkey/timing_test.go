//go:build timing

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/internal/mannwhitney"
	"github.com/latchkeyhq/latchkey/sqlite"
	"golang.org/x/oauth2/clientcredentials"
)

// TestSendTimingParity measures, against a real `latchkey serve` on SQLite
// delivering through a webhook, how long passcode sends take for known and
// unknown identifiers under hide-unknown-users, over interleaved pairs in
// random order (LATCHKEY_TIMING_PAIRS, 1,000 by default), each identifier
// sent to once, as a prober walking a list would. The two distributions
// must not be told apart by a Mann-Whitney U test: p > 0.01 (SEC-31).
//
// It measures the machine as much as the code: run it on a quiet machine
// (scripts/timing.sh), never in CI.
func TestSendTimingParity(t *testing.T) {
	pairs := 1000
	if v, err := strconv.Atoi(os.Getenv("LATCHKEY_TIMING_PAIRS")); err == nil && v > 0 {
		pairs = v
	}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer hook.Close()
	te := newTestEnv(t)
	te.vars["LATCHKEY_EMAIL_PROVIDER"] = "webhook"
	te.vars["LATCHKEY_WEBHOOK_URL"] = hook.URL
	te.vars["LATCHKEY_WEBHOOK_SECRET"] = strings.Repeat("h", 32)
	te.vars["LATCHKEY_LOG_LEVEL"] = "warn"
	creds := te.createApp("--name", "Timing")
	if code, _, errOut := te.runCmd("apps", "update", creds.AppID, "--hide-unknown-users"); code != exitOK {
		t.Fatalf("apps update: %s", errOut)
	}
	base := te.serve("serve")
	cc := clientcredentials.Config{ClientID: creds.ClientID, ClientSecret: creds.ClientSecret, TokenURL: base + "/oidc/token"}
	client := cc.Client(context.Background())
	post := func(path string, body any) (time.Duration, int) {
		raw, _ := json.Marshal(body)
		start := time.Now()
		resp, err := client.Post(base+path, "application/json", bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return time.Since(start), resp.StatusCode
	}
	const warmUp = 50
	for i := range pairs + warmUp {
		if _, status := post("/cis/v1/users", map[string]any{"email": fmt.Sprintf("known%d@example.com", i)}); status != http.StatusCreated {
			t.Fatalf("create user: %d", status)
		}
	}
	// The node delivers each message straight after its send's answer: a
	// real one through the webhook, a decoy by recording it suppressed.
	// Each send waits for the one before it to be delivered, so that no
	// delivery runs inside the next send measured: after a known send, a
	// webhook call, after an unknown one, none, so the sends that follow
	// would be slowed unequally (in a random interleave an unknown send
	// follows a known one three times in four).
	store, err := sqlite.Open(strings.TrimPrefix(te.vars["LATCHKEY_DATABASE_URL"], "sqlite:"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	delivered := func() bool {
		queued, err := store.ListMessages(context.Background(), latchkey.MessageQueued, 1)
		return err == nil && len(queued) == 0
	}
	send := func(email string) float64 {
		for !delivered() {
			runtime.Gosched()
		}
		d, status := post("/cis/v1/auth/otp/send", map[string]any{"channel": "email", "identifier": email, "identifier_type": "email"})
		if status != http.StatusOK {
			t.Fatalf("send to %s: %d", email, status)
		}
		return float64(d.Microseconds()) / 1000
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	var known, unknown []float64
	for i := range pairs + warmUp {
		k, u := fmt.Sprintf("known%d@example.com", i), fmt.Sprintf("unknown%d@example.com", i)
		var dk, du float64
		if rng.IntN(2) == 0 {
			dk, du = send(k), send(u)
		} else {
			du, dk = send(u), send(k)
		}
		if i >= warmUp {
			known, unknown = append(known, dk), append(unknown, du)
		}
	}
	r := mannwhitney.Test(known, unknown)
	mk, mu := mannwhitney.Median(known), mannwhitney.Median(unknown)
	t.Logf("%d interleaved pairs: median known %.3f ms, unknown %.3f ms (difference %+.3f ms); Mann-Whitney U %.0f, z %.2f, p = %.3g",
		pairs, mk, mu, mk-mu, r.U, r.Z, r.P)
	if r.P <= 0.01 {
		t.Fatalf("sends for known and unknown identifiers are told apart by their timing: p = %.3g <= 0.01", r.P)
	}
}
