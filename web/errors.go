package web

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/flowkv/flowkv/store"
)

// ErrorBody is the JSON of every error answer: {"error": {"code", "message"}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inside of ErrorBody.
type ErrorDetail struct {
	Code    store.Code `json:"code"`
	Message string     `json:"message"`
	// Problems lists each problem of a refused document (a flow's, with
	// block, field, line, column and message) when the error has them.
	Problems any `json:"problems,omitempty"`
}

// problemLister is an error that lists the problems of a refused
// document (blocks.ValidationError).
type problemLister interface{ ErrorProblems() any }

// StatusOf maps an error code to its HTTP status (docs/design.md, Errors).
func StatusOf(code store.Code) int {
	switch code {
	case store.CodeInvalidArgument:
		return http.StatusBadRequest
	case store.CodeNotFound:
		return http.StatusNotFound
	case store.CodeAlreadyExists, store.CodeConflict:
		return http.StatusConflict
	case store.CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	case store.CodeAccessDenied:
		return http.StatusForbidden
	case store.CodeUnauthenticated:
		return http.StatusUnauthorized
	case store.CodeTimeout:
		return http.StatusRequestTimeout
	case store.CodeResourceExhausted:
		return http.StatusTooManyRequests
	default:
		return http.StatusServiceUnavailable
	}
}

// codeOfStatus maps a status that did not come from a coded error (echo's
// router, body limits) to a code.
func codeOfStatus(status int) store.Code {
	switch status {
	case http.StatusNotFound:
		return store.CodeNotFound
	case http.StatusUnauthorized:
		return store.CodeUnauthenticated
	case http.StatusForbidden:
		return store.CodeAccessDenied
	case http.StatusConflict:
		return store.CodeConflict
	case http.StatusRequestEntityTooLarge:
		return store.CodeTooLarge
	case http.StatusRequestTimeout, http.StatusGatewayTimeout:
		return store.CodeTimeout
	case http.StatusTooManyRequests:
		return store.CodeResourceExhausted
	case http.StatusServiceUnavailable, http.StatusInternalServerError:
		return store.CodeUnavailable
	}
	if status >= 500 {
		return store.CodeUnavailable
	}
	return store.CodeInvalidArgument
}

// describe turns any handler error into (status, code, message). Messages
// of uncoded errors are generic (store.Message) so no SQL, path or stack
// ever reaches a client.
func describe(err error, c echo.Context) (int, store.Code, string) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge, store.CodeTooLarge,
			fmt.Sprintf("the request body is larger than the limit of %d bytes", mbe.Limit)
	}
	var se *store.Error
	if errors.As(err, &se) {
		return StatusOf(se.Code), se.Code, store.Text(err)
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		code := codeOfStatus(he.Code)
		status := he.Code
		if status >= 500 {
			status = StatusOf(code)
		}
		var msg string
		switch he.Code {
		// The method and path are the client's own, cut short so an
		// answer is never as large as what was sent.
		case http.StatusNotFound:
			msg = "no route for " + clip(c.Request().Method, maxEchoedMethod) + " " + clip(c.Request().URL.EscapedPath(), maxEchoedPath)
		case http.StatusMethodNotAllowed:
			msg = "method " + clip(c.Request().Method, maxEchoedMethod) + " is not allowed on " + clip(c.Request().URL.EscapedPath(), maxEchoedPath)
		default:
			if m, ok := he.Message.(string); ok && m != "" && status < 500 {
				msg = strings.ToLower(m[:1]) + m[1:]
			} else {
				msg = http.StatusText(status)
			}
		}
		return status, code, msg
	}
	code := store.CodeOf(err)
	return StatusOf(code), code, store.Text(err)
}

// Bounds on what error messages repeat of a request.
const (
	maxEchoedMethod = 32
	maxEchoedPath   = 512
)

// logCode records the error code of the request's answer for its log line.
func logCode(c echo.Context, code store.Code) {
	if f := frameOf(c); f != nil {
		f.code = code
	}
}

// handleError is echo's HTTPErrorHandler: the one place errors become
// answers. Failures that are not the client's fault are logged in full.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, code, msg := describe(err, c)
	logCode(c, code)
	if code == store.CodeUnavailable {
		s.log.Error("request failed", "method", methodLabel(c.Request().Method), "path", clip(c.Request().URL.EscapedPath(), maxLoggedPath), "err", err)
	}
	if status == http.StatusUnauthorized {
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="flowkv"`)
	}
	var werr error
	if c.Request().Method == http.MethodHead {
		werr = c.NoContent(status)
	} else {
		detail := ErrorDetail{Code: code, Message: msg}
		var pl problemLister
		if errors.As(err, &pl) {
			detail.Problems = pl.ErrorProblems()
		}
		werr = c.JSON(status, ErrorBody{Error: detail})
	}
	if werr != nil {
		s.log.Debug("writing an error answer failed", "err", werr)
	}
}
