package blocks

import (
	"testing"
	"time"
)

func TestCronNext(t *testing.T) {
	t.Parallel()
	at := func(s string) time.Time {
		v, err := time.Parse("2006-01-02 15:04", s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct{ expr, from, want string }{
		{"* * * * *", "2026-03-01 10:00", "2026-03-01 10:01"},
		{"*/5 * * * *", "2026-03-01 10:03", "2026-03-01 10:05"},
		{"*/5 * * * *", "2026-03-01 10:55", "2026-03-01 11:00"},
		{"0 3 * * *", "2026-03-01 03:00", "2026-03-02 03:00"},
		{"30 9 * * mon-fri", "2026-03-06 10:00", "2026-03-09 09:30"}, // Fri after 9:30 -> Mon
		{"0 0 1 * *", "2026-01-31 12:00", "2026-02-01 00:00"},
		{"0 0 29 2 *", "2026-03-01 00:00", "2028-02-29 00:00"},   // leap day
		{"0 12 * * 7", "2026-03-01 13:00", "2026-03-08 12:00"},   // 7 = Sunday
		{"0 0 13 * fri", "2026-03-01 00:00", "2026-03-06 00:00"}, // dom OR dow
		{"15,45 8-9 * jan,dec *", "2026-03-01 00:00", "2026-12-01 08:15"},
		{"@hourly", "2026-03-01 10:30", "2026-03-01 11:00"},
		{"@daily", "2026-03-01 10:30", "2026-03-02 00:00"},
		{"10-20/5 * * * *", "2026-03-01 10:16", "2026-03-01 10:20"},
	}
	for _, c := range cases {
		s, err := ParseCron(c.expr)
		if err != nil {
			t.Errorf("%s: %v", c.expr, err)
			continue
		}
		if got := s.Next(at(c.from)); !got.Equal(at(c.want)) {
			t.Errorf("%s after %s = %s, want %s", c.expr, c.from, got.Format("2006-01-02 15:04 Mon"), c.want)
		}
	}
	for _, bad := range []string{"", "* * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "* * * * 8",
		"*/0 * * * *", "5-1 * * * *", "a * * * *", "1,,2 * * * *", "* * * * * *"} {
		if _, err := ParseCron(bad); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
	// An impossible date never runs.
	s, err := ParseCron("0 0 31 2 *")
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Next(at("2026-01-01 00:00")); !got.IsZero() {
		t.Errorf("Feb 31 ran at %s", got)
	}
}

func TestEvery(t *testing.T) {
	t.Parallel()
	s, err := ParseEvery("5m")
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 3, 1, 10, 3, 7, 0, time.UTC)
	if got := s.Next(from); !got.Equal(time.Date(2026, 3, 1, 10, 5, 0, 0, time.UTC)) {
		t.Errorf("every 5m after 10:03:07 = %s", got)
	}
	if got := s.Next(time.Date(2026, 3, 1, 10, 5, 0, 0, time.UTC)); !got.Equal(time.Date(2026, 3, 1, 10, 10, 0, 0, time.UTC)) {
		t.Errorf("every 5m after 10:05 = %s", got)
	}
	if d, err := ParseEvery("1d"); err != nil || d.(every).d != 24*time.Hour {
		t.Errorf("1d = %v, %v", d, err)
	}
	for _, bad := range []string{"", "0s", "500ms", "-5m", "soon", "400d"} {
		if _, err := ParseEvery(bad); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}
