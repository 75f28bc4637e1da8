//go:build race

package scripting

// raceEnabled: the race detector maps terabytes of shadow memory, so a
// race-enabled worker cannot live under an address-space limit.
const raceEnabled = true
