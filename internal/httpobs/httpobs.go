// Package httpobs holds what the code that observes the API's requests
// (the access log, metrics and traces) shares: a ResponseWriter that
// remembers the status and size of the response, and the bounded names a
// request is observed by, its route pattern and its method, never its raw
// path.
package httpobs

import (
	"net/http"
	"strings"
)

// Recorder is a ResponseWriter that remembers the status of its response
// (200 until a header is written) and how many bytes of body were written.
type Recorder struct {
	http.ResponseWriter
	Status int
	Bytes  int
	wrote  bool
}

// Reset makes r record the response written to w.
func (r *Recorder) Reset(w http.ResponseWriter) {
	r.ResponseWriter, r.Status, r.Bytes, r.wrote = w, http.StatusOK, 0, false
}

// Wrote reports whether anything of the response was written.
func (r *Recorder) Wrote() bool { return r.wrote }

// WriteHeader records the first status written.
func (r *Recorder) WriteHeader(code int) {
	if !r.wrote {
		r.Status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *Recorder) Write(b []byte) (int, error) {
	r.wrote = true
	n, err := r.ResponseWriter.Write(b)
	r.Bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *Recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Unmatched is the route of a request that no route served.
const Unmatched = "unmatched"

// Route is the path of a route pattern ("POST /cis/v1/auth/otp/send"
// gives "/cis/v1/auth/otp/send"); Unmatched for none.
func Route(pattern string) string {
	if pattern == "" {
		return Unmatched
	}
	if _, path, ok := strings.Cut(pattern, " "); ok {
		return path
	}
	return pattern
}

// Method is a request's method, or "other" for one that HTTP does not
// define: a client may send any word.
func Method(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete,
		http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	default:
		return "other"
	}
}
