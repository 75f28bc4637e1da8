package torture

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ContentionConfig configures a read-then-write contention run.
type ContentionConfig struct {
	Server   *Server
	Writers  int           // default 50
	Duration time.Duration // default 60s
	Keys     int           // hot keys (default 10)
	Name     string        // namespace (default "contention")
}

// ContentionResult counts what the writers saw.
type ContentionResult struct {
	Writers   int            `json:"writers"`
	Duration  time.Duration  `json:"duration"`
	Reads     int            `json:"reads"`
	Writes    int            `json:"writes"`    // acknowledged
	Conflicts int            `json:"conflicts"` // 409: the read was stale (expected)
	Status5xx int            `json:"status5xx"`
	Busy      int            `json:"busy"` // answers or server log lines naming SQLITE_BUSY / database is locked
	Transport int            `json:"transport"`
	Other     map[string]int `json:"other"`
	// Lost: the final value of each key must be the last acknowledged
	// write (every write is conditional on the version read, so the
	// acknowledged ones form one chain per key).
	Lost int `json:"lost"`
}

// OK reports 0 BUSY, 0 5xx, no transport errors, nothing lost.
func (r ContentionResult) OK() bool {
	return r.Status5xx == 0 && r.Busy == 0 && r.Transport == 0 && len(r.Other) == 0 && r.Lost == 0 && r.Writes > 0
}

func (r ContentionResult) String() string {
	return fmt.Sprintf("writers=%d duration=%s reads=%d writes=%d (%.0f/s) conflicts=%d 5xx=%d busy=%d transport=%d other=%v lost=%d",
		r.Writers, r.Duration.Round(time.Millisecond), r.Reads, r.Writes, float64(r.Writes)/r.Duration.Seconds(), r.Conflicts,
		r.Status5xx, r.Busy, r.Transport, r.Other, r.Lost)
}

// RunContention has cfg.Writers clients each loop: read a hot key, then
// write it back incremented with If-Match on the version read (insert when
// absent). Each acknowledged write is one step of its key's chain, so the
// final value of a key equals its number of acknowledged writes.
func RunContention(ctx context.Context, cfg ContentionConfig) (ContentionResult, error) {
	if cfg.Writers == 0 {
		cfg.Writers = 50
	}
	if cfg.Duration == 0 {
		cfg.Duration = 60 * time.Second
	}
	if cfg.Keys == 0 {
		cfg.Keys = 10
	}
	if cfg.Name == "" {
		cfg.Name = "contention-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	srv := cfg.Server
	cl := NewClient(srv.URL, srv.Token, cfg.Writers)
	defer cl.Close()
	res := ContentionResult{Writers: cfg.Writers, Other: map[string]int{}}
	acked := make([]int64, cfg.Keys)
	var mu sync.Mutex
	start := time.Now()
	runCtx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	var wg sync.WaitGroup
	for w := 0; w < cfg.Writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 5))
			var l ContentionResult
			l.Other = map[string]int{}
			mine := make([]int64, cfg.Keys)
			for runCtx.Err() == nil {
				k := rng.IntN(cfg.Keys)
				p := EntryPath(cfg.Name, "hot-"+strconv.Itoa(k))
				r, err := cl.Do(runCtx, http.MethodGet, p, nil, nil)
				if runCtx.Err() != nil {
					break
				}
				if err != nil {
					l.Transport++
					continue
				}
				l.Reads++
				var method string
				var hdr map[string]string
				var next int64
				switch r.Status {
				case http.StatusOK:
					val, ver, err := parseEntry(r.Body)
					if err != nil {
						l.Other["bad entry"]++
						continue
					}
					method, next = http.MethodPut, val+1
					hdr = map[string]string{"If-Match": strconv.FormatInt(ver, 10)}
				case http.StatusNotFound:
					method, next = http.MethodPost, 1
				default:
					l.count(r)
					continue
				}
				// The write is not cut short by the run's end: its
				// outcome must be known for the final check.
				r, err = cl.Do(context.Background(), method, p, map[string]any{"data": next}, hdr)
				if err != nil {
					l.Transport++
					continue
				}
				switch {
				case r.Status == http.StatusOK || r.Status == http.StatusCreated:
					l.Writes++
					mine[k]++
				case r.Status == http.StatusConflict:
					l.Conflicts++
				default:
					l.count(r)
				}
			}
			mu.Lock()
			res.Reads += l.Reads
			res.Writes += l.Writes
			res.Conflicts += l.Conflicts
			res.Status5xx += l.Status5xx
			res.Busy += l.Busy
			res.Transport += l.Transport
			for k, v := range l.Other {
				res.Other[k] += v
			}
			for k := range mine {
				acked[k] += mine[k]
			}
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	res.Duration = time.Since(start)
	for k := range acked {
		r, err := cl.Do(ctx, http.MethodGet, EntryPath(cfg.Name, "hot-"+strconv.Itoa(k)), nil, nil)
		if err != nil {
			return res, err
		}
		var val int64
		if r.Status == http.StatusOK {
			if val, _, err = parseEntry(r.Body); err != nil {
				return res, err
			}
		}
		if val != acked[k] {
			res.Lost += int(abs(acked[k] - val))
		}
	}
	n, err := countBusy(srv.LogPath)
	if err != nil {
		return res, err
	}
	res.Busy += n
	return res, nil
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

func (l *ContentionResult) count(r Reply) {
	switch {
	case isBusy(r.Msg):
		l.Busy++
	}
	if r.Status >= 500 {
		l.Status5xx++
		return
	}
	l.Other[fmt.Sprintf("%d %s", r.Status, r.Code)]++
}

func isBusy(s string) bool {
	s = strings.ToLower(s)
	return strings.Contains(s, "sqlite_busy") || strings.Contains(s, "database is locked") || strings.Contains(s, "busy")
}

// countBusy counts log lines of the server naming SQLITE_BUSY.
func countBusy(logPath string) (int, error) {
	if logPath == "" {
		return 0, nil
	}
	b, err := os.ReadFile(logPath)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n := 0
	for _, line := range bytes.Split(b, []byte("\n")) {
		l := bytes.ToLower(line)
		if bytes.Contains(l, []byte("sqlite_busy")) || bytes.Contains(l, []byte("database is locked")) {
			n++
		}
	}
	return n, nil
}
