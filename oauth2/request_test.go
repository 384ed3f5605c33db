package oauth2_test

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/latchkeyhq/latchkey/oauth2"
)

// FuzzParseTokenRequest feeds the token and revocation endpoints' parsers
// any content type, query, body and Authorization header: every refusal is
// an RFC 6749 error with a status and a description, and what is accepted
// keeps the rules (no credentials in the URL, one authentication method, no
// repeated parameter, text without NUL).
func FuzzParseTokenRequest(f *testing.F) {
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("client:secret"))
	form := "application/x-www-form-urlencoded"
	for _, s := range []struct{ contentType, query, body, authorization string }{
		{form, "", "grant_type=client_credentials&client_id=c&client_secret=s", ""},
		{form, "", "grant_type=client_credentials", basic},
		{form, "", "grant_type=client_credentials&client_secret=s", basic},
		{form, "client_secret=s", "grant_type=client_credentials&client_id=c", ""},
		{form, "", "grant_type=refresh_token&refresh_token=r&refresh_token=r", basic},
		{form + "; charset=utf-8", "", "token=t&token_type_hint=refresh_token", basic},
		{form, "", "grant_type=client_credentials&client_id=%00&client_secret=%FF", ""},
		{form, "", "grant_type=client_credentials&client_id=a%ZZ", ""},
		{form, "", "grant_type=x", "Basic " + base64.StdEncoding.EncodeToString([]byte("%ZZ:x"))},
		{form, "", "grant_type=x", "Basic !!!"}, {form, "", "grant_type=x", "Bearer abc"},
		{"application/json", "", `{"grant_type":"client_credentials"}`, ""}, {"", "", "", ""},
		{form, "", strings.Repeat("a=b&", 20000), ""},
	} {
		f.Add(s.contentType, s.query, s.body, s.authorization)
	}
	f.Fuzz(func(t *testing.T, contentType, query, body, authorization string) {
		for _, parse := range []func(*http.Request) (oauth2.TokenRequest, error){oauth2.ParseTokenRequest, oauth2.ParseRevocationRequest} {
			r, err := http.NewRequest(http.MethodPost, "https://latchkey.test/oidc/token?"+query, strings.NewReader(body))
			if err != nil {
				return // not a request a client could send
			}
			r.Body = http.MaxBytesReader(nil, r.Body, 64<<10)
			r.Header.Set("Content-Type", contentType)
			if authorization != "" {
				r.Header.Set("Authorization", authorization)
			}
			req, err := parse(r)
			checkParsed(t, r, body, req, err)
		}
	})
}

func checkParsed(t *testing.T, r *http.Request, body string, req oauth2.TokenRequest, err error) {
	t.Helper()
	if err != nil {
		var oerr *oauth2.Error
		if !errors.As(err, &oerr) || oerr.Description == "" ||
			(oerr.Code != "invalid_request" && oerr.Code != "invalid_client") ||
			(oerr.Status != 400 && oerr.Status != 401 && oerr.Status != 413) {
			t.Fatalf("refusal %#v; want an RFC 6749 error with a status and a description", err)
		}
		return
	}
	if r.URL.Query().Has("client_secret") {
		t.Fatal("accepted a client secret in the URL")
	}
	if _, pass, ok := r.BasicAuth(); ok && pass != "" && req.Params["client_secret"] != "" {
		t.Fatal("accepted HTTP Basic and client_secret together")
	}
	for name, v := range req.Params {
		if !utf8.ValidString(name+v) || strings.ContainsRune(name+v, 0) {
			t.Fatalf("accepted the parameter %q=%q", name, v)
		}
	}
	if !utf8.ValidString(req.ClientID+req.ClientSecret) || strings.ContainsRune(req.ClientID+req.ClientSecret, 0) {
		t.Fatalf("accepted the client credentials %q, %q", req.ClientID, req.ClientSecret)
	}
	if form, err := url.ParseQuery(body); err == nil {
		for name, values := range form {
			if len(values) > 1 {
				t.Fatalf("accepted the repeated parameter %q", name)
			}
		}
	}
}
