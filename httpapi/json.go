package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"

	"github.com/latchkeyhq/latchkey"
)

// writeJSON writes v as the JSON response body with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// noStore marks a response as never cacheable (RFC 6749 §5.1): it holds
// tokens or personal data.
func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
}

// decodeJSON reads the request body, which must be one JSON object, into v.
// Unknown fields are ignored, since Mosaic clients send fields Latchkey may
// not know; a wrong type, malformed JSON or trailing data is a 400 that
// names the problem, and an oversized body a 413.
func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		if tooLarge(err) {
			return errTooLarge
		}
		return latchkey.Errorf(latchkey.CodeInvalid, "the request body must hold a single JSON object")
	}
	if hasBadText(reflect.ValueOf(v)) {
		return errBadText
	}
	return nil
}

var errTooLarge = latchkey.Errorf(latchkey.CodeTooLarge, "the request body is too large")

func tooLarge(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}

func jsonError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case tooLarge(err):
		return errTooLarge
	case errors.Is(err, io.EOF):
		return latchkey.Errorf(latchkey.CodeInvalid, "the request body must be a JSON object")
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return latchkey.Errorf(latchkey.CodeInvalid, "the request body must be a JSON object")
		}
		return latchkey.Errorf(latchkey.CodeInvalid, "%s must be %s", typeErr.Field, jsonKind(typeErr.Type.Kind().String()))
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
		return latchkey.Errorf(latchkey.CodeInvalid, "the request body is not valid JSON")
	default:
		return &latchkey.Error{Code: latchkey.CodeInvalid, Message: "the request body could not be read", Err: err}
	}
}

// jsonKind names a Go kind the way a JSON API user thinks of it.
func jsonKind(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	case "int", "int64", "float64", "uint", "int32":
		return "a number"
	default:
		return fmt.Sprintf("a %s", kind)
	}
}
