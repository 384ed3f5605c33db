package bench

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	gomail "github.com/wneessen/go-mail"
	"golang.org/x/crypto/bcrypt"
)

// fakeSupabase answers the endpoints of Supabase Auth's email passcode
// login with the JSON its API documents, and sends each code the way
// Supabase Auth does: an HTML-only email over SMTP, to the address it is
// told once the sink listens.
type fakeSupabase struct {
	t        *testing.T
	key      string // the service-role key the admin API takes
	smtpAddr string
	// wrongCode, when set, makes /verify refuse every code, as Supabase
	// Auth refuses an expired or wrong one.
	wrongCode bool

	mu      sync.Mutex
	users   map[string]bool
	codes   map[string]string // email → the code last sent
	next    int
	hashes  map[string]bool // password hashes given at creation
	logouts int
	badAuth int
	latch   int // requests to Latchkey's paths: none expected
}

func newFakeSupabase(t *testing.T) *fakeSupabase {
	return &fakeSupabase{t: t, key: "service-key", users: map[string]bool{}, codes: map[string]string{},
		hashes: map[string]bool{}}
}

func (f *fakeSupabase) server() *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /admin/users", f.adminUsers)
	mux.HandleFunc("POST /otp", f.otp)
	mux.HandleFunc("POST /verify", f.verify)
	mux.HandleFunc("POST /logout", f.logout)
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		f.mu.Lock()
		f.latch++
		f.mu.Unlock()
		w.WriteHeader(http.StatusNotFound)
	})
	srv := httptest.NewServer(mux)
	f.t.Cleanup(srv.Close)
	return srv
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

