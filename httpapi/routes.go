package httpapi

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/latchkeyhq/latchkey/login"
)

// registrar is where routes registers each route: an *http.ServeMux.
type registrar interface {
	Handle(pattern string, handler http.Handler)
}

// routes registers Latchkey's whole HTTP surface, which openapi.json
// describes. Paths are Mosaic's, so an application written for Mosaic
// changes only its base URL.
func (h *handler) routes(mux registrar) {
	// Operations, answered however busy the server is.
	mux.Handle("GET /healthz", h.probe(familyPlain, maxBodyBytes, h.healthz))
	mux.Handle("GET /readyz", h.probe(familyPlain, maxBodyBytes, h.readyz))
	mux.Handle("GET /openapi.json", h.public(familyPlain, maxBodyBytes, h.openAPI))

	// OAuth 2.0 and OpenID Connect.
	mux.Handle("POST /oidc/token", h.public(familyOAuth, maxBodyBytes, h.token))
	mux.Handle("POST /cis/oidc/token", h.public(familyOAuth, maxBodyBytes, h.token))
	mux.Handle("POST /oidc/token/revocation", h.public(familyOAuth, maxBodyBytes, h.revoke))
	mux.Handle("POST /cis/oidc/token/revocation", h.public(familyOAuth, maxBodyBytes, h.revoke))
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
	// /users/count and /users/identifier are more specific than
	// /users/{user_id}, so the mux never takes them for a user ID.
	mux.Handle("GET /cis/v1/users/count", h.api(familyUsers, maxBodyBytes, h.countUsers))
	mux.Handle("GET /cis/v1/users/identifier", h.api(familyUsers, maxBodyBytes, h.getUserByIdentifier))
	mux.Handle("GET /cis/v1/users/{user_id}", h.api(familyUsers, maxBodyBytes, h.getUserBy(h.Users.Get, "user_id")))
	mux.Handle("PUT /cis/v1/users/{user_id}", h.api(familyUsers, maxUserBodyBytes, h.updateUser))
	mux.Handle("GET /cis/v1/users/email/{email}", h.api(familyUsers, maxBodyBytes, h.getUserBy(h.Users.GetByEmail, "email")))
	mux.Handle("GET /cis/v1/users/phone-number/{phone}", h.api(familyUsers, maxBodyBytes, h.getUserBy(h.Users.GetByPhone, "phone")))
	mux.Handle("GET /cis/v1/users/phone/{phone}", h.api(familyUsers, maxBodyBytes, h.getUserBy(h.Users.GetByPhone, "phone"))) // deprecated by Mosaic
	mux.Handle("GET /cis/v1/users/username/{username}", h.api(familyUsers, maxBodyBytes, h.getUserBy(h.Users.GetByUsername, "username")))
	mux.Handle("GET /cis/v1/users/external-user-id/{id}", h.api(familyUsers, maxBodyBytes, h.getUserBy(h.Users.GetByExternalID, "id")))
	mux.Handle("DELETE /cis/v1/users/{user_id}/apps", h.api(familyUsers, maxBodyBytes, h.removeUserFromApp))
	mux.Handle("DELETE /cis/v1/manage/users/{user_id}", h.management(familyUsers, maxBodyBytes, h.deleteUser))

	// One-time login.
	mux.Handle("POST /cis/v1/auth/otp/send", h.api(familyOTP, maxBodyBytes, h.sendOTP))
	mux.Handle("POST /cis/v1/auth/otp/authenticate", h.api(familyOTP, maxBodyBytes, h.authenticateOTP))
	mux.Handle("POST /cis/v1/auth/link/email/send", h.api(familyLink, maxBodyBytes, h.sendLink))
	mux.Handle("POST /cis/v1/auth/link/email/authenticate", h.api(familyLink, maxBodyBytes, h.authenticateLink))
	mux.Handle("GET "+login.LinkPath, h.public(familyPlain, maxBodyBytes, h.openLink))

	// Sessions and refresh.
	mux.Handle("POST /cis/v1/auth/token/refresh", h.api(familyPlain, maxBodyBytes, h.refresh))
	mux.Handle("POST /cis/v1/auth/session/authenticate", h.api(familyPlain, maxBodyBytes, h.authenticateSession))
	mux.Handle("POST /cis/v1/auth/session/logout", h.api(familyPlain, maxBodyBytes, h.logout))
	mux.Handle("GET /cis/v1/auth/users/{user_id}/sessions", h.api(familyPlain, maxBodyBytes, h.listSessions))
	mux.Handle("DELETE /cis/v1/auth/users/{user_id}/sessions", h.api(familyPlain, maxBodyBytes, h.revokeSessions))

	// Dev mode only: where every email and SMS lands.
	if h.DevInbox != nil {
		mux.Handle("GET /dev/inbox", h.public(familyPlain, maxBodyBytes, h.devInbox))
		mux.Handle("GET /dev/inbox/messages", h.public(familyPlain, maxBodyBytes, h.devInboxJSON))
		mux.Handle("DELETE /dev/inbox/messages", h.public(familyPlain, maxBodyBytes, h.clearDevInbox))
	}
	if h.DevInbox != nil && h.DevAppID != "" {
		mux.Handle("GET "+DevCompletePath, h.public(familyPlain, maxBodyBytes, h.devComplete))
		mux.Handle("POST "+DevCompletePath, h.public(familyPlain, maxBodyBytes, h.devExchange))
	}
}

// issuerPath is the path of LATCHKEY_ISSUER when it is on this server.
func (h *handler) issuerPath() string {
	u, err := url.Parse(h.Issuer.URL())
	if err != nil || u.Path == "" {
		return "/cis/oidc"
	}
	return strings.TrimRight(u.Path, "/")
}
