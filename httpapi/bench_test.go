package httpapi_test

import (
	"fmt"
	"net/http"
	"testing"
)

// BenchmarkOTPFlow measures one whole passcode login in process, through
// the real HTTP handler and store: a direct send, then the authentication
// that issues tokens. It runs on SQLite, or on PostgreSQL with
// LATCHKEY_TEST_STORE=postgres.
func BenchmarkOTPFlow(b *testing.B) {
	h := newHarness(b)
	c := h.newClient("Bench", false)
	const users = 64
	ids := make([]string, users)
	for i := range ids {
		ids[i] = c.mustUser(map[string]any{"email": fmt.Sprintf("bench%d@example.com", i)})
	}
	i := 0
	for b.Loop() {
		id := ids[i%users]
		i++
		r := c.sendOTP(map[string]any{"channel": "direct", "identifier": id, "identifier_type": "user_id"}).wantStatus(http.StatusOK)
		c.authOTP(otpBody(id, "user_id", r.json()["code"].(string))).wantStatus(http.StatusOK)
	}
}
