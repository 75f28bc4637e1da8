package main

import (
	"context"
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

// withCode makes sure err's text holds its code word (store.CodeOf): a
// database failure whose text is the driver's gets "unavailable: " (or
// "timeout: ") in front, so the CLI's one line always names the code.
func withCode(err error) error {
	if err == nil {
		return nil
	}
	code := store.CodeOf(err)
	if strings.Contains(err.Error(), string(code)) {
		return err
	}
	return fmt.Errorf("%s: %w", code, err)
}
