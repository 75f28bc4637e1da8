package blocks

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Schedule tells when a schedule-triggered flow runs.
type Schedule interface {
	// Next returns the first run time strictly after t (UTC); the zero
	// time if there is none within five years.
	Next(t time.Time) time.Time
	String() string
}

// every runs at each multiple of d since the Unix epoch, so every process
// computes the same run times.
type every struct{ d time.Duration }

// ParseEvery parses a schedule's `every` duration ("30s", "5m", "1h", "1d");
// at least one second.
func ParseEvery(s string) (Schedule, error) {
	s = strings.TrimSpace(s)
	var d time.Duration
	var err error
	if n, ok := strings.CutSuffix(s, "d"); ok {
		var days float64
		days, err = strconv.ParseFloat(n, 64)
		d = time.Duration(days * float64(24*time.Hour))
	} else {
		d, err = time.ParseDuration(s)
	}
	if err != nil {
		return nil, fmt.Errorf("every %q: want a duration such as 30s, 5m, 1h or 1d", s)
	}
	if d < time.Second {
		return nil, fmt.Errorf("every %q: the shortest interval is 1s", s)
	}
	if d > 366*24*time.Hour {
		return nil, fmt.Errorf("every %q: the longest interval is 366d", s)
	}
	return every{d: d}, nil
}

func (e every) Next(t time.Time) time.Time {
	return t.UTC().Truncate(e.d).Add(e.d)
}

func (e every) String() string { return "every " + e.d.String() }

// cron is a 5-field cron schedule (minute hour day-of-month month
// day-of-week) evaluated in UTC.
type cron struct {
	src                           string
	minute, hour, dom, month, dow uint64 // bit sets
	domStar, dowStar              bool
}

var cronAliases = map[string]string{
	"@yearly":   "0 0 1 1 *",
	"@annually": "0 0 1 1 *",
	"@monthly":  "0 0 1 * *",
	"@weekly":   "0 0 * * 0",
	"@daily":    "0 0 * * *",
	"@midnight": "0 0 * * *",
	"@hourly":   "0 * * * *",
}

var (
	monthNames = map[string]int{"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
		"jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12}
	dayNames = map[string]int{"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
)

// ParseCron parses a standard 5-field cron expression in UTC: each field is
// `*`, a number, a range `a-b`, a step `*/n` or `a-b/n`, or a comma list of
// those; months and weekdays also take names (jan, mon); weekday 7 is
// Sunday. @hourly, @daily, @weekly, @monthly and @yearly are accepted. As
// in cron, when both day-of-month and day-of-week are restricted, a day
// matching either runs.
func ParseCron(s string) (Schedule, error) {
	src := strings.TrimSpace(s)
	expr := src
	if a, ok := cronAliases[strings.ToLower(expr)]; ok {
		expr = a
	}
	f := strings.Fields(expr)
	if len(f) != 5 {
		return nil, fmt.Errorf("cron %q: want 5 fields (minute hour day-of-month month day-of-week)", src)
	}
	c := &cron{src: src}
	var err error
	if c.minute, err = cronField(f[0], 0, 59, nil); err != nil {
		return nil, fmt.Errorf("cron %q: minute: %v", src, err)
	}
	if c.hour, err = cronField(f[1], 0, 23, nil); err != nil {
		return nil, fmt.Errorf("cron %q: hour: %v", src, err)
	}
	if c.dom, err = cronField(f[2], 1, 31, nil); err != nil {
		return nil, fmt.Errorf("cron %q: day of month: %v", src, err)
	}
	if c.month, err = cronField(f[3], 1, 12, monthNames); err != nil {
		return nil, fmt.Errorf("cron %q: month: %v", src, err)
	}
	if c.dow, err = cronField(f[4], 0, 7, dayNames); err != nil {
		return nil, fmt.Errorf("cron %q: day of week: %v", src, err)
	}
	if c.dow&(1<<7) != 0 {
		c.dow |= 1
	}
	c.domStar = f[2] == "*" || f[2] == "?"
	c.dowStar = f[4] == "*" || f[4] == "?"
	return c, nil
}

func cronField(s string, lo, hi int, names map[string]int) (uint64, error) {
	var set uint64
	for _, part := range strings.Split(s, ",") {
		if part == "" {
			return 0, fmt.Errorf("empty list item")
		}
		rng, stepText, hasStep := strings.Cut(part, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepText)
			if err != nil || n < 1 || n > hi {
				return 0, fmt.Errorf("bad step %q", stepText)
			}
			step = n
		}
		a, b := lo, hi
		if rng != "*" && rng != "?" {
			from, to, isRange := strings.Cut(rng, "-")
			var err error
			if a, err = cronValue(from, lo, hi, names); err != nil {
				return 0, err
			}
			b = a
			if isRange {
				if b, err = cronValue(to, lo, hi, names); err != nil {
					return 0, err
				}
				if b < a {
					return 0, fmt.Errorf("range %q runs backwards", rng)
				}
			} else if hasStep {
				b = hi
			}
		}
		for v := a; v <= b; v += step {
			set |= 1 << uint(v)
		}
	}
	return set, nil
}

func cronValue(s string, lo, hi int, names map[string]int) (int, error) {
	if n, ok := names[strings.ToLower(s)]; ok {
		return n, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%q is not a number from %d to %d", s, lo, hi)
	}
	return n, nil
}

func (c *cron) dayMatches(t time.Time) bool {
	dom := c.dom&(1<<uint(t.Day())) != 0
	dow := c.dow&(1<<uint(t.Weekday())) != 0
	switch {
	case c.domStar && c.dowStar:
		return true
	case c.domStar:
		return dow
	case c.dowStar:
		return dom
	default:
		return dom || dow
	}
}

// Next walks forward field by field: a month that does not match skips to
// the next month, a day to the next day, an hour to the next hour.
func (c *cron) Next(t time.Time) time.Time {
	t = t.UTC().Truncate(time.Minute).Add(time.Minute)
	limit := t.AddDate(5, 0, 0)
	for t.Before(limit) {
		if c.month&(1<<uint(t.Month())) == 0 {
			t = time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, time.UTC)
			continue
		}
		if !c.dayMatches(t) {
			t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, time.UTC)
			continue
		}
		if c.hour&(1<<uint(t.Hour())) == 0 {
			t = t.Truncate(time.Hour).Add(time.Hour)
			continue
		}
		if c.minute&(1<<uint(t.Minute())) == 0 {
			t = t.Add(time.Minute)
			continue
		}
		return t
	}
	return time.Time{}
}

func (c *cron) String() string { return "cron " + c.src }
