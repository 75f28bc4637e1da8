package store

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
)

// MaxTTL bounds a TTL (100 years): beyond it, timestamps overflow backends.
const MaxTTL = 100 * 365 * 24 * time.Hour

// TimeoutTTL converts the Data Store block's timeoutUnit + timeoutValue to a
// TTL. Unit "" or "never" means no expiry (0). The value must be > 0 for
// the other units (seconds, minutes, hours, days); fractions are allowed.
func TimeoutTTL(unit string, value float64) (time.Duration, error) {
	var per time.Duration
	switch strings.ToLower(strings.TrimSpace(unit)) {
	case "", "never":
		return 0, nil
	case "seconds", "second":
		per = time.Second
	case "minutes", "minute":
		per = time.Minute
	case "hours", "hour":
		per = time.Hour
	case "days", "day":
		per = 24 * time.Hour
	default:
		return 0, Errorf(CodeInvalidArgument, "timeoutUnit %q is not one of seconds, minutes, hours, days, never", unit)
	}
	return scaleTTL(value, per, "timeoutValue")
}

// SecondsTTL converts a TTL in seconds (REST's `ttl`); 0 means no expiry.
func SecondsTTL(seconds float64) (time.Duration, error) {
	if seconds == 0 {
		return 0, nil
	}
	return scaleTTL(seconds, time.Second, "ttl")
}

// MillisTTL converts kv's expireIn (milliseconds); 0 means no expiry.
func MillisTTL(ms float64) (time.Duration, error) {
	if ms == 0 {
		return 0, nil
	}
	return scaleTTL(ms, time.Millisecond, "expireIn")
}

func scaleTTL(value float64, per time.Duration, field string) (time.Duration, error) {
	if math.IsNaN(value) || value <= 0 {
		return 0, Errorf(CodeInvalidArgument, "%s must be a positive number", field)
	}
	if value*float64(per) > float64(MaxTTL) {
		return 0, Errorf(CodeInvalidArgument, "%s is longer than 100 years", field)
	}
	d := time.Duration(value * float64(per))
	if d <= 0 {
		return 0, Errorf(CodeInvalidArgument, "%s is too small", field)
	}
	return d, nil
}

// ParseTTL parses the CLI's TTL: a number with unit s, m, h or d ("30s",
// "5m", "2h", "7d", "1.5h"), or a Go duration ("1h30m"). "" and "never"
// mean no expiry.
func ParseTTL(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "never" || s == "0" {
		return 0, nil
	}
	if strings.HasSuffix(s, "d") {
		v, err := strconv.ParseFloat(strings.TrimSuffix(s, "d"), 64)
		if err != nil {
			return 0, Errorf(CodeInvalidArgument, "ttl %q: want a number and a unit (30s, 5m, 2h, 7d)", s)
		}
		return scaleTTL(v, 24*time.Hour, "ttl")
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, Errorf(CodeInvalidArgument, "ttl %q: want a number and a unit (30s, 5m, 2h, 7d)", s)
	}
	return scaleTTL(float64(d), 1, "ttl")
}

// ExpiresAt returns when an entry written at now with ttl expires (nil for 0).
func ExpiresAt(now time.Time, ttl time.Duration) *time.Time {
	if ttl <= 0 {
		return nil
	}
	t := now.Add(ttl).UTC()
	return &t
}

// EncodeCursor packs a backend's position into an opaque, URL-safe cursor.
func EncodeCursor(parts ...string) string {
	b, _ := json.Marshal(parts) // []string always encodes
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor unpacks a cursor made by EncodeCursor with exactly n parts.
// Anything else (forged, truncated, another shape) is invalid_argument.
func DecodeCursor(cursor string, n int) ([]string, error) {
	if len(cursor) > 4096 {
		return nil, Errorf(CodeInvalidArgument, "cursor is not valid")
	}
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return nil, Errorf(CodeInvalidArgument, "cursor is not valid")
	}
	var parts []string
	if err := json.Unmarshal(b, &parts); err != nil || len(parts) != n {
		return nil, Errorf(CodeInvalidArgument, "cursor is not valid")
	}
	return parts, nil
}
