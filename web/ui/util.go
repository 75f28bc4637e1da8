package ui

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"strconv"
)

func itoa(n int) string { return strconv.Itoa(n) }

func equalSecret(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

func asSyntax(err error, target **json.SyntaxError) bool { return errors.As(err, target) }
