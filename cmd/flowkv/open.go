package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/flowkv/flowkv/internal/backend"
	"github.com/flowkv/flowkv/internal/config"
	"github.com/flowkv/flowkv/store"
)

// openStore opens the store cfg configures (DATA_STORE_MODE and
// DATA_STORE_DSN, or the --mode/--dsn flags of config.StoreFlags), with its
// schema migrated. The caller closes it. Every subcommand that touches data
// (store, export, import, serve, token, script, flow) opens it here. Its
// error's text holds the error code word.
func openStore(ctx context.Context, cfg config.Config) (store.Store, error) {
	st, err := backend.Open(ctx, cfg)
	if err != nil {
		return nil, withCode(err)
	}
	return st, nil
}

// withStore opens the configured store, runs fn on it and closes it,
// returning fn's error first, with its code word in the text.
func withStore(ctx context.Context, cfg config.Config, fn func(store.Store) error) (err error) {
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := st.Close(); err == nil {
			err = cerr
		}
		err = withCode(err)
	}()
	return fn(st)
}

// withCode shapes err for the CLI's one line: a coded error (not_found,
// already_exists, …) is shown as its code and message without the backend's
// wrapping; a database failure keeps the driver's detail, which helps the
// operator, with its code word (unavailable, timeout) in front.
func withCode(err error) error {
	if err == nil {
		return nil
	}
	code := store.CodeOf(err)
	var e *store.Error
	if errors.As(err, &e) && code != store.CodeUnavailable && code != store.CodeTimeout {
		return e
	}
	if strings.Contains(err.Error(), string(code)) {
		return err
	}
	return fmt.Errorf("%s: %w", code, err)
}
