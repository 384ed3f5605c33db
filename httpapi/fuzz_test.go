package httpapi_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// The fuzzers here drive the real handler, on a real SQLite file (or the
// PostgreSQL schema of LATCHKEY_TEST_STORE=postgres), with whatever a caller
// can send: any body, header or query gets an answer below 500, and every
// error is JSON with a message. Their seeds, the adversarial inputs of
// SECURITY.md, run in every `go test`; `go test -fuzz` explores further.

// fuzzTarget is a server for one fuzzer: an app's client token, and a user
// with an email and a phone number for the sends to reach.
type fuzzTarget struct {
	h       *harness
	handler http.Handler
	token   string
	userID  string
}

func newFuzzTarget(f *testing.F) *fuzzTarget {
	h := newHarness(f)
	c := h.newClient("Fuzz", false)
	id := c.mustUser(map[string]any{"email": "fuzz@example.com", "phone_number": "+14155550100", "username": "fuzz"})
	return &fuzzTarget{h: h, handler: h.srv.Config.Handler, token: c.token, userID: id}
}

// serve sends one request to the handler and checks the answer: below 500,
// and an error is JSON with a message (a string, or the Users API's list).
func (ft *fuzzTarget) serve(t *testing.T, req *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	ft.handler.ServeHTTP(rec, req)
	ft.h.logs.Reset() // millions of requests would pile up their log lines
	if rec.Code >= 500 {
		t.Fatalf("%s %s: %d %s", req.Method, req.URL, rec.Code, rec.Body)
	}
	if rec.Code >= 400 && req.URL.Path != "/magic-link" {
		var body map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || !hasMessage(body["message"]) {
			t.Fatalf("%s %s: %d with body %q; want JSON with a message", req.Method, req.URL, rec.Code, rec.Body)
		}
	}
	return rec
}

func hasMessage(m any) bool {
	switch v := m.(type) {
	case string:
		return v != ""
	case []any:
		return len(v) > 0
	}
	return false
}

// jsonEndpoints are the API calls that take a JSON body; {user} is the
// fuzz user's ID.
var jsonEndpoints = []struct{ method, path string }{
	{http.MethodPost, "/cis/v1/users"},
	{http.MethodPut, "/cis/v1/users/{user}"},
	{http.MethodPost, "/cis/v1/auth/otp/send"},
	{http.MethodPost, "/cis/v1/auth/otp/authenticate"},
	{http.MethodPost, "/cis/v1/auth/link/email/send"},
	{http.MethodPost, "/cis/v1/auth/link/email/authenticate"},
	{http.MethodPost, "/cis/v1/auth/token/refresh"},
	{http.MethodPost, "/cis/v1/auth/session/authenticate"},
	{http.MethodPost, "/cis/v1/auth/session/logout"},
}

