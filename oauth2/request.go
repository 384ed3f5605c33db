package oauth2

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// ParseTokenRequest reads a token endpoint request: a form-encoded POST body,
// client credentials either in that body (client_secret_post) or in HTTP
// Basic (client_secret_basic), never both and never in the URL. Repeated
// parameters are refused (RFC 6749 §3.2). The body must already be capped by
// the caller.
func ParseTokenRequest(r *http.Request) (TokenRequest, error) {
	req, err := parseClientRequest(r)
	if err != nil {
		return TokenRequest{}, err
	}
	if req.GrantType == "" {
		return TokenRequest{}, errorf("invalid_request", 400, "grant_type is required")
	}
	return req, nil
}

// ParseRevocationRequest reads a revocation request (RFC 7009 §2.1): the
// same form and client authentication as the token endpoint, with "token"
// and an optional "token_type_hint".
func ParseRevocationRequest(r *http.Request) (TokenRequest, error) {
	req, err := parseClientRequest(r)
	if err != nil {
		return TokenRequest{}, err
	}
	if req.Params["token"] == "" {
		return TokenRequest{}, errorf("invalid_request", 400, "token is required")
	}
	return req, nil
}

// parseClientRequest reads the form and client credentials shared by the
// token and revocation endpoints.
func parseClientRequest(r *http.Request) (TokenRequest, error) {
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mediaType != "application/x-www-form-urlencoded" {
		return TokenRequest{}, errorf("invalid_request", 400, "the token request must be application/x-www-form-urlencoded")
	}
	query := r.URL.Query()
	if query.Has("client_secret") || query.Has("refresh_token") || query.Has("token") {
		return TokenRequest{}, errorf("invalid_request", 400, "credentials must be sent in the request body, not the URL")
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return TokenRequest{}, errorf("invalid_request", 413, "the request body is too large")
		}
		return TokenRequest{}, errorf("invalid_request", 400, "the request body could not be read")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return TokenRequest{}, errorf("invalid_request", 400, "the request body is not valid form encoding")
	}
	params := map[string]string{}
	for name, values := range form {
		if len(values) > 1 {
			return TokenRequest{}, errorf("invalid_request", 400, "parameter %q is repeated", name)
		}
		params[name] = values[0]
	}
	req := TokenRequest{
		GrantType:    params["grant_type"],
		ClientID:     params["client_id"],
		ClientSecret: params["client_secret"],
		Resource:     params["resource"],
		Scope:        params["scope"],
		Params:       params,
	}
	if err := applyBasic(r, &req); err != nil {
		return TokenRequest{}, err
	}
	for name, v := range params {
		if !validText(name) || !validText(v) {
			return TokenRequest{}, errorf("invalid_request", 400, "parameters must be UTF-8 text without NUL characters")
		}
	}
	if !validText(req.ClientID) || !validText(req.ClientSecret) {
		return TokenRequest{}, &Error{Code: "invalid_client", Status: 401, Basic: req.UsedBasic, Description: "malformed client credentials"}
	}
	return req, nil
}

// validText reports whether s is UTF-8 without NUL, as every value stored
// or looked up must be.
func validText(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// applyBasic takes the client credentials from HTTP Basic authentication,
// whose user and password are form-encoded (RFC 6749 §2.3.1).
func applyBasic(r *http.Request, req *TokenRequest) error {
	user, pass, ok := r.BasicAuth()
	if !ok {
		if r.Header.Get("Authorization") != "" {
			return &Error{Code: "invalid_client", Status: 401, Description: "unsupported Authorization header for client authentication"}
		}
		return nil
	}
	if req.ClientSecret != "" {
		return errorf("invalid_request", 400, "use one client authentication method: HTTP Basic or client_secret in the body, not both")
	}
	id, err1 := url.QueryUnescape(user)
	secret, err2 := url.QueryUnescape(pass)
	if err1 != nil || err2 != nil {
		return &Error{Code: "invalid_client", Status: 401, Basic: true, Description: "malformed HTTP Basic credentials"}
	}
	if req.ClientID != "" && req.ClientID != id {
		return errorf("invalid_request", 400, "client_id in the body differs from the HTTP Basic user")
	}
	req.ClientID, req.ClientSecret, req.UsedBasic = id, secret, true
	return nil
}
