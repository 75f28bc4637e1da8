package dynamostore_test

import (
	"testing"

	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/store/storetest"
)

// TestConformance runs the shared suite, unchanged, on DynamoDB Local
// (a fresh table per store).
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, l store.Limits) store.Store { return open(t, l) })
}
