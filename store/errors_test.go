package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/flowkv/flowkv/store"
)

func TestCodeOf(t *testing.T) {
	t.Parallel()
	wrapped := fmt.Errorf("sqlstore: insert a/b: %w", store.Errorf(store.CodeAlreadyExists, "a/b exists"))
	cases := []struct {
		err  error
		want store.Code
	}{
		{nil, ""},
		{store.ErrNotFound, store.CodeNotFound},
		{store.Errorf(store.CodeTooLarge, "big"), store.CodeTooLarge},
		{wrapped, store.CodeAlreadyExists},
		{context.DeadlineExceeded, store.CodeTimeout},
		{fmt.Errorf("query: %w", context.Canceled), store.CodeTimeout},
		{errors.New("database is locked"), store.CodeUnavailable},
	}
	for _, c := range cases {
		if got := store.CodeOf(c.err); got != c.want {
			t.Errorf("CodeOf(%v) = %q, want %q", c.err, got, c.want)
		}
	}
	if !errors.Is(wrapped, store.ErrExists) || errors.Is(wrapped, store.ErrNotFound) {
		t.Error("errors.Is does not match by code")
	}
	sentinels := map[store.Code]error{
		store.CodeInvalidArgument: store.ErrInvalidArgument, store.CodeNotFound: store.ErrNotFound,
		store.CodeAlreadyExists: store.ErrExists, store.CodeConflict: store.ErrConflict,
		store.CodeTooLarge: store.ErrTooLarge, store.CodeAccessDenied: store.ErrAccessDenied,
		store.CodeUnauthenticated: store.ErrUnauthenticated, store.CodeTimeout: store.ErrTimeout,
		store.CodeUnavailable: store.ErrUnavailable,
	}
	for code, sentinel := range sentinels {
		if store.CodeOf(sentinel) != code || sentinel.Error() != string(code) {
			t.Errorf("sentinel %v has code %q", sentinel, store.CodeOf(sentinel))
		}
		if !errors.Is(store.Errorf(code, "x"), sentinel) {
			t.Errorf("Errorf(%s) is not %v", code, sentinel)
		}
	}
}

func TestMessage(t *testing.T) {
	t.Parallel()
	if got := store.Message(store.Errorf(store.CodeNotFound, "orders/o-1 not found")); got != "not_found: orders/o-1 not found" {
		t.Errorf("Message = %q", got)
	}
	leaky := errors.New(`pq: relation "entries" does not exist at SELECT secret FROM x`)
	got := store.Message(fmt.Errorf("sqlstore: get: %w", leaky))
	if strings.Contains(got, "SELECT") || !strings.HasPrefix(got, "unavailable") {
		t.Errorf("Message leaks internals: %q", got)
	}
	if got := store.Message(context.DeadlineExceeded); !strings.HasPrefix(got, "timeout") {
		t.Errorf("Message(deadline) = %q", got)
	}
}

// Text is Message without the code word, for faces that report the code
// beside it; every error's Message is its code, ": " and its Text.
func TestText(t *testing.T) {
	t.Parallel()
	leaky := fmt.Errorf("sqlstore: get: %w", errors.New(`pq: SELECT secret FROM x`))
	for _, c := range []struct {
		err  error
		want string
	}{
		{store.Errorf(store.CodeNotFound, "orders/o-1 not found"), "orders/o-1 not found"},
		{fmt.Errorf("web: %w", store.Errorf(store.CodeConflict, "entry a/b is at version 2")), "entry a/b is at version 2"},
		{store.ErrTooLarge, "too_large"},
		{context.DeadlineExceeded, "the operation did not finish in time"},
		{leaky, "the data store could not complete the operation"},
		{nil, ""},
	} {
		if got := store.Text(c.err); got != c.want {
			t.Errorf("Text(%v) = %q, want %q", c.err, got, c.want)
		}
		if c.err == nil || c.err == store.ErrTooLarge {
			continue
		}
		if got, want := store.Message(c.err), string(store.CodeOf(c.err))+": "+c.want; got != want {
			t.Errorf("Message(%v) = %q, want %q", c.err, got, want)
		}
	}
}
