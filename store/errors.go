package store

import (
	"context"
	"errors"
	"fmt"
)

// Code is the error word every face reports (HTTP, JavaScript, CLI).
type Code string

// The error codes (docs/design.md, Errors).
const (
	CodeInvalidArgument Code = "invalid_argument"
	CodeNotFound        Code = "not_found"
	CodeAlreadyExists   Code = "already_exists"
	CodeConflict        Code = "conflict"
	CodeTooLarge        Code = "too_large"
	CodeAccessDenied    Code = "access_denied"
	CodeUnauthenticated Code = "unauthenticated"
	CodeTimeout         Code = "timeout"
	CodeUnavailable     Code = "unavailable"
	// CodeResourceExhausted is a quota, rate or concurrency limit: the
	// call may succeed later or with a larger quota.
	CodeResourceExhausted Code = "resource_exhausted"
)

// Codes lists every code, in the order the documentation gives them. It is
// the one list the faces (JavaScript, OpenAPI, CLI) check codes against.
var Codes = []Code{
	CodeInvalidArgument, CodeNotFound, CodeAlreadyExists, CodeConflict, CodeTooLarge,
	CodeAccessDenied, CodeUnauthenticated, CodeTimeout, CodeUnavailable, CodeResourceExhausted,
}

// Known reports whether c is one of Codes.
func Known(c Code) bool {
	for _, k := range Codes {
		if k == c {
			return true
		}
	}
	return false
}

// Error is an error with a Code. errors.Is(err, ErrNotFound) matches any
// *Error of the same code, so wrapped messages keep their identity.
type Error struct {
	Code Code
	Msg  string
}

func (e *Error) Error() string {
	if e.Msg == "" {
		return string(e.Code)
	}
	return string(e.Code) + ": " + e.Msg
}

// Is matches errors of the same code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Sentinel errors, one per code.
var (
	ErrInvalidArgument = &Error{Code: CodeInvalidArgument}
	ErrNotFound        = &Error{Code: CodeNotFound}
	ErrExists          = &Error{Code: CodeAlreadyExists}
	ErrConflict        = &Error{Code: CodeConflict}
	ErrTooLarge        = &Error{Code: CodeTooLarge}
	ErrAccessDenied    = &Error{Code: CodeAccessDenied}
	ErrUnauthenticated = &Error{Code: CodeUnauthenticated}
	ErrTimeout         = &Error{Code: CodeTimeout}
	ErrUnavailable     = &Error{Code: CodeUnavailable}
	ErrExhausted       = &Error{Code: CodeResourceExhausted}
)

// Errorf returns an *Error with code and a formatted message.
func Errorf(code Code, format string, args ...any) error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// CodeOf returns the code of err: the code of the first *Error in its chain,
// timeout for context deadlines and cancellations, unavailable otherwise
// (a database or network failure). CodeOf(nil) is "".
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return CodeTimeout
	}
	return CodeUnavailable
}

// Text returns the message of err that is safe to show a user, without
// its code word: the message of a coded *Error (the code word itself when
// it has none), or a generic text for other failures (which may hold SQL
// or internal detail). Faces that report the code separately (HTTP's
// {"code", "message"}, a JavaScript Error's code, a run record) use it.
// Text(nil) is "".
func Text(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		if e.Msg == "" {
			return string(e.Code)
		}
		return e.Msg
	}
	switch CodeOf(err) {
	case CodeTimeout:
		return "the operation did not finish in time"
	default:
		return "the data store could not complete the operation"
	}
}

// Message returns err's code word and Text, "code: text" — one line that
// holds the code, as the CLI and logs print it. Message(nil) is "".
func Message(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Error()
	}
	return string(CodeOf(err)) + ": " + Text(err)
}