// jsonSeeds are bodies worth trying on every endpoint (ADV-02 to -08, -69).
var jsonSeeds = []string{
	`{"email":"a@example.com"}`, `{"phone_number":"+14155550199","username":"u","custom_data":{"k":"v"}}`,
	`{"email":"fuzz@example.com","status":"Disabled"}`, `{"status":"Active","custom_data":{"a":"\u0000"}}`,
	`{"channel":"email","identifier":"fuzz@example.com","identifier_type":"email"}`,
	`{"channel":"sms","identifier":"+1 (415) 555-0100","identifier_type":"phone_number","custom_sms_input":{"custom_message":"{otp}{app}{app}{app}"}}`,
	`{"channel":"email","identifier":"fuzz","identifier_type":"username","email_content":{"subject":"a\r\nBcc: x@evil.example","senderName":"x\"<y>"}}`,
	`{"channel":"direct","identifier":"fuzz@example.com","identifier_type":"email","generate_request_id":true,"approval_data":{"a":"b"}}`,
	`{"passcode":"123456","identifier":"fuzz@example.com","identifier_type":"email"}`,
	`{"passcode":["123456","000000"],"identifier":"fuzz@example.com","identifier_type":"email"}`,
	`{"passcode":123456,"identifier":"fuzz@example.com","identifier_type":"email"}`,
	`{"passcode":{"$ne":""},"identifier":"fuzz@example.com","identifier_type":"email"}`,
	`{"passcode":"１２３４５６","identifier":"fuzz@example.com","identifier_type":"email"}`,
	`{"passcode":"123456\n","identifier":"a@xn--.com","identifier_type":"email"}`,
	`{"email":"fuzz@example.com","redirect_uri":"http://localhost:8080/complete","state":"s"}`,
	`{"identifier":"fuzz@example.com","identifier_type":"email","redirect_uri":"https://app.example.com.evil.tld/","channel":"direct"}`,
	`{"code":"` + strings.Repeat("A", 43) + `"}`, `{"refresh_token":"x"}`, `{"session_id":"' OR 1=1 --"}`,
	`{"channel":"email","channel":"sms","identifier":"fuzz@example.com","identifier_type":"email"}`,
	`{"identifier":"fuzz@example.com","identifier_type":"email","expires_in":1e308}`, `{"expires_in":-1}`,
	`{"session_id":"\u0000"}`, `{"refresh_token":"a\u0000"}`, `{"code":"\u0000"}`, `{"external_user_id":"\u0000"}`,
	`{"email":"fuzz@example.com","redirect_uri":"http://localhost:8080/complete","state":"\u0000"}`,
	`{"channel":"email","identifier":"\u0000","identifier_type":"user_id"}`,
	`{"passcode":"123456","identifier":"fuzz@example.com","identifier_type":"email","request_id":"\u0000","session_id":"\u0000"}`,
	`{"channel":"direct","identifier":"fuzz@example.com","identifier_type":"email","approval_data":{"\u0000":"\u0000"}}`,
	`{}`, `[]`, `null`, `"x"`, `{"a":1}{"b":2}`, `{"channel":`, "\xff\xfe{}", "",
	strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
	`{"email":"` + strings.Repeat("a", 1<<20) + `@example.com"}`,
}

func FuzzJSONBodies(f *testing.F) {
	for i := range jsonEndpoints {
		for _, body := range jsonSeeds {
			f.Add(uint8(i), body)
		}
	}
	ft := newFuzzTarget(f)
	f.Fuzz(func(t *testing.T, endpoint uint8, body string) {
		e := jsonEndpoints[int(endpoint)%len(jsonEndpoints)]
		req := httptest.NewRequest(e.method, strings.ReplaceAll(e.path, "{user}", ft.userID), strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+ft.token)
		t.Logf("body %q", body) // shown on failure only
		ft.serve(t, req)
	})
}

func FuzzUserLookups(f *testing.F) {
	for _, s := range []string{"fuzz@example.com", "FUZZ@EXAMPLE.COM", "a@xn--.com", "%2B14155550100", "+１４１５５５５０１００",
		"fuzz", "%00", "..%2F..%2Fetc%2Fpasswd", "' OR 1=1 --", "%E2%80%AE", strings.Repeat("a", 10000)} {
		f.Add(uint8(0), s, "page_limit=5&search_prefix="+s)
	}
	ft := newFuzzTarget(f)
	prefixes := []string{"/cis/v1/users/email/", "/cis/v1/users/phone-number/", "/cis/v1/users/username/",
		"/cis/v1/users/external-user-id/", "/cis/v1/users/", "/cis/v1/auth/users/"}
	f.Fuzz(func(t *testing.T, kind uint8, segment, query string) {
		path := prefixes[int(kind)%len(prefixes)] + segment
		if int(kind)%len(prefixes) == len(prefixes)-1 {
			path += "/sessions"
		}
		req, err := http.NewRequest(http.MethodGet, "http://latchkey.test"+path+"?"+query, nil)
		if err != nil {
			return // not a URL a client could send
		}
		req.Header.Set("Authorization", "Bearer "+ft.token)
		ft.serve(t, req)
		list, _ := http.NewRequest(http.MethodGet, "http://latchkey.test/cis/v1/users?"+query, nil)
		if list != nil {
			list.Header.Set("Authorization", "Bearer "+ft.token)
			ft.serve(t, list)
		}
	})
}

