package store_test

import (
	"math"
	"testing"
	"time"

	"github.com/flowkv/flowkv/store"
)

// FuzzTimeoutTTL: the TTL faces of every API (timeoutUnit + timeoutValue,
// REST ttl seconds, kv expireIn milliseconds) accept exactly the positive
// values up to 100 years and refuse the rest as invalid_argument.
func FuzzTimeoutTTL(f *testing.F) {
	for _, s := range []struct {
		unit string
		v    float64
	}{
		{"seconds", 30}, {"minutes", 1.5}, {"hours", 0}, {"days", 36500}, {"days", 36501}, {"never", -1}, {"", 5},
		{"Weeks", 1}, {" Seconds ", 1}, {"seconds", 1e-10}, {"days", math.Inf(1)}, {"seconds", math.NaN()},
		{"seconds", math.Copysign(0, -1)}, {"minutes", math.MaxFloat64}, {"seconds", math.SmallestNonzeroFloat64},
	} {
		f.Add(s.unit, s.v)
	}
	f.Fuzz(func(t *testing.T, unit string, v float64) {
		check := func(what string, d time.Duration, err error) {
			if err != nil {
				if store.CodeOf(err) != store.CodeInvalidArgument {
					t.Fatalf("%s(%q, %v): %v is not invalid_argument", what, unit, v, err)
				}
				return
			}
			if d < 0 || d > store.MaxTTL {
				t.Fatalf("%s(%q, %v) = %v, outside [0, MaxTTL]", what, unit, v, d)
			}
		}
		d, err := store.TimeoutTTL(unit, v)
		check("TimeoutTTL", d, err)
		if err == nil && d == 0 && (v > 0 && !math.IsInf(v, 0)) {
			// A positive value of a real unit never silently means "never".
			switch unit {
			case "seconds", "minutes", "hours", "days":
				t.Fatalf("TimeoutTTL(%q, %v) = 0 without an error", unit, v)
			}
		}
		d, err = store.SecondsTTL(v)
		check("SecondsTTL", d, err)
		if err == nil && v != 0 && d == 0 {
			t.Fatalf("SecondsTTL(%v) = 0 without an error", v)
		}
		d, err = store.MillisTTL(v)
		check("MillisTTL", d, err)
		if err == nil && v != 0 && d == 0 {
			t.Fatalf("MillisTTL(%v) = 0 without an error", v)
		}
	})
}
