package httpapi

import (
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/latchkeyhq/latchkey/oauth2"
	"github.com/latchkeyhq/latchkey/token"
)

// token is the OAuth 2.0 token endpoint.
func (h *handler) token(w http.ResponseWriter, r *http.Request) error {
	req, err := oauth2.ParseTokenRequest(r)
	if err != nil {
		return err
	}
	req.Source = callerAddress(r.Context())
	resp, err := h.OAuth.Token(r.Context(), req)
	if err != nil {
		return err
	}
	noStore(w)
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// jwksMaxAge lets verifiers cache the JWKS and discovery for
// token.JWKSMaxAge, which a key rotation waits out (with the key refresh
// interval) before a newly published key signs.
var jwksMaxAge = "public, max-age=" + strconv.Itoa(int(token.JWKSMaxAge/time.Second))

// jwks publishes the signing keys.
func (h *handler) jwks(w http.ResponseWriter, r *http.Request) error {
	doc, err := h.Issuer.Keys().JWKS(r.Context())
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", jwksMaxAge)
	_, err = w.Write(doc)
	return err
}

// discovery serves the OpenID Provider metadata (OIDC Discovery §3).
func (h *handler) discovery(w http.ResponseWriter, r *http.Request) error {
	algs, err := h.Issuer.Keys().PublishedAlgorithms(r.Context())
	if err != nil {
		return err
	}
	if !slices.Contains(algs, h.Issuer.Keys().Algorithm()) {
		algs = append(algs, h.Issuer.Keys().Algorithm())
	}
	base := h.PublicURL
	authMethods := []string{"client_secret_basic", "client_secret_post"}
	w.Header().Set("Cache-Control", jwksMaxAge)
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                h.Issuer.URL(),
		"jwks_uri":                              base + "/cis/oidc/jwks",
		"token_endpoint":                        base + "/cis/oidc/token",
		"revocation_endpoint":                   base + "/cis/oidc/token/revocation",
		"grant_types_supported":                 h.OAuth.GrantTypes(),
		"token_endpoint_auth_methods_supported": authMethods,
		"revocation_endpoint_auth_methods_supported": authMethods,
		"id_token_signing_alg_values_supported":      algs,
		"subject_types_supported":                    []string{"public"},
		"response_types_supported":                   []string{},
		"scopes_supported":                           []string{"openid", "offline_access"},
		"claims_supported": []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "amr", "sid",
			"email", "email_verified", "phone_number", "phone_number_verified", "new_user", "approval_data"},
	})
	return nil
}

// revoke is the RFC 7009 revocation endpoint: 200 with an empty body.
func (h *handler) revoke(w http.ResponseWriter, r *http.Request) error {
	req, err := oauth2.ParseRevocationRequest(r)
	if err != nil {
		return err
	}
	req.Source = callerAddress(r.Context())
	if err := h.OAuth.Revoke(r.Context(), req); err != nil {
		return err
	}
	noStore(w)
	w.WriteHeader(http.StatusOK)
	return nil
}
