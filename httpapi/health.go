package httpapi

import (
	"context"
	"net/http"
	"time"
)

// readyTimeout bounds the readiness probe's ping: shorter than the
// database deadline of requests, so a load balancer's probe gets its
// answer before giving up on its own.
const readyTimeout = time.Second

// healthz answers 200 while the process serves requests.
func (h *handler) healthz(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

// readyz answers 200 when the database answers within readyTimeout, 503
// otherwise or once the server is draining, so a load balancer stops
// sending requests to a node that cannot serve them or is stopping.
func (h *handler) readyz(w http.ResponseWriter, r *http.Request) error {
	if h.draining() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "draining",
			"message": "The server is shutting down", "error_code": 503})
		return nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	if err := h.Store.Ping(ctx); err != nil {
		h.Log.WarnContext(r.Context(), "not ready", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable",
			"message": "The database is unreachable", "error_code": 503})
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}
