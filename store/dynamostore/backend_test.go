package dynamostore_test

import (
	"context"
	"testing"

	"github.com/flowkv/flowkv/internal/backend"
	"github.com/flowkv/flowkv/internal/config"
	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/store/dynamostore"
	"github.com/flowkv/flowkv/store/dynamostore/dynamotest"
)

// DATA_STORE_MODE=aws opens this backend through internal/backend, with the
// configured table created by migrate.
func TestBackendAWSMode(t *testing.T) {
	ep, table := dynamotest.Table(t)
	t.Setenv("DATA_STORE_MODE", "aws")
	t.Setenv("DATA_STORE_AWS_ENDPOINT", ep)
	t.Setenv("DATA_STORE_AWS_TABLE", table)
	t.Setenv("DATA_STORE_AWS_REGION", "eu-west-1")
	cfg := config.FromEnv()
	ctx := context.Background()
	if err := backend.Migrate(ctx, cfg); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	s, err := backend.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer s.Close()
	ds, ok := s.(*dynamostore.Store)
	if !ok || ds.Table() != table {
		t.Fatalf("aws mode opened %T", s)
	}
	if _, err := s.Insert(ctx, "orders", "o-1", raw(`{"total":12}`), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	p, err := s.Fetch(ctx, store.FetchQuery{Data: raw(`{"total": 12}`)})
	if err != nil || len(p.Entries) != 1 {
		t.Fatalf("fetch = %+v, %v", p, err)
	}
}
