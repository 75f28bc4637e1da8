package store_test

import (
	"encoding/json"
	"fmt"

	"github.com/flowkv/flowkv/store"
)

func ExampleCanonicalize() {
	a, _ := store.Canonicalize(json.RawMessage(`{ "total": 12.0, "items": ["<book>"] }`))
	b, _ := store.Canonicalize(json.RawMessage(`{"items":["<book>"],"total":1.2e1}`))
	fmt.Println(string(a))
	fmt.Println(store.DataHash(a) == store.DataHash(b))
	// Output:
	// {"items":["<book>"],"total":12}
	// true
}

func ExampleParseTTL() {
	for _, s := range []string{"30s", "1.5h", "7d", "never"} {
		d, _ := store.ParseTTL(s)
		fmt.Println(s, d)
	}
	_, err := store.ParseTTL("5 parsecs")
	fmt.Println(store.CodeOf(err))
	// Output:
	// 30s 30s
	// 1.5h 1h30m0s
	// 7d 168h0m0s
	// never 0s
	// invalid_argument
}

func ExampleGrants_Allow() {
	g, _ := store.ParseGrants([]string{"orders:write", "users:read"})
	fmt.Println(g.Allow("orders", store.Write))
	fmt.Println(g.Allow("users", store.Write))
	fmt.Println(store.AllGrants().Allow("_flowkv.tokens", store.Read))
	// Output:
	// <nil>
	// access_denied: no grant to write namespace "users"
	// access_denied: no grant to read namespace "_flowkv.tokens"
}

func ExampleSumData() {
	n, _ := store.SumData(json.RawMessage(`9007199254740992`), json.RawMessage(`1`))
	fmt.Println(string(n))
	n, _ = store.SumData(nil, json.RawMessage(`0.5`))
	fmt.Println(string(n))
	_, err := store.SumData(json.RawMessage(`"ten"`), json.RawMessage(`1`))
	fmt.Println(store.CodeOf(err))
	// Output:
	// 9007199254740993
	// 0.5
	// invalid_argument
}
