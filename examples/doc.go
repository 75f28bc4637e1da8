// Package examples holds example flows (the *.yaml files here), one per use
// case of the data store: session storage, cache-aside, rate limiting,
// feature flags, locks, paged migrations and "store it now, use it in a
// later flow". examples_test.go stores and runs every one of them on
// SQLite. Try one with:
//
//	flowkv flow run --file examples/session-save.yaml --input '{"sessionId":"s1","userId":"u1"}'
package examples
