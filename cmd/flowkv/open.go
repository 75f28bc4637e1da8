package main

import (
	"context"

	"github.com/flowkv/flowkv/internal/backend"
	"github.com/flowkv/flowkv/internal/config"
	"github.com/flowkv/flowkv/store"
)

// openStore opens the store cfg configures (DATA_STORE_MODE and
// DATA_STORE_DSN, or the --mode/--dsn flags of config.StoreFlags), with its
// schema migrated. The caller closes it. Every subcommand that touches data
// (store, export, import, serve, token, script, flow) opens it here.
func openStore(ctx context.Context, cfg config.Config) (store.Store, error) {
	return backend.Open(ctx, cfg)
}

// withStore opens the configured store, runs fn on it and closes it,
// returning fn's error first.
func withStore(ctx context.Context, cfg config.Config, fn func(store.Store) error) (err error) {
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := st.Close(); err == nil {
			err = cerr
		}
	}()
	return fn(st)
}
