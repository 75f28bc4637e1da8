//go:build !linux

package scripting

// osLimits: only Linux workers run under OS limits; elsewhere the
// runtime's own limits (memory limit, GOMAXPROCS) are all there is.
func osLimits(workerConfig) string { return "OS limits: not supported on this system" }
