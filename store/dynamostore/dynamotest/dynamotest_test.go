package dynamotest_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/store/dynamostore/dynamotest"
)

func TestOpenGivesAnEmptyTable(t *testing.T) {
	a, b := dynamotest.Open(t, store.Limits{}), dynamotest.Open(t, store.Limits{})
	if a.Table() == b.Table() {
		t.Fatalf("two opens share table %s", a.Table())
	}
	ctx := context.Background()
	if _, err := a.Insert(ctx, "n", "k", json.RawMessage(`1`), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.FindNameKey(ctx, "n", "k"); store.CodeOf(err) != store.CodeNotFound {
		t.Fatalf("second table sees the first one's entry: %v", err)
	}
}
