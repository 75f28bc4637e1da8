package sqlstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/store/sqlstore"
)

// Open an embedded SQLite store, write, read, search and count.
func ExampleOpen() {
	dir, _ := os.MkdirTemp("", "flowkv-example-")
	defer os.RemoveAll(dir)
	ctx := context.Background()

	s, err := sqlstore.Open(ctx, "sqlite:"+filepath.Join(dir, "flowkv.db"), sqlstore.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	e, _ := s.Insert(ctx, "orders", "o-1", json.RawMessage(`{"total": 12, "currency": "EUR"}`), store.WriteOptions{})
	fmt.Println(e.Key, string(e.Data), e.Version > 0)

	_, err = s.Insert(ctx, "orders", "o-1", json.RawMessage(`{}`), store.WriteOptions{})
	fmt.Println(store.CodeOf(err))

	// Exact data match ignores key order and whitespace.
	p, _ := s.Fetch(ctx, store.FetchQuery{Data: json.RawMessage(`{"currency":"EUR","total":12}`)})
	fmt.Println(len(p.Entries), p.Entries[0].Key)

	// Compare-and-set: only the version read last can write.
	_, err = s.Upsert(ctx, "orders", "o-1", json.RawMessage(`{"total":13}`), store.WriteOptions{IfVersion: e.Version + 1})
	fmt.Println(store.CodeOf(err))

	names, _ := s.Names(ctx)
	fmt.Println(names)
	// Output:
	// o-1 {"currency":"EUR","total":12} true
	// already_exists
	// 1 o-1
	// conflict
	// [{orders 1}]
}
