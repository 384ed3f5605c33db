package httpapi

import (
	_ "embed"
	"net/http"
)

// openAPIDocument is Latchkey's OpenAPI 3.1 description of this package's
// whole HTTP surface. The HTTP tests validate every response they receive
// against it, and fail when it and routes.go disagree on a route.
//
//go:embed openapi.json
var openAPIDocument []byte

// openAPI is GET /openapi.json. The document changes only with the binary,
// so it may be cached like the discovery document.
func (h *handler) openAPI(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", jwksMaxAge)
	_, err := w.Write(openAPIDocument)
	return err
}
