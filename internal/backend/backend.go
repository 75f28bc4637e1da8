// Package backend opens the store.Store a flowkv process is configured for
// (config.Config.Mode): internal (SQL: embedded SQLite or PostgreSQL), aws
// (DynamoDB), azure (not built).
package backend

import (
	"context"
	"strings"

	"github.com/flowkv/flowkv/internal/config"
	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/store/dynamostore"
	"github.com/flowkv/flowkv/store/sqlstore"
)

// Open returns the configured store, migrated and ready. The caller closes
// it. An unknown or unbuilt mode is invalid_argument.
func Open(ctx context.Context, cfg config.Config) (store.Store, error) {
	switch mode(cfg) {
	case "internal":
		return sqlstore.Open(ctx, cfg.DSN, sqlstore.Options{Limits: cfg.Limits})
	case "aws":
		s, err := dynamostore.Open(ctx, dynamostore.Config{
			Region: cfg.AWSRegion, AccessKey: cfg.AWSAccessKey, Secret: cfg.AWSSecret,
			Endpoint: cfg.AWSEndpoint, Table: cfg.AWSTable, Limits: cfg.Limits,
		})
		if err != nil {
			return nil, err
		}
		return s, nil
	case "azure":
		return nil, store.Errorf(store.CodeInvalidArgument, "azure mode is not built (DATA_STORE_MODE=azure); use internal or aws")
	default:
		return nil, store.Errorf(store.CodeInvalidArgument, "DATA_STORE_MODE %q is not one of internal, aws, azure", cfg.Mode)
	}
}

// Migrate brings the configured backend's schema up to date (what
// `flowkv migrate` runs). Open migrates too.
func Migrate(ctx context.Context, cfg config.Config) error {
	switch mode(cfg) {
	case "internal":
		return sqlstore.Migrate(ctx, cfg.DSN)
	default:
		s, err := Open(ctx, cfg)
		if err != nil {
			return err
		}
		return s.Close()
	}
}

func mode(cfg config.Config) string {
	m := strings.ToLower(strings.TrimSpace(cfg.Mode))
	if m == "" {
		return "internal"
	}
	return m
}