func (f *fakeSupabase) adminUsers(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+f.key || r.Header.Get("Apikey") != f.key {
		f.mu.Lock()
		f.badAuth++
		f.mu.Unlock()
		writeJSON(w, http.StatusForbidden, `{"code":403,"error_code":"not_admin","msg":"User not allowed"}`)
		return
	}
	var p struct {
		Email        string `json:"email"`
		PasswordHash string `json:"password_hash"`
		EmailConfirm bool   `json:"email_confirm"`
	}
	if err := json.NewDecoder(r.Body).Decode(&p); err != nil || p.Email == "" || !p.EmailConfirm {
		writeJSON(w, http.StatusBadRequest, `{"code":400,"error_code":"validation_failed","msg":"bad request"}`)
		return
	}
	if _, err := bcrypt.Cost([]byte(p.PasswordHash)); err != nil {
		writeJSON(w, http.StatusBadRequest, `{"code":400,"error_code":"validation_failed","msg":"not a bcrypt hash"}`)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hashes[p.PasswordHash] = true
	if f.users[p.Email] {
		writeJSON(w, http.StatusUnprocessableEntity,
			`{"code":422,"error_code":"email_exists","msg":"A user with this email address has already been registered"}`)
		return
	}
	f.users[p.Email] = true
	writeJSON(w, http.StatusOK, `{"id":"u","aud":"authenticated","email":"`+p.Email+`","identities":[]}`)
}

func (f *fakeSupabase) otp(w http.ResponseWriter, r *http.Request) {
	var p struct {
		Email      string `json:"email"`
		CreateUser *bool  `json:"create_user"`
	}
	if err := json.NewDecoder(r.Body).Decode(&p); err != nil || p.CreateUser == nil || *p.CreateUser {
		writeJSON(w, http.StatusBadRequest, `{"code":400,"error_code":"validation_failed","msg":"expected create_user false"}`)
		return
	}
	f.mu.Lock()
	known := f.users[p.Email]
	f.next++
	code := strconv.Itoa(100000 + f.next)
	f.codes[p.Email] = code
	f.mu.Unlock()
	if !known {
		writeJSON(w, http.StatusUnprocessableEntity, `{"code":422,"error_code":"otp_disabled","msg":"Signups not allowed for otp"}`)
		return
	}
	if err := f.mail(p.Email, code); err != nil {
		writeJSON(w, http.StatusInternalServerError, `{"code":500,"error_code":"unexpected_failure","msg":"Error sending magic link email"}`)
		return
	}
	writeJSON(w, http.StatusOK, `{}`)
}

// mail sends the code as Supabase Auth does, before answering: HTML only,
// quoted-printable, one SMTP connection per message.
func (f *fakeSupabase) mail(to, code string) error {
	host, port, err := net.SplitHostPort(f.smtpAddr)
	if err != nil {
		return err
	}
	n, _ := strconv.Atoi(port)
	m := gomail.NewMsg()
	if err := m.From("auth@example.test"); err != nil {
		return err
	}
	if err := m.To(to); err != nil {
		return err
	}
	m.Subject("Your sign-in link")
	m.SetBodyString(gomail.TypeTextHTML, "<h2>Your sign-in code</h2>\n<p>Your code is <b>"+code+"</b> (expires in 3600 s)</p>")
	c, err := gomail.NewClient(host, gomail.WithPort(n), gomail.WithTLSPolicy(gomail.NoTLS))
	if err != nil {
		return err
	}
	return c.DialAndSend(m)
}

func (f *fakeSupabase) verify(w http.ResponseWriter, r *http.Request) {
	var p struct{ Type, Email, Token string }
	if err := json.NewDecoder(r.Body).Decode(&p); err != nil || p.Type != "email" {
		writeJSON(w, http.StatusBadRequest, `{"code":400,"error_code":"validation_failed","msg":"bad request"}`)
		return
	}
	f.mu.Lock()
	want := f.codes[p.Email]
	delete(f.codes, p.Email)
	f.mu.Unlock()
	if f.wrongCode || want == "" || p.Token != want {
		writeJSON(w, http.StatusForbidden, `{"code":403,"error_code":"otp_expired","msg":"Token has expired or is invalid"}`)
		return
	}
	writeJSON(w, http.StatusOK, `{"access_token":"at-`+p.Email+`","token_type":"bearer","expires_in":3600,`+
		`"expires_at":1796077375,"refresh_token":"rt","user":{"id":"u","email":"`+p.Email+`"}}`)
}

func (f *fakeSupabase) logout(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer at-bench-") {
		writeJSON(w, http.StatusUnauthorized, `{"code":401,"error_code":"no_authorization","msg":"This endpoint requires a valid Bearer token"}`)
		return
	}
	f.mu.Lock()
	f.logouts++
	f.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func supabaseConfig(f *fakeSupabase, url string) Config {
	sink := startTestSink(f.t, WithClock(time.Now))
	f.smtpAddr = sink.Addr()
	return Config{URL: url, Target: TargetSupabase, SupabaseKey: f.key, SMTPSink: sink,
		Flows: []string{FlowOTPEmail}, Concurrency: 3, Users: 6, Count: 12, Seed: true, Logout: true,
		DatabasePID: os.Getpid(), Now: time.Now, Rand: rand.Reader}
}

// The otp-email flow against Supabase Auth: users seeded through the admin
// API with the service key, each login's code read from the HTML email at
// the sink and verified, the session ended with the user's access token,
// and nothing sent to Latchkey's paths.
func TestSupabaseEmailFlow(t *testing.T) {
	f := newFakeSupabase(t)
	rep, err := Run(context.Background(), supabaseConfig(f, f.server().URL))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Completed != 12 || rep.Failed != 0 {
		t.Fatalf("completed %d, failed %d (%v); want 12 completed", rep.Completed, rep.Failed, rep.Flows[0].Failures)
	}
	if rep.Seeding == nil || rep.Seeding.Created != 6 {
		t.Errorf("seeding %+v; want 6 users created", rep.Seeding)
	}
	f.mu.Lock()
	users, hashes, logouts, badAuth, latch := len(f.users), len(f.hashes), f.logouts, f.badAuth, f.latch
	f.mu.Unlock()
	if users != 6 || hashes != 1 || badAuth != 0 || latch != 0 {
		t.Errorf("users %d, password hashes %d, refused admin calls %d, calls to other paths %d; want 6, 1, 0, 0",
			users, hashes, badAuth, latch)
	}
	if logouts != 12 {
		t.Errorf("logouts %d; want 12", logouts)
	}
	if fr := rep.Flows[0]; fr.Delivery == nil || fr.Delivery.Messages != 12 {
		t.Errorf("delivery %+v; want 12 messages received at the sink", fr.Delivery)
	}
	for _, name := range []string{"POST /otp", "POST /verify", "POST /logout"} {
		if e := endpointReport(t, rep, name); e.Requests != 12 || len(e.Errors) != 0 {
			t.Errorf("%s: %+v; want 12 requests without errors", name, e)
		}
	}
	if rep.Settings.Target != TargetSupabase || rep.Database == nil || rep.Database.PID != os.Getpid() {
		t.Errorf("settings %+v, database %+v; want the target and the database process reported", rep.Settings, rep.Database)
	}
	var text strings.Builder
	if err := rep.WriteText(&text); err != nil || !strings.Contains(text.String(), "(Supabase Auth)") ||
		!strings.Contains(text.String(), "and its children") {
		t.Errorf("text report (%v):\n%s", err, text.String())
	}

	// A second run finds the users there, as good as new ones.
	rep, err = Run(context.Background(), supabaseConfig(f, f.server().URL))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Seeding.Existing != 6 || rep.Completed != 12 {
		t.Errorf("second run: seeding %+v, completed %d; want 6 existing, 12 completed", rep.Seeding, rep.Completed)
	}
}

// A code Supabase Auth refuses fails the flow at /verify, and the flow
// ends there.
func TestSupabaseRefusedCodeFails(t *testing.T) {
	f := newFakeSupabase(t)
	f.wrongCode = true
	rep, err := Run(context.Background(), supabaseConfig(f, f.server().URL))
	if err != nil {
		t.Fatal(err)
	}
	fr := rep.Flows[0]
	if fr.Completed != 0 || fr.Failures["POST /verify: status 403"] != 12 {
		t.Fatalf("completed %d, failures %v; want 12 failed at /verify", fr.Completed, fr.Failures)
	}
	if e := endpointReport(t, rep, "POST /logout"); e.Requests != 0 {
		t.Errorf("a failed flow logged out: %+v", e)
	}
}

// Seeding without the service key is refused by the admin API, and the
// run stops before any load.
func TestSupabaseWrongKeyStopsSeeding(t *testing.T) {
	f := newFakeSupabase(t)
	cfg := supabaseConfig(f, f.server().URL)
	cfg.SupabaseKey = "anon-key"
	_, err := Run(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "POST /admin/users: status 403") {
		t.Fatalf("Run = %v; want the admin API's refusal", err)
	}
}

func TestSupabaseRefusesBadInput(t *testing.T) {
	f := newFakeSupabase(t)
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"other flows", func(c *Config) { c.Flows = []string{FlowOTPDirect} }, "only the otp-email flow"},
		{"no key to seed", func(c *Config) { c.SupabaseKey = "" }, "service-role key"},
		{"ceiling", func(c *Config) { c.Ceiling = true }, "signing ceiling"},
		{"unknown target", func(c *Config) { c.Target, c.ClientID, c.ClientSecret = "keycloak", "id", "secret" }, `unknown target "keycloak"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := supabaseConfig(f, "http://127.0.0.1:1")
			tc.edit(&cfg)
			if _, err := Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Run = %v; want an error about %q", err, tc.want)
			}
		})
	}
}

// The minted key is what Supabase Auth's admin API checks: an HS256 JWT
// signed with its secret, with the role service_role, not yet expired.
func TestSupabaseServiceKey(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	key, err := SupabaseServiceKey("super-secret-jwt-token-with-at-least-32-characters", now)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.ParseSigned(key, []jose.SignatureAlgorithm{jose.HS256})
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		jwt.Claims
		Role string `json:"role"`
	}
	if err := tok.Claims([]byte("super-secret-jwt-token-with-at-least-32-characters"), &claims); err != nil {
		t.Fatalf("the key does not verify with the secret: %v", err)
	}
	if claims.Role != "service_role" {
		t.Errorf("role %q; want service_role", claims.Role)
	}
	if err := claims.ValidateWithLeeway(jwt.Expected{Time: now.Add(time.Hour)}, 0); err != nil {
		t.Errorf("the key is not valid an hour later: %v", err)
	}
	if err := tok.Claims([]byte("another-secret-another-secret-another"), &claims); err == nil {
		t.Error("the key verifies with another secret")
	}
	if _, err := SupabaseServiceKey("", now); err == nil {
		t.Error("an empty secret gave a key")
	}
}
