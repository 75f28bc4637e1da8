// Package all registers every built-in block type (dataStore, javascript).
// Import it for its side effect wherever flows are validated or run:
//
//	import _ "github.com/flowkv/flowkv/blocks/all"
package all

import (
	_ "github.com/flowkv/flowkv/blocks/datastore"  // type dataStore
	_ "github.com/flowkv/flowkv/blocks/javascript" // type javascript
)
