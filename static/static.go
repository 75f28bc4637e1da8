// Package static holds the web UI's stylesheet, script and vendored
// front-end libraries, embedded so the binary serves them with no network.
package static

import "embed"

// FS holds app.css, app.js and vendor/*.min.js at its root.
//
//go:embed app.css app.js vendor/*.js
var FS embed.FS
