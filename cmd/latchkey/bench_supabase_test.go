package main

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// With --target supabase the bench runs the otp-email flow by default and
// seeds through the admin API with a service-role key minted from
// --supabase-jwt-secret; without a key or secret it says what is missing.
func TestBenchSupabaseTarget(t *testing.T) {
	const secret = "bench-jwt-secret-bench-jwt-secret-0123"
	var seeded, sends atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("POST /admin/users", func(w http.ResponseWriter, r *http.Request) {
		tok, err := jwt.ParseSigned(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "),
			[]jose.SignatureAlgorithm{jose.HS256})
		var claims struct {
			Role string `json:"role"`
		}
		if err != nil || tok.Claims([]byte(secret), &claims) != nil || claims.Role != "service_role" {
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"code":403,"error_code":"not_admin","msg":"User not allowed"}`))
			return
		}
		seeded.Add(1)
		_, _ = w.Write([]byte(`{"id":"u"}`))
	})
	mux.HandleFunc("POST /otp", func(w http.ResponseWriter, _ *http.Request) {
		sends.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"code":500,"error_code":"unexpected_failure","msg":"Error sending magic link email"}`))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sink := l.Addr().String()
	_ = l.Close()

	code, stdout, stderr := runBench(t, map[string]string{}, "--target", "supabase", "--url", srv.URL,
		"--supabase-jwt-secret", secret, "--smtp-sink", sink, "--users", "3", "--concurrency", "1",
		"--count", "3", "--warmup", "0s", "--quiet", "--json", "-")
	if code != exitError || !strings.Contains(stderr, "no flow completed") {
		t.Fatalf("exit %d; want %d with no flow completed; stderr:\n%s", code, exitError, stderr)
	}
	if seeded.Load() != 3 || sends.Load() != 3 {
		t.Errorf("seeded %d, sends %d; want 3 and 3", seeded.Load(), sends.Load())
	}
	var rep struct {
		Settings struct {
			Target string   `json:"target"`
			Flows  []string `json:"flows"`
		} `json:"settings"`
		Failed uint64 `json:"failed"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("JSON report: %v\n%s", err, stdout)
	}
	if rep.Settings.Target != "supabase" || len(rep.Settings.Flows) != 1 || rep.Settings.Flows[0] != "otp-email" || rep.Failed != 3 {
		t.Errorf("report settings %+v, failed %d; want target supabase, flow otp-email, 3 failed", rep.Settings, rep.Failed)
	}

	code, _, stderr = runBench(t, map[string]string{}, "--target", "supabase", "--url", srv.URL, "--smtp-sink", sink, "--quiet")
	if code == exitOK || !strings.Contains(stderr, "service-role key") {
		t.Errorf("without a key: exit %d, stderr %q; want an error naming the service-role key", code, stderr)
	}
}
