package store_test

import (
	"encoding/base64"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/flowkv/flowkv/store"
)

func TestTimeoutTTL(t *testing.T) {
	t.Parallel()
	cases := []struct {
		unit  string
		value float64
		want  time.Duration
		fails bool
	}{
		{"", 0, 0, false},
		{"never", 0, 0, false},
		{"never", 42, 0, false},
		{"NEVER", 1, 0, false},
		{"seconds", 30, 30 * time.Second, false},
		{"second", 1, time.Second, false},
		{" Seconds ", 2, 2 * time.Second, false},
		{"seconds", 0.5, 500 * time.Millisecond, false},
		{"minutes", 5, 5 * time.Minute, false},
		{"minute", 1, time.Minute, false},
		{"hours", 2, 2 * time.Hour, false},
		{"hours", 1.5, 90 * time.Minute, false},
		{"hour", 1, time.Hour, false},
		{"days", 7, 7 * 24 * time.Hour, false},
		{"day", 1, 24 * time.Hour, false},
		{"days", 36500, 36500 * 24 * time.Hour, false},
		{"days", 36501, 0, true},
		{"seconds", 0, 0, true},
		{"seconds", -1, 0, true},
		{"seconds", math.NaN(), 0, true},
		{"seconds", math.Inf(1), 0, true},
		{"weeks", 1, 0, true},
		{"ms", 1, 0, true},
	}
	for _, c := range cases {
		got, err := store.TimeoutTTL(c.unit, c.value)
		if c.fails {
			if store.CodeOf(err) != store.CodeInvalidArgument {
				t.Errorf("TimeoutTTL(%q, %v) = %v, %v; want invalid_argument", c.unit, c.value, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("TimeoutTTL(%q, %v) = %v, %v; want %v", c.unit, c.value, got, err, c.want)
		}
	}
}

func TestSecondsAndMillisTTL(t *testing.T) {
	t.Parallel()
	if d, err := store.SecondsTTL(0); err != nil || d != 0 {
		t.Errorf("SecondsTTL(0) = %v, %v", d, err)
	}
	if d, err := store.SecondsTTL(90); err != nil || d != 90*time.Second {
		t.Errorf("SecondsTTL(90) = %v, %v", d, err)
	}
	if d, err := store.SecondsTTL(0.25); err != nil || d != 250*time.Millisecond {
		t.Errorf("SecondsTTL(0.25) = %v, %v", d, err)
	}
	for _, bad := range []float64{-1, math.NaN(), float64(store.MaxTTL/time.Second) + 1} {
		if _, err := store.SecondsTTL(bad); store.CodeOf(err) != store.CodeInvalidArgument {
			t.Errorf("SecondsTTL(%v) = %v", bad, err)
		}
	}
	if d, err := store.MillisTTL(0); err != nil || d != 0 {
		t.Errorf("MillisTTL(0) = %v, %v", d, err)
	}
	if d, err := store.MillisTTL(1500); err != nil || d != 1500*time.Millisecond {
		t.Errorf("MillisTTL(1500) = %v, %v", d, err)
	}
	for _, bad := range []float64{-1, 1e-9, math.Inf(1)} {
		if _, err := store.MillisTTL(bad); store.CodeOf(err) != store.CodeInvalidArgument {
			t.Errorf("MillisTTL(%v) = %v", bad, err)
		}
	}
}

func TestParseTTL(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in    string
		want  time.Duration
		fails bool
	}{
		{"", 0, false},
		{"never", 0, false},
		{"0", 0, false},
		{" 30s ", 30 * time.Second, false},
		{"1s", time.Second, false},
		{"5m", 5 * time.Minute, false},
		{"2h", 2 * time.Hour, false},
		{"7d", 7 * 24 * time.Hour, false},
		{"1.5h", 90 * time.Minute, false},
		{"0.5d", 12 * time.Hour, false},
		{"1h30m", 90 * time.Minute, false},
		{"250ms", 250 * time.Millisecond, false},
		{"36500d", 36500 * 24 * time.Hour, false},
		{"36501d", 0, true},
		{"bad", 0, true},
		{"5", 0, true},
		{"5x", 0, true},
		{"d", 0, true},
		{"-5s", 0, true},
		{"-1d", 0, true},
		{"0s", 0, true},
		{"nand", 0, true},
		{"infd", 0, true},
		{"1e400d", 0, true},
		{"5 m", 0, true},
	}
	for _, c := range cases {
		got, err := store.ParseTTL(c.in)
		if c.fails {
			if store.CodeOf(err) != store.CodeInvalidArgument {
				t.Errorf("ParseTTL(%q) = %v, %v; want invalid_argument", c.in, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseTTL(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
}

func TestExpiresAt(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("X", 3600))
	if store.ExpiresAt(now, 0) != nil || store.ExpiresAt(now, -time.Second) != nil {
		t.Fatal("ExpiresAt without a TTL is not nil")
	}
	got := store.ExpiresAt(now, time.Minute)
	if got == nil || !got.Equal(now.Add(time.Minute)) || got.Location() != time.UTC {
		t.Fatalf("ExpiresAt = %v", got)
	}
	e := store.Entry{ExpiresAt: got}
	if e.Expired(now) || !e.Expired(*got) || !e.Expired(got.Add(time.Nanosecond)) {
		t.Fatal("Entry.Expired is wrong at the boundary")
	}
	if (store.Entry{}).Expired(now.Add(1000 * time.Hour)) {
		t.Fatal("an entry without expiry expired")
	}
}

func TestCursor(t *testing.T) {
	t.Parallel()
	parts := []string{"orders", "o-1\x00\"/é", ""}
	c := store.EncodeCursor(parts...)
	if strings.ContainsAny(c, "+/=") {
		t.Fatalf("cursor %q is not URL-safe", c)
	}
	got, err := store.DecodeCursor(c, 3)
	if err != nil || len(got) != 3 || got[0] != parts[0] || got[1] != parts[1] || got[2] != parts[2] {
		t.Fatalf("DecodeCursor(EncodeCursor(%q)) = %q, %v", parts, got, err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	bad := []struct {
		name, cursor string
		n            int
	}{
		{"empty", "", 1},
		{"wrong part count", c, 2},
		{"not base64", "!!!!", 1},
		{"padded", base64.URLEncoding.EncodeToString([]byte(`["a"]`)), 1},
		{"std alphabet", base64.StdEncoding.EncodeToString([]byte(`["??>"]`)), 1},
		{"not json", b64([]byte("hello")), 1},
		{"object", b64([]byte(`{"a":"b"}`)), 1},
		{"numbers", b64([]byte(`[1]`)), 1},
		{"null", b64([]byte(`null`)), 1},
		{"truncated", c[:len(c)-3], 3},
		{"too long", b64([]byte(`["` + strings.Repeat("a", 4000) + `"]`)), 1},
	}
	for _, b := range bad {
		if _, err := store.DecodeCursor(b.cursor, b.n); store.CodeOf(err) != store.CodeInvalidArgument {
			t.Errorf("%s: DecodeCursor(%.30q, %d) = %v, want invalid_argument", b.name, b.cursor, b.n, err)
		}
	}
}
