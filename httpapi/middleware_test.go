package httpapi

import (
	"bytes"
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestPanicBecomesA500WithoutDetail(t *testing.T) {
	var logs bytes.Buffer
	h := &handler{Deps: Deps{Now: time.Now, Rand: rand.Reader, Log: slog.New(slog.NewJSONHandler(&logs, nil))}}
	srv := h.middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("secret detail 42")
	}))
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/x", nil)
	req.Header.Set("X-Request-Id", "req-123")
	srv.ServeHTTP(rec, req)
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), `"message":"Internal server error"`) {
		t.Fatalf("panic answer: %d %s", rec.Code, rec.Body)
	}
	if strings.Contains(rec.Body.String(), "secret detail") {
		t.Fatal("the panic value reached the client")
	}
	if !strings.Contains(logs.String(), "secret detail 42") || !strings.Contains(logs.String(), "req-123") {
		t.Fatalf("the panic was not logged with its request ID: %s", logs.String())
	}
}

func TestRequestIDFromCallerIsSanitised(t *testing.T) {
	var logs bytes.Buffer
	h := &handler{Deps: Deps{Now: time.Now, Rand: rand.Reader, Log: slog.New(slog.NewTextHandler(&logs, nil))}}
	srv := h.middleware(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) }))
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/x?code=123456", nil)
	req.Header.Set("X-Request-Id", "evil\nlevel=ERROR")
	srv.ServeHTTP(rec, req)
	if id := rec.Header().Get("X-Request-Id"); id == "" || strings.Contains(id, "evil") {
		t.Fatalf("request ID %q; want a fresh one replacing the unsafe value", id)
	}
	if strings.Contains(logs.String(), "123456") {
		t.Fatal("the query string reached the access log")
	}
}
