package httpapi

import (
	"bytes"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/login"
	"github.com/latchkeyhq/latchkey/sessions"
)

// DevCompletePath is where the demo app's magic links land in dev mode: a
// page that shows the code, the backend call that exchanges it, and a
// button that makes that call as the demo app.
const DevCompletePath = "/dev/complete"

//go:embed devcomplete.html
var devCompleteHTML string

var devCompletePage = template.Must(template.New("complete").Parse(devCompleteHTML))

// devCompletePolicy lets the page post its one form to itself and nothing
// else: no script, no frame, no other origin.
const devCompletePolicy = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// devCompleteView is what the page shows.
type devCompleteView struct {
	Code, State   string
	Base          string
	ClientID      string
	Tokens        *sessions.Tokens
	IDTokenClaims string
	Error         string
}

// devComplete is GET /dev/complete?code=...&state=...: where the demo app's
// magic links redirect. It consumes nothing; the code is spent only by the
// exchange.
func (h *handler) devComplete(w http.ResponseWriter, r *http.Request) error {
	app, err := h.Store.GetApp(r.Context(), h.DevAppID)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	v := devCompleteView{Code: q.Get("code"), State: q.Get("state"), Base: h.PublicURL, ClientID: app.ClientID}
	status := http.StatusOK
	if v.Code == "" {
		status, v.Error = http.StatusBadRequest, "This page expects a magic link's code in its address (?code=...)."
	}
	return writeDevComplete(w, status, v)
}

// devExchange is POST /dev/complete: the button. It exchanges the code for
// tokens server-side as the demo app's backend would, and shows them.
func (h *handler) devExchange(w http.ResponseWriter, r *http.Request) error {
	if !h.sameOrigin(r) {
		return latchkey.Errorf(latchkey.CodeForbidden, "The exchange must be posted from this server's own page")
	}
	if err := r.ParseForm(); err != nil {
		return latchkey.Errorf(latchkey.CodeInvalid, "The form could not be read")
	}
	app, err := h.Store.GetApp(r.Context(), h.DevAppID)
	if err != nil {
		return err
	}
	v := devCompleteView{Code: r.PostForm.Get("code"), Base: h.PublicURL, ClientID: app.ClientID}
	tokens, err := h.Login.AuthenticateLink(r.Context(), app, login.AuthenticateLink{Code: v.Code})
	switch code := latchkey.ErrorCode(err); {
	case err == nil:
		v.Tokens, v.IDTokenClaims = &tokens, jwtPayload(tokens.IDToken)
		return writeDevComplete(w, http.StatusOK, v)
	case statusOf[code] >= 400 && statusOf[code] < 500:
		v.Error = latchkey.ErrorMessage(err) + ": a magic link's code works once and for a limited time."
		return writeDevComplete(w, statusOf[code], v)
	default:
		return err
	}
}

// sameOrigin reports whether a POST came from a page of this server: a
// browser names the posting page's origin, and another site's differs.
func (h *handler) sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || origin == "null" {
		return r.Header.Get("Sec-Fetch-Site") != "cross-site"
	}
	public, err := url.Parse(h.PublicURL)
	return err == nil && strings.EqualFold(origin, public.Scheme+"://"+public.Host)
}

// writeDevComplete writes the page: never cached, no referrer, escaped by
// html/template, and under a policy that runs nothing.
func writeDevComplete(w http.ResponseWriter, status int, v devCompleteView) error {
	var page bytes.Buffer
	if err := devCompletePage.Execute(&page, v); err != nil {
		return err
	}
	noStore(w)
	w.Header().Set("Content-Security-Policy", devCompletePolicy)
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, err := w.Write(page.Bytes())
	return err
}

// jwtPayload returns a JWT's claims, indented, for a person to read. The
// token was just signed by this server, so it is shown, not verified.
func jwtPayload(jwt string) string {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return ""
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var out bytes.Buffer
	if json.Indent(&out, raw, "", "  ") != nil {
		return ""
	}
	return out.String()
}
