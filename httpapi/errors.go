package httpapi

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/latchkeyhq/latchkey"
	"github.com/latchkeyhq/latchkey/oauth2"
)

// family is an endpoint family: Mosaic writes errors differently in each,
// and Latchkey answers each family in its own shape.
type family int

const (
	// familyUsers is the Users API: {"message", "error_code": <status>},
	// with message a list of strings on 400 and ts_error_code on 409.
	familyUsers family = iota
	// familyOTP is the one-time passcode API: {"error_code": "<symbol>",
	// "message"}.
	familyOTP
	// familyLink is the magic-link API: {"error_code": "<status>",
	// "message"}.
	familyLink
	// familyOAuth is the token and revocation endpoints: RFC 6749 §5.2
	// {"error", "error_description"}, plus "message" and Mosaic's
	// "error_code" (the HTTP status as a number, as its token and OIDC
	// descriptions' error bodies carry it); "error" is "slow_down" when
	// rate limited.
	familyOAuth
	// familyPlain is everything else: {"message", "error_code": <status>}.
	familyPlain
)

// statusOf maps each error code to its HTTP status.
var statusOf = map[latchkey.Code]int{
	latchkey.CodeInvalid:      http.StatusBadRequest,
	latchkey.CodeUnsupported:  http.StatusBadRequest,
	latchkey.CodeUnauthorized: http.StatusUnauthorized,
	latchkey.CodeForbidden:    http.StatusForbidden,
	latchkey.CodeNotFound:     http.StatusNotFound,
	latchkey.CodeConflict:     http.StatusConflict,
	latchkey.CodeTooLarge:     http.StatusRequestEntityTooLarge,
	latchkey.CodeRateLimited:  http.StatusTooManyRequests,
	latchkey.CodeInternal:     http.StatusInternalServerError,
	latchkey.CodeUnavailable:  http.StatusServiceUnavailable,

	latchkey.CodeUserNotFound:          http.StatusNotFound,
	latchkey.CodeEmailMissing:          http.StatusNotFound,
	latchkey.CodePhoneMissing:          http.StatusNotFound,
	latchkey.CodeUserNotActive:         http.StatusForbidden,
	latchkey.CodeProviderNotConfigured: http.StatusBadRequest,
	latchkey.CodeInvalidCredentials:    http.StatusBadRequest,
	latchkey.CodePasscodeExpired:       http.StatusBadRequest,
	latchkey.CodeLocked:                http.StatusForbidden,
}

// otpSymbolOf gives the Mosaic error_code symbol of the generic codes on
// the one-time passcode endpoints.
var otpSymbolOf = map[latchkey.Code]string{
	latchkey.CodeInvalid:     "system_invalid_input",
	latchkey.CodeUnsupported: "system_invalid_input",
	latchkey.CodeTooLarge:    "system_invalid_input",
}

// writeError is the one place an error becomes an HTTP response. Errors the
// caller may see carry their code and message; anything else is logged with
// the request ID and answered with a bare 500 (or 503 when the database is
// down), so no internal detail reaches the client.
func (h *handler) writeError(w http.ResponseWriter, r *http.Request, fam family, err error) {
	var oerr *oauth2.Error
	if errors.As(err, &oerr) {
		h.writeOAuthError(w, r, oerr)
		return
	}
	code := latchkey.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		status, code = http.StatusInternalServerError, latchkey.CodeInternal
	}
	message := latchkey.ErrorMessage(err)
	h.logError(r, status, err)
	setRetryAfter(w, latchkey.RetryAfter(err))
	if code == latchkey.CodeInternal {
		message = "Internal server error"
	}
	if code == latchkey.CodeUnauthorized {
		// Every rejected bearer token gets Mosaic's one answer, whatever
		// the endpoint family.
		writeJSON(w, status, map[string]any{"message": message, "error_code": status})
		return
	}
	if fam == familyOAuth {
		h.writeOAuthError(w, r, &oauth2.Error{Code: oauthCodeOf(status), Description: message, Status: status})
		return
	}
	writeJSON(w, status, errorBody(fam, code, status, message))
}

// setRetryAfter sends a wait as Retry-After in whole seconds, rounded up
// so that a caller who waits that long is not refused again (RFC 9110
// §10.2.3).
func setRetryAfter(w http.ResponseWriter, d time.Duration) {
	if d <= 0 {
		return
	}
	secs := (d + time.Second - 1) / time.Second
	w.Header().Set("Retry-After", strconv.FormatInt(int64(secs), 10))
}

// errorBody shapes an error for its endpoint family.
func errorBody(fam family, code latchkey.Code, status int, message string) map[string]any {
	switch fam {
	case familyOTP:
		symbol, ok := otpSymbolOf[code]
		if !ok {
			symbol = string(code)
		}
		return map[string]any{"error_code": symbol, "message": message}
	case familyLink:
		return map[string]any{"error_code": strconv.Itoa(status), "message": message}
	case familyUsers:
		body := map[string]any{"message": message, "error_code": status}
		if status == http.StatusBadRequest {
			body["message"] = []string{message}
		}
		if status == http.StatusConflict {
			body["ts_error_code"] = "identifier_taken"
		}
		return body
	default:
		return map[string]any{"message": message, "error_code": status}
	}
}

func oauthCodeOf(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "invalid_client"
	case http.StatusServiceUnavailable:
		return "temporarily_unavailable"
	case http.StatusTooManyRequests:
		// RFC 8628 §3.5's error for a client that must slow down at the
		// token endpoint.
		return "slow_down"
	case http.StatusInternalServerError:
		return "server_error"
	default:
		return "invalid_request"
	}
}

// writeOAuthError writes an RFC 6749 §5.2 error, with the "message" every
// Latchkey error carries, Mosaic's numeric "error_code" beside "error" (so
// a client written for either reads its own field), and the no-store
// headers of §5.1.
func (h *handler) writeOAuthError(w http.ResponseWriter, r *http.Request, e *oauth2.Error) {
	if e.Basic {
		w.Header().Set("WWW-Authenticate", `Basic realm="latchkey"`)
	}
	noStore(w)
	h.logError(r, e.Status, e)
	writeJSON(w, e.Status, map[string]any{"error": e.Code, "error_description": e.Description, "message": e.Description,
		"error_code": e.Status})
}

// logError records a failed request's cause. Client mistakes, and
// refusals that tell the caller when to come back (an overloaded server),
// are logged at debug level; server failures at error level with the
// whole cause.
func (h *handler) logError(r *http.Request, status int, err error) {
	level := slog.LevelDebug
	if status >= 500 && latchkey.RetryAfter(err) == 0 {
		level = slog.LevelError
	}
	h.Log.Log(r.Context(), level, "request failed", "request_id", requestID(r.Context()), "status", status, "err", err)
}
