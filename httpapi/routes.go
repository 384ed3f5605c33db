package httpapi

import (
	"net/http"
	"net/url"
	"strings"
)

// routes registers Latchkey's whole HTTP surface. Paths are Mosaic's, so an
// application written for Mosaic changes only its base URL.
func (h *handler) routes(mux *http.ServeMux) {
	// Operations.
	mux.Handle("GET /healthz", h.public(familyPlain, maxBodyBytes, h.healthz))
	mux.Handle("GET /readyz", h.public(familyPlain, maxBodyBytes, h.readyz))

	// OAuth 2.0 and OpenID Connect.
	mux.Handle("POST /oidc/token", h.public(familyOAuth, maxBodyBytes, h.token))
	mux.Handle("POST /cis/oidc/token", h.public(familyOAuth, maxBodyBytes, h.token))
	mux.Handle("GET /cis/oidc/jwks", h.public(familyPlain, maxBodyBytes, h.jwks))
	mux.Handle("GET /cis/oidc/.well-known/openid-configuration", h.public(familyPlain, maxBodyBytes, h.discovery))
	if p := h.issuerPath(); p != "/cis/oidc" {
		// A custom LATCHKEY_ISSUER on this host: discovery must sit under
		// it too, where OIDC libraries look.
		mux.Handle("GET "+p+"/.well-known/openid-configuration", h.public(familyPlain, maxBodyBytes, h.discovery))
	}

	// Users API.
	mux.Handle("POST /cis/v1/users", h.api(familyUsers, maxUserBodyBytes, h.createUser))
	mux.Handle("GET /cis/v1/users", h.api(familyUsers, maxBodyBytes, h.listUsers))
	mux.Handle("GET /cis/v1/users/{user_id}", h.api(familyUsers, maxBodyBytes, h.getUserBy(h.Users.Get, "user_id")))
	mux.Handle("PUT /cis/v1/users/{user_id}", h.api(familyUsers, maxUserBodyBytes, h.updateUser))
	mux.Handle("GET /cis/v1/users/email/{email}", h.api(familyUsers, maxBodyBytes, h.getUserBy(h.Users.GetByEmail, "email")))
	mux.Handle("GET /cis/v1/users/phone-number/{phone}", h.api(familyUsers, maxBodyBytes, h.getUserBy(h.Users.GetByPhone, "phone")))
	mux.Handle("GET /cis/v1/users/username/{username}", h.api(familyUsers, maxBodyBytes, h.getUserBy(h.Users.GetByUsername, "username")))
	mux.Handle("GET /cis/v1/users/external-user-id/{id}", h.api(familyUsers, maxBodyBytes, h.getUserBy(h.Users.GetByExternalID, "id")))
	mux.Handle("DELETE /cis/v1/users/{user_id}/apps", h.api(familyUsers, maxBodyBytes, h.removeUserFromApp))
	mux.Handle("DELETE /cis/v1/manage/users/{user_id}", h.management(familyUsers, maxBodyBytes, h.deleteUser))
}

// issuerPath is the path of LATCHKEY_ISSUER when it is on this server.
func (h *handler) issuerPath() string {
	u, err := url.Parse(h.Issuer.URL())
	if err != nil || u.Path == "" {
		return "/cis/oidc"
	}
	return strings.TrimRight(u.Path, "/")
}