// bearerSeeds forges the tokens of SECURITY.md ADV-60 to -69 from a real
// one.
func bearerSeeds(f *testing.F, ft *fuzzTarget) []string {
	f.Helper()
	parts := strings.Split(ft.token, ".")
	header, payload, sig := parts[0], parts[1], parts[2]
	raw, _ := base64.RawURLEncoding.DecodeString(header)
	var hdr map[string]any
	if err := json.Unmarshal(raw, &hdr); err != nil {
		f.Fatal(err)
	}
	kid, _ := hdr["kid"].(string)
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	jwks := httptest.NewRecorder()
	ft.handler.ServeHTTP(jwks, httptest.NewRequest(http.MethodGet, "/cis/oidc/jwks", nil))
	mac := hmac.New(sha256.New, jwks.Body.Bytes())
	hsHeader := b64(`{"alg":"HS256","typ":"at+jwt","kid":"` + kid + `"}`)
	mac.Write([]byte(hsHeader + "." + payload))
	return []string{
		"Bearer " + ft.token, "bearer  " + ft.token + " ", "Basic " + ft.token, "Bearer", "Bearer ", "",
		"Bearer " + b64(`{"alg":"none","typ":"at+jwt","kid":"`+kid+`"}`) + "." + payload + ".",
		"Bearer " + b64(`{"alg":"nOnE","typ":"at+jwt"}`) + "." + payload + "." + sig,
		"Bearer " + hsHeader + "." + payload + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)),
		"Bearer " + b64(`{"alg":"RS256","alg":"none","typ":"at+jwt","kid":"`+kid+`"}`) + "." + payload + "." + sig,
		"Bearer " + b64(`{"alg":"RS256","typ":"at+jwt","kid":"../../etc/passwd\u0000"}`) + "." + payload + "." + sig,
		"Bearer " + b64(`{"alg":"RS256","typ":"at+jwt","kid":"' OR 1=1 --"}`) + "." + payload + "." + sig,
		"Bearer " + b64(`{"alg":"RS256","typ":"at+jwt","kid":"`+strings.Repeat("k", 10<<10)+`"}`) + "." + payload + "." + sig,
		"Bearer " + b64(`{"alg":"RS256","typ":"at+jwt","jku":"http://evil.example/jwks","kid":"`+kid+`"}`) + "." + payload + "." + sig,
		"Bearer " + b64(`{"alg":"RSA-OAEP","enc":"A256GCM","zip":"DEF"}`) + ".a.b.c.d",
		"Bearer " + b64(`{"alg":"PBES2-HS256+A128KW","p2c":1000000000}`) + "." + payload + "." + sig,
		"Bearer " + header + "=." + payload + "." + sig, "Bearer " + header + "." + payload + "." + sig + "==",
		"Bearer " + strings.ReplaceAll(ft.token, "-", "+"), "Bearer " + ft.token + ".x", "Bearer " + strings.Repeat(".", 1<<20),
		"Bearer " + header + "." + b64(`{"iss":"x","sub":"admin","exp":9999999999}`) + "." + sig,
		"Bearer a\r\nX-Injected: 1",
	}
}

func FuzzBearerHeader(f *testing.F) {
	ft := newFuzzTarget(f)
	for _, s := range bearerSeeds(f, ft) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, authorization string) {
		req := httptest.NewRequest(http.MethodGet, "/cis/v1/users", nil)
		req.Header["Authorization"] = []string{authorization}
		rec := ft.serve(t, req)
		scheme, token, _ := strings.Cut(authorization, " ")
		valid := strings.EqualFold(scheme, "Bearer") && strings.TrimSpace(token) == ft.token
		switch {
		case valid && rec.Code != http.StatusOK:
			t.Fatalf("Authorization %q with the real token: status %d", authorization, rec.Code)
		case rec.Code == http.StatusOK && !valid:
			t.Fatalf("Authorization %q was accepted", authorization)
		case rec.Code != http.StatusOK && rec.Code != http.StatusUnauthorized:
			t.Fatalf("Authorization %q: status %d; want 401", authorization, rec.Code)
		case rec.Code == http.StatusUnauthorized && !strings.Contains(rec.Body.String(), `"Invalid token"`):
			t.Fatalf("Authorization %q: body %s; want Mosaic's invalid token answer", authorization, rec.Body)
		}
	})
}

