package httpapi

import (
	"net/http"
)

// healthz answers 200 while the process serves requests.
func (h *handler) healthz(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

// readyz answers 200 when the database answers, 503 otherwise, so a load
// balancer stops sending requests to a node that cannot serve them.
func (h *handler) readyz(w http.ResponseWriter, r *http.Request) error {
	if err := h.Store.Ping(r.Context()); err != nil {
		h.Log.Warn("not ready", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable",
			"message": "The database is unreachable", "error_code": 503})
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}
