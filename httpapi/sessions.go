package httpapi

import (
	"net/http"

	"github.com/latchkeyhq/latchkey"
)

// refreshBody is ApiRefreshTokenRequestDto.
type refreshBody struct {
	RefreshToken string `json:"refresh_token"`
}

// refresh is POST /cis/v1/auth/token/refresh: the backend refresh, which
// rotates the refresh token and returns no session_id.
func (h *handler) refresh(w http.ResponseWriter, r *http.Request, app latchkey.App) error {
	var b refreshBody
	if err := decodeJSON(r, &b); err != nil {
		return err
	}
	if b.RefreshToken == "" {
		return latchkey.Errorf(latchkey.CodeInvalid, "refresh_token is required")
	}
	tokens, err := h.Sessions.Refresh(r.Context(), app, b.RefreshToken)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, tokens)
	return nil
}

// sessionBody is ApiSessionTokenRequest and ApiLogoutRequestDto.
type sessionBody struct {
	tokenOptions
}

// authenticateSession is POST /cis/v1/auth/session/authenticate: silent
// authentication from a live session.
func (h *handler) authenticateSession(w http.ResponseWriter, r *http.Request, app latchkey.App) error {
	var b sessionBody
	if err := decodeJSON(r, &b); err != nil {
		return err
	}
	opts, _, err := b.options(r)
	if err != nil {
		return err
	}
	tokens, err := h.Sessions.Authenticate(r.Context(), app, opts)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, tokens)
	return nil
}

// logout is POST /cis/v1/auth/session/logout: 204.
func (h *handler) logout(w http.ResponseWriter, r *http.Request, app latchkey.App) error {
	var b sessionBody
	if err := decodeJSON(r, &b); err != nil {
		return err
	}
	if b.SessionID == "" {
		return latchkey.Errorf(latchkey.CodeInvalid, "session_id is required")
	}
	if err := h.Sessions.Logout(r.Context(), app, b.SessionID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// userSession is ApiUserSessionResponse.
type userSession struct {
	SessionID      string `json:"session_id"`
	StartTime      string `json:"start_time"`
	ExpirationTime string `json:"expiration_time"`
}

// listSessions is GET /cis/v1/auth/users/{user_id}/sessions.
func (h *handler) listSessions(w http.ResponseWriter, r *http.Request, app latchkey.App) error {
	list, err := h.Sessions.List(r.Context(), app, r.PathValue("user_id"))
	if err != nil {
		return err
	}
	out := make([]userSession, len(list))
	for i, s := range list {
		out[i] = userSession{SessionID: s.ID, StartTime: dateTime(s.CreatedAt), ExpirationTime: dateTime(s.ExpiresAt)}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// revokeSessions is DELETE /cis/v1/auth/users/{user_id}/sessions: 204.
func (h *handler) revokeSessions(w http.ResponseWriter, r *http.Request, app latchkey.App) error {
	if err := h.Sessions.RevokeAll(r.Context(), app, r.PathValue("user_id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
