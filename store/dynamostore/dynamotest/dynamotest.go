// Package dynamotest gives tests a fresh DynamoDB table on the DynamoDB
// Local that `make test` starts (FLOWKV_TEST_DYNAMO_ENDPOINT): skipped on a
// developer's machine without it, failing under CI=true. Each call makes
// its own table, deleted when the test ends.
package dynamotest

import (
	"context"
	"testing"
	"time"

	"github.com/flowkv/flowkv/internal/testenv"
	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/store/dynamostore"
)

// Table returns the endpoint and the name of a table that does not exist
// yet; whatever creates it (dynamostore.Open, backend.Open with
// DATA_STORE_MODE=aws) creates it, and it is deleted when t ends. Use it to
// configure a flowkv process or config.Config:
//
//	ep, table := dynamotest.Table(t)
//	cfg.Mode, cfg.AWSEndpoint, cfg.AWSTable = "aws", ep, table
func Table(t testing.TB) (endpoint, table string) {
	t.Helper()
	endpoint = testenv.DynamoEndpoint(t)
	table = testenv.UniqueName("flowkv_t_")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s, err := dynamostore.Open(ctx, dynamostore.Config{Endpoint: endpoint, Table: table})
		if err == nil {
			_ = s.DeleteTable(ctx)
		}
	})
	return endpoint, table
}

// Open returns a store on a fresh table enforcing l.
func Open(t testing.TB, l store.Limits) *dynamostore.Store {
	t.Helper()
	ep, table := Table(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := dynamostore.Open(ctx, dynamostore.Config{Endpoint: ep, Table: table, Limits: l})
	if err != nil {
		t.Fatalf("dynamotest: open %s at %s: %v", table, ep, err)
	}
	return s
}
