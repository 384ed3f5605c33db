package httpapi

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"time"

	"github.com/latchkeyhq/latchkey/internal/httpobs"
)

type ctxKey int

const (
	requestIDKey ctxKey = iota
	callerKey           // the caller's address (address.go)
)

// requestID returns the request's ID, set by the middleware.
func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// validRequestID accepts a caller's X-Request-Id only if it is short and
// plain, so it cannot inject anything into logs.
var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// middleware wraps every request: a request ID, the caller's address,
// security headers, panic recovery, Connection: close while draining, and
// one access-log line. The log line names the route pattern,
// not the raw path or query, so identifiers and codes in URLs stay out of
// the logs.
//
// Like a ServeMux, it sets the Pattern of the request it was given to the
// route that served it ("" when none matched), so that middleware around
// the handler (metrics, traces) names the route, never the raw path.
func (h *handler) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, given *http.Request) {
		start := h.Now()
		id := given.Header.Get("X-Request-Id")
		if !validRequestID.MatchString(id) {
			id = h.newRequestID()
		}
		ctx := context.WithValue(given.Context(), requestIDKey, id)
		r := given.WithContext(context.WithValue(ctx, callerKey, h.caller(given)))
		rec := &httpobs.Recorder{}
		rec.Reset(w)
		hdr := rec.Header()
		hdr.Set("X-Request-Id", id)
		hdr.Set("X-Content-Type-Options", "nosniff")
		hdr.Set("Referrer-Policy", "no-referrer")
		hdr.Set("X-Frame-Options", "DENY")
		if h.draining() {
			// The client opens its next connection elsewhere; the server
			// closes this one once the answer is written.
			hdr.Set("Connection", "close")
		}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				h.Log.ErrorContext(r.Context(), "panic serving request", "request_id", id, "panic", fmt.Sprint(p),
					"stack", string(debug.Stack()))
				if !rec.Wrote() {
					writeJSON(rec, http.StatusInternalServerError, map[string]any{"message": "Internal server error", "error_code": 500})
				}
			}
			given.Pattern = r.Pattern
			h.logRequest(r, rec, start)
		}()
		next.ServeHTTP(rec, r)
	})
}

func (h *handler) logRequest(r *http.Request, rec *httpobs.Recorder, start time.Time) {
	route := r.Pattern
	if route == "" {
		route = httpobs.Unmatched
	}
	level := slog.LevelInfo
	switch {
	case rec.Status == http.StatusServiceUnavailable:
		level = slog.LevelWarn // a state (overloaded, database away), not a bug; its cause is logged apart
	case rec.Status >= 500:
		level = slog.LevelError
	}
	h.Log.LogAttrs(r.Context(), level, "request",
		slog.String("request_id", requestID(r.Context())),
		slog.String("method", r.Method),
		slog.String("route", route),
		slog.Int("status", rec.Status),
		slog.Float64("latency_ms", float64(h.Now().Sub(start).Microseconds())/1000),
		slog.Int("bytes", rec.Bytes),
	)
}

func (h *handler) newRequestID() string {
	b := make([]byte, 8)
	_, _ = io.ReadFull(h.Rand, b)
	return hex.EncodeToString(b)
}

// jsonFallback answers requests that match no route (404) or match a route
// with another method (405) in JSON, as every Latchkey answer is.
func jsonFallback(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fallback, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		probe := &headerProbe{header: http.Header{}}
		fallback.ServeHTTP(probe, r)
		if allow := probe.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		switch probe.status {
		case http.StatusMethodNotAllowed:
			writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"message": "Method not allowed", "error_code": 405})
		case http.StatusMovedPermanently, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
			mux.ServeHTTP(w, r)
		default:
			writeJSON(w, http.StatusNotFound, map[string]any{"message": "Not found", "error_code": 404})
		}
	})
}

// headerProbe records what the mux's fallback handler would answer, and
// discards its plain-text body.
type headerProbe struct {
	header http.Header
	status int
}

func (p *headerProbe) Header() http.Header         { return p.header }
func (p *headerProbe) Write(b []byte) (int, error) { return len(b), nil }
func (p *headerProbe) WriteHeader(code int)        { p.status = code }
