package latchkey

import (
	"errors"
	"fmt"
	"time"
)

// Code classifies an error for callers. The HTTP layer maps each code to a
// status and to the body shape of the endpoint family that returns it, so a
// code says what went wrong, never how it is written on the wire.
type Code string

// Generic codes, usable by any endpoint family.
const (
	CodeInvalid      Code = "invalid"       // the request is malformed or breaks a rule (400)
	CodeUnauthorized Code = "unauthorized"  // the caller's credentials are missing or wrong (401)
	CodeForbidden    Code = "forbidden"     // the caller may not do this (403)
	CodeNotFound     Code = "not_found"     // the thing named does not exist for this caller (404)
	CodeConflict     Code = "conflict"      // the change collides with existing state (409)
	CodeTooLarge     Code = "too_large"     // the request body is over the size cap (413)
	CodeRateLimited  Code = "rate_limited"  // the caller must slow down (429)
	CodeInternal     Code = "internal"      // a bug or an unexpected failure (500)
	CodeUnavailable  Code = "unavailable"   // a dependency such as the database is down (503)
	CodeUnsupported  Code = "not_supported" // the feature exists in Mosaic but not here (400)
)

// One-time login codes, spelled as Mosaic's error_code symbols.
const (
	CodeUserNotFound          Code = "user_not_found"                        // 404
	CodeEmailMissing          Code = "user_email_address_missing"            // 404
	CodePhoneMissing          Code = "user_phone_number_missing"             // 404
	CodeUserNotActive         Code = "user_not_active"                       // 403
	CodeProviderNotConfigured Code = "external_provider_configuration_error" // 400
	CodeInvalidCredentials    Code = "auth_invalid_credentials"              // 400
	CodePasscodeExpired       Code = "auth_otp_passcode_expired"             // 400
	CodeLocked                Code = "auth_locked"                           // 403
)

// Error is an error that is safe to show to the caller: Message is written for
// the developer integrating with Latchkey and never contains a secret. Err, if
// set, is the underlying cause; it is logged, never returned to the client.
type Error struct {
	Code    Code
	Message string
	Err     error
	// RetryAfter, when positive, is how long the caller should wait before
	// trying again (a rate limit, an overloaded server); the HTTP layer
	// sends it as Retry-After.
	RetryAfter time.Duration
}

// Error returns the message and, when present, the cause.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Unwrap returns the cause so that errors.Is and errors.As see through Error.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain. A store
// sentinel maps to its code; anything else is CodeInternal, and nil is "".
func ErrorCode(err error) Code {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	case errors.Is(err, ErrNotFound):
		return CodeNotFound
	case errors.Is(err, ErrConflict):
		return CodeConflict
	case errors.Is(err, ErrUnavailable):
		return CodeUnavailable
	default:
		return CodeInternal
	}
}

// RetryAfter returns how long the caller of a failed request should wait
// before trying again: the RetryAfter of the first *Error in err's chain,
// or 0 when none says.
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// ErrorMessage returns the caller-safe message of err. Errors that are not an
// *Error carry internal detail, so they get a fixed message instead.
func ErrorMessage(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Message
	case errors.Is(err, ErrNotFound):
		return "Not found"
	case errors.Is(err, ErrConflict):
		return "Conflict"
	case errors.Is(err, ErrUnavailable):
		return "Service temporarily unavailable"
	default:
		return "Internal server error"
	}
}

// Store sentinels. Every Store implementation returns these (possibly
// wrapped) so that callers and the conformance suite can rely on them.
var (
	// ErrNotFound means the requested row does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict means a unique value is already taken, or a conditional
	// update found the row no longer in the expected state.
	ErrConflict = errors.New("conflict")
	// ErrUnavailable means the database could not be reached, or did not
	// answer in time; the operation may be retried. (A write that timed out
	// waiting for its commit's answer may still have been committed, as
	// with any database.)
	ErrUnavailable = errors.New("database unavailable")
)
