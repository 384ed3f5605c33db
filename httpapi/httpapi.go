// Package httpapi is Latchkey's HTTP interface: the Mosaic-compatible JSON
// API, the OAuth/OIDC endpoints and the health checks. routes.go lists the
// whole surface; handlers return errors and writeError (errors.go) is the
// only code that turns an error into a response.
//
// The package depends on the business packages (apps, users, oauth2, token)
// and the domain, never on a database or delivery adapter.
package httpapi

import (
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/login"
	"github.com/latchkeyhq/latchkey/oauth2"
	"github.com/latchkeyhq/latchkey/sessions"
	"github.com/latchkeyhq/latchkey/token"
	"github.com/latchkeyhq/latchkey/users"
)

// Body size caps. A login request is small; user profiles may carry custom
// data.
const (
	maxBodyBytes     = 64 << 10
	maxUserBodyBytes = 1 << 20
)

// Deps is everything the HTTP layer needs.
type Deps struct {
	Log      *slog.Logger
	Store    latchkey.Store // for readiness
	OAuth    *oauth2.Server
	Issuer   *token.Issuer
	Users    *users.Service
	Login    *login.Service
	Sessions *sessions.Service
	// DevInbox, set in dev mode only, serves /dev/inbox.
	DevInbox latchkey.DevInboxStore
	// DevAppID, set in dev mode only, is the demo app, whose magic links
	// land on DevCompletePath.
	DevAppID string
	// TrustedProxies are the load balancers whose X-Forwarded-For gives
	// the caller's address (LATCHKEY_TRUSTED_PROXIES).
	TrustedProxies []netip.Prefix
	PublicURL      string // no trailing slash
	Now            func() time.Time
	Rand           io.Reader
	// Draining is closed when the server starts to stop: /readyz then
	// answers 503 and every answer closes its connection.
	Draining <-chan struct{}
	// MaxInFlight bounds the requests served at once, the probes aside
	// (DefaultMaxInFlight when 0); more are refused with 503.
	MaxInFlight int
	// Busy, when set, is told of every request refused over the bound on
	// requests in flight, with the bound it met (BoundInFlight or
	// BoundSends).
	Busy func(bound string)
}

// handler holds the dependencies the route handlers share.
type handler struct {
	Deps
	admission *admission // the requests in flight (admission.go)
}

// draining reports whether the server has started to stop.
func (h *handler) draining() bool {
	select {
	case <-h.Draining:
		return true
	default:
		return false
	}
}

// NewHandler returns the complete HTTP handler.
func NewHandler(d Deps) http.Handler {
	h := &handler{Deps: d}
	if h.MaxInFlight <= 0 {
		h.MaxInFlight = DefaultMaxInFlight()
	}
	h.admission = newAdmission(h.MaxInFlight)
	mux := http.NewServeMux()
	h.routes(mux)
	return h.middleware(jsonFallback(mux))
}

// endpoint is a handler that returns its error instead of writing it.
type endpoint func(w http.ResponseWriter, r *http.Request) error

// appEndpoint is an endpoint called with an authenticated client access
// token; app is the calling application.
type appEndpoint func(w http.ResponseWriter, r *http.Request, app latchkey.App) error

// public serves an endpoint that needs no bearer token, within the bound
// on requests in flight.
func (h *handler) public(fam family, maxBody int64, fn endpoint) http.Handler {
	return h.admit(fam, h.probe(fam, maxBody, fn))
}

// probe serves an endpoint outside the bound on requests in flight: the
// health probes, which must answer however busy the server is.
func (h *handler) probe(fam family, maxBody int64, fn endpoint) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		err := checkURL(r)
		if err == nil {
			err = fn(w, r)
		}
		if err != nil {
			h.writeError(w, r, fam, err)
		}
	})
}

// api serves an endpoint of the /cis/v1 API: the caller must present a valid
// client access token.
func (h *handler) api(fam family, maxBody int64, fn appEndpoint) http.Handler {
	return h.public(fam, maxBody, func(w http.ResponseWriter, r *http.Request) error {
		app, err := h.OAuth.AuthenticateBearer(r.Context(), bearerHeader(r))
		if err != nil {
			return err
		}
		noStore(w)
		return fn(w, r, app)
	})
}

// management serves an endpoint that acts on the whole tenant: only a
// management app's token may call it.
func (h *handler) management(fam family, maxBody int64, fn appEndpoint) http.Handler {
	return h.api(fam, maxBody, func(w http.ResponseWriter, r *http.Request, app latchkey.App) error {
		if !app.Management {
			return latchkey.Errorf(latchkey.CodeForbidden, "This endpoint requires a management application's token")
		}
		return fn(w, r, app)
	})
}

// maxAuthorizationHeader bounds the header before any token parsing.
const maxAuthorizationHeader = 8 << 10

func bearerHeader(r *http.Request) string {
	v := r.Header.Get("Authorization")
	if len(v) > maxAuthorizationHeader || len(r.Header.Values("Authorization")) > 1 {
		return ""
	}
	return v
}
