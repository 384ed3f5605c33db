package bench

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/crypto/bcrypt"
)

// Targets, as given to Config.Target: which server's API the flows speak.
const (
	// TargetLatchkey is Latchkey's own API (the default).
	TargetLatchkey = "latchkey"
	// TargetSupabase is Supabase Auth's (GoTrue's) API: the same users and
	// the same email passcode login, so that the two servers are measured
	// by one driver doing one flow.
	TargetSupabase = "supabase"
)

// supabaseKeyLife is how long a service key minted by SupabaseServiceKey
// is valid: longer than any run.
const supabaseKeyLife = 24 * time.Hour

// SupabaseServiceKey mints a Supabase Auth service-role key: an HS256 JWT
// with the role service_role, signed with the server's JWT secret
// (GOTRUE_JWT_SECRET). Supabase Auth's admin API, which the run seeds its
// users through, takes only that role.
func SupabaseServiceKey(secret string, now time.Time) (string, error) {
	if secret == "" {
		return "", errors.New("bench: the Supabase Auth JWT secret is empty")
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(secret)},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", fmt.Errorf("bench: Supabase service key: %w", err)
	}
	claims := struct {
		jwt.Claims
		Role string `json:"role"`
	}{Claims: jwt.Claims{Issuer: "latchkey-bench", IssuedAt: jwt.NewNumericDate(now),
		Expiry: jwt.NewNumericDate(now.Add(supabaseKeyLife))}, Role: "service_role"}
	key, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		return "", fmt.Errorf("bench: Supabase service key: %w", err)
	}
	return key, nil
}

// supabase reports whether the run drives Supabase Auth.
func (s *settings) supabase() bool { return s.Target == TargetSupabase }

// checkTarget validates the target and what it needs. Supabase Auth runs
// only the otp-email flow, with its code read from the bench's SMTP sink
// like Latchkey's, and needs a service key to seed users; Latchkey's client
// credentials and signing ceiling do not apply to it.
func (s *settings) checkTarget() error {
	switch s.Target {
	case "":
		s.Target = TargetLatchkey
		return nil
	case TargetLatchkey:
		return nil
	case TargetSupabase:
	default:
		return fmt.Errorf("bench: unknown target %q (known: %s, %s)", s.Target, TargetLatchkey, TargetSupabase)
	}
	for _, k := range s.kinds {
		if k != kindOTPEmail {
			return fmt.Errorf("bench: against Supabase Auth only the %s flow runs, not %s", FlowOTPEmail, k)
		}
	}
	switch {
	case s.Seed && s.SupabaseKey == "":
		return errors.New("bench: seeding Supabase Auth's users needs a service-role key (its admin API takes no other)")
	case s.Ceiling:
		return errors.New("bench: the signing ceiling is Latchkey's; Supabase Auth signs HS256 access tokens only")
	case s.Seed && s.Rand == nil:
		return errors.New("bench: seeding Supabase Auth's users needs Config.Rand")
	}
	return nil
}

// supabaseEndpoints are the endpoints of Supabase Auth's email passcode
// login, in the order a flow calls them.
var supabaseEndpoints = []endpoint{epSupabaseOTP, epSupabaseVerify, epSupabaseLogout}

// flowEndpoints lists the endpoints flow k calls against the run's target.
func (s *settings) flowEndpoints(k flowKind) []endpoint {
	if s.supabase() {
		return supabaseEndpoints
	}
	return kindEndpoints[k]
}

// supabaseHeaders sets what Supabase Auth's clients send: the project key
// as apikey (what its gateway checks) and, for a signed-in call, the
// user's access token.
func (c *client) supabaseHeaders(req *http.Request, bearer string) {
	if c.s.SupabaseKey != "" {
		req.Header["Apikey"] = c.supabaseKey
	}
	switch {
	case bearer != "":
		req.Header["Authorization"] = []string{"Bearer " + bearer}
	case c.s.SupabaseKey != "":
		req.Header["Authorization"] = c.supabaseBearer
	}
}

