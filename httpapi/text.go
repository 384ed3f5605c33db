package httpapi

import (
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/latchkeyhq/latchkey"
)

// Every text a request carries (its path, its query, the strings of its
// JSON body) must be UTF-8 without NUL characters: no field has a use for
// them, and PostgreSQL refuses them, which would otherwise surface as a 500
// on one store and pass on the other.

var errBadText = latchkey.Errorf(latchkey.CodeInvalid, "the request must be UTF-8 text without NUL characters")

// validText reports whether s is UTF-8 without NUL.
func validText(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// checkURL refuses a request whose path or query holds bad text.
func checkURL(r *http.Request) error {
	if !validText(r.URL.Path) {
		return errBadText
	}
	if r.URL.RawQuery == "" {
		return nil
	}
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil // a malformed query is the handler's to refuse, or ignore
	}
	for name, values := range query {
		if !validText(name) {
			return errBadText
		}
		for _, v := range values {
			if !validText(v) {
				return errBadText
			}
		}
	}
	return nil
}

// hasBadText reports whether a decoded JSON value holds a string that is
// not valid text. Raw JSON kept as is (json.RawMessage) is stored and sent
// escaped, and is not looked into.
func hasBadText(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.String:
		return !validText(v.String())
	case reflect.Pointer, reflect.Interface:
		return !v.IsNil() && hasBadText(v.Elem())
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i) // embedded structs carry decoded fields too
			if (f.IsExported() || f.Anonymous) && hasBadText(v.Field(i)) {
				return true
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return false
		}
		for i := range v.Len() {
			if hasBadText(v.Index(i)) {
				return true
			}
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			if hasBadText(it.Key()) || hasBadText(it.Value()) {
				return true
			}
		}
	}
	return false
}