func FuzzMagicLinkOpen(f *testing.F) {
	ft := newFuzzTarget(f)
	send := httptest.NewRequest(http.MethodPost, "/cis/v1/auth/link/email/send", strings.NewReader(
		`{"email":"fuzz@example.com","redirect_uri":"http://localhost:8080/complete","channel":"direct","state":"s"}`))
	send.Header.Set("Authorization", "Bearer "+ft.token)
	rec := httptest.NewRecorder()
	ft.handler.ServeHTTP(rec, send)
	var sent map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &sent); err != nil || sent["code"] == nil {
		f.Fatalf("direct link: %d %s", rec.Code, rec.Body)
	}
	code := sent["code"].(string)
	for _, s := range []string{"code=" + code, "code=" + code[1:], "code=" + code + "A", "code=" + strings.ToUpper(code),
		"code=" + code + "&code=x", "code=", "code=%00", "code=%ZZ", "code=" + strings.Repeat("A", 129), ";code=" + code, ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, query string) {
		req, err := http.NewRequest(http.MethodGet, "http://latchkey.test/magic-link?"+query, nil)
		if err != nil {
			return
		}
		rec := ft.serve(t, req)
		switch rec.Code {
		case http.StatusFound:
			if req.URL.Query().Get("code") != code || !strings.HasPrefix(rec.Header().Get("Location"), "http://localhost:8080/complete?") {
				t.Fatalf("query %q redirected to %q", query, rec.Header().Get("Location"))
			}
		case http.StatusBadRequest:
		default:
			t.Fatalf("query %q: status %d", query, rec.Code)
		}
	})
}

// TestBadTextIsRefused pins what the fuzzers found on PostgreSQL, which
// refuses NUL characters and invalid UTF-8 in text: such input anywhere in a
// request is a 400, on either store, never a 500.
func TestBadTextIsRefused(t *testing.T) {
	h := newHarness(t)
	c := h.newClient("Text", false)
	c.call(http.MethodPost, "/cis/v1/auth/session/logout", `{"session_id":"\u0000"}`).wantStatus(http.StatusBadRequest)
	c.call(http.MethodPost, "/cis/v1/auth/session/authenticate", `{"session_id":"s\u0000"}`).wantStatus(http.StatusBadRequest)
	c.call(http.MethodPost, "/cis/v1/auth/otp/authenticate",
		`{"passcode":"123456","identifier":"a@example.com","identifier_type":"email","request_id":"\u0000"}`).wantStatus(http.StatusBadRequest)
	c.call(http.MethodGet, "/cis/v1/users?search_prefix=%00", nil).wantStatus(http.StatusBadRequest)
	c.call(http.MethodGet, "/cis/v1/users/%FF", nil).wantStatus(http.StatusBadRequest)
	c.call(http.MethodGet, "/cis/v1/auth/users/%00/sessions", nil).wantStatus(http.StatusBadRequest)
	resp := h.postForm("/oidc/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"\x00"}, "client_secret": {"x"}}, nil)
	if resp.status != http.StatusBadRequest || resp.json()["error"] != "invalid_request" {
		t.Fatalf("client_id with NUL: %d %s; want 400 invalid_request", resp.status, resp.body)
	}
	resp = h.postForm("/oidc/token", url.Values{"grant_type": {"client_credentials"}}, func(r *http.Request) { r.SetBasicAuth("\xff", "x") })
	if resp.status != http.StatusUnauthorized || resp.json()["error"] != "invalid_client" {
		t.Fatalf("Basic user of invalid UTF-8: %d %s; want 401 invalid_client", resp.status, resp.body)
	}
}