// preparePasswordHash hashes a random password, once per run, for the
// users the run creates. Supabase Auth gives a user created without one a
// random password of its own, hashed with bcrypt at its full cost, which
// makes seeding take minutes; a password hash given is stored as it is.
// Nobody signs in with it: the users log in by email passcode.
func (c *client) preparePasswordHash(rand io.Reader) error {
	password := make([]byte, 32)
	if _, err := io.ReadFull(rand, password); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(base64.RawURLEncoding.EncodeToString(password)), bcrypt.MinCost)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	c.supabaseHash = string(hash)
	return nil
}

// createSupabaseUser creates user i, confirmed, through the admin API. It
// answers http.StatusCreated for a new user, as Latchkey's API does, and
// http.StatusConflict for one that exists (Supabase Auth's 422
// email_exists), which is as good.
func (r *runner) createSupabaseUser(ctx context.Context, q *requester, i int) (int, []byte, *flowError) {
	body := appendJSONString([]byte(`{"email":`), userEmail(i))
	body = appendJSONString(append(body, `,"password_hash":`...), r.c.supabaseHash)
	body = append(body, `,"email_confirm":true}`...)
	status, resp, _, ferr := q.call(ctx, nil, epSupabaseAdminUsers, "", body, http.StatusOK, http.StatusUnprocessableEntity)
	switch {
	case ferr != nil:
		return status, resp, ferr
	case status == http.StatusOK:
		return http.StatusCreated, resp, nil
	case bytes.Contains(resp, []byte(`"email_exists"`)):
		return http.StatusConflict, resp, nil
	}
	return status, resp, &flowError{ep: epSupabaseAdminUsers, reason: "status 422"}
}

// supabaseOTP logs a user in to Supabase Auth with an email passcode, as
// its clients do: POST /otp (an existing user only) sends the code, the
// bench reads it from the email at its SMTP sink, POST /verify exchanges it
// for an access and a refresh token, and, when the run logs out, POST
// /logout ends the session. The delivery latency is recorded as for
// Latchkey, from the answer to /otp to the email's arrival; Supabase Auth
// sends before it answers, so it is the time to hand the message over.
func (w *worker) supabaseOTP(ctx context.Context, rec *recorder, user int) *flowError {
	d := w.destination(kindOTPEmail, user)
	addr := d.to
	body := appendJSONString([]byte(`{"email":`), addr)
	body = append(body, `,"create_user":false}`...)
	sent := w.r.s.Now()
	if _, _, _, ferr := w.q.call(ctx, rec, epSupabaseOTP, "", body, http.StatusOK); ferr != nil {
		return ferr
	}
	msg, ferr := w.receive(ctx, rec, kindOTPEmail, d, sent)
	if ferr != nil {
		return ferr
	}
	code := FindCode(msg.Text)
	if code == "" {
		return &flowError{ep: d.ep, reason: "no passcode in the message"}
	}
	body = jsonObject("type", "email", "email", addr, "token", code)
	_, resp, _, ferr := w.q.call(ctx, rec, epSupabaseVerify, "", body, http.StatusOK)
	if ferr != nil {
		return ferr
	}
	if !jsonStrings(resp, keysSupabaseTokens, w.out[:2]) {
		rec.invalid(epSupabaseVerify)
		return &flowError{ep: epSupabaseVerify, reason: "malformed response"}
	}
	for i, v := range w.out[:2] {
		if v == "" {
			rec.invalid(epSupabaseVerify)
			return &flowError{ep: epSupabaseVerify, reason: "no " + keysSupabaseTokens[i] + " in the response"}
		}
	}
	if !w.r.s.Logout {
		return nil
	}
	w.q.bearer = w.out[0]
	_, _, _, ferr = w.q.call(ctx, rec, epSupabaseLogout, "", nil, http.StatusNoContent)
	w.q.bearer = ""
	return ferr
}

// keysSupabaseTokens are what Supabase Auth's /verify answers with.
var keysSupabaseTokens = []string{"access_token", "refresh_token"}

// targetName is how the report names the server the run measured.
func targetName(target string) string {
	if target == TargetSupabase {
		return "Supabase Auth"
	}
	return "Latchkey"
}

// prepareSupabase makes the Supabase Auth key into header values, once.
func (c *client) prepareSupabase() {
	if key := strings.TrimSpace(c.s.SupabaseKey); key != "" {
		c.supabaseKey = []string{key}
		c.supabaseBearer = []string{"Bearer " + key}
	}
}
