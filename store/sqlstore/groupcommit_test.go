package sqlstore_test

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/store/sqlstore"
)

// gcWriters is how many goroutines write at once in the group commit
// tests: far more than one writer connection serves, so writes queue and
// batches form.
const gcWriters = 32

// hammer runs gcWriters goroutines, each calling fn(w, i) for i = 0, 1, …
// until stop returns true after a round (every goroutine finished its i)
// or rounds run out; it returns the first error fn returned.
func hammer(t *testing.T, rounds int, stop func() bool, fn func(w, i int) error) {
	t.Helper()
	for i := 0; i < rounds; i++ {
		var wg sync.WaitGroup
		errs := make(chan error, gcWriters)
		start := make(chan struct{})
		for w := 0; w < gcWriters; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if err := fn(w, i); err != nil {
					errs <- err
				}
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		if stop() {
			return
		}
	}
	t.Fatalf("no batch of more than one write formed in %d rounds of %d concurrent writers", rounds, gcWriters)
}

// eachDialect runs fn in parallel subtests on SQLite and PostgreSQL, each
// with a fresh store with group commit on.
func eachDialect(t *testing.T, fn func(t *testing.T, s *sqlstore.Store)) {
	for name, dsn := range dsns(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, err := sqlstore.Open(context.Background(), dsn(t), sqlstore.Options{ReapInterval: -1, GroupCommit: sqlstore.GroupCommitOn})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			fn(t, s)
		})
	}
}

// A batch where some writes fail (an insert of an existing key, an update
// at a stale version, an atomic whose check fails) commits the others: the
// failures are answered with their own codes, the successes are stored, and
// the failed writes left nothing behind.
func TestGroupCommitFailsAlone(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		var mixed atomic.Int64 // batches holding failures and successes
		sqlstore.SetBatchHooks(s, nil, func(errs []error) {
			var ok, failed int
			for _, err := range errs {
				if err == nil {
					ok++
				} else {
					failed++
				}
			}
			if ok > 0 && failed > 0 {
				mixed.Add(1)
			}
		})
		if _, err := s.Insert(ctx, "gc", "taken", []byte(`"first"`), store.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		hammer(t, 50, func() bool { return mixed.Load() > 0 }, func(w, i int) error {
			key := fmt.Sprintf("w%d-%d", w, i)
			switch w % 4 {
			case 0: // fails: the key exists
				_, err := s.Insert(ctx, "gc", "taken", []byte(`"again"`), store.WriteOptions{})
				if store.CodeOf(err) != store.CodeAlreadyExists {
					return fmt.Errorf("insert of an existing key: %v, want already_exists", err)
				}
			case 1: // fails: stale version
				_, err := s.Upsert(ctx, "gc", "taken", []byte(`"stale"`), store.WriteOptions{IfVersion: 1 << 40})
				if store.CodeOf(err) != store.CodeConflict {
					return fmt.Errorf("upsert at a stale version: %v, want conflict", err)
				}
			case 2: // fails as a whole after its first mutation applied: taken is not a number
				_, err := s.Atomic(ctx, nil, []store.Mutation{
					{Op: store.OpSet, Name: "gc", Key: key, Data: []byte(`1`)},
					{Op: store.OpSum, Name: "gc", Key: "taken", Data: []byte(`1`)},
				})
				if store.CodeOf(err) != store.CodeInvalidArgument {
					return fmt.Errorf("atomic summing a string: %v, want invalid_argument", err)
				}
			default:
				if _, err := s.Insert(ctx, "gc", key, []byte(`"ok"`), store.WriteOptions{}); err != nil {
					return fmt.Errorf("insert %s: %w", key, err)
				}
			}
			return nil
		})
		st := s.CommitStats()
		if st.Batches == 0 || st.Largest < 2 {
			t.Fatalf("stats %+v: no batch", st)
		}
		got, err := s.FindNameKey(ctx, "gc", "taken")
		if err != nil || string(got.Data) != `"first"` {
			t.Fatalf("taken: %s, %v", got.Data, err)
		}
		page, err := s.FindName(ctx, "gc", 1000, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			if e.Key != "taken" && string(e.Data) != `"ok"` {
				t.Errorf("a failed write left %s = %s", e.Key, e.Data)
			}
		}
		rounds := (len(page) - 1) / (gcWriters / 4)
		if len(page) != 1+rounds*gcWriters/4 {
			t.Errorf("%d entries, not 1 + %d per round", len(page), gcWriters/4)
		}
		t.Logf("%d rounds, %d mixed batches, stats %+v", rounds, mixed.Load(), st)
	})
}

// Under 32 concurrent writers versions stay unique, each writer sees its
// own versions increase, and every key ends at the highest version
// acknowledged for it.
func TestGroupCommitVersions(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		var mu sync.Mutex
		seen := map[int64]string{}
		last := make([]int64, gcWriters)
		top := map[string]int64{}
		hammer(t, 200, func() bool { return s.CommitStats().Batches > 0 && len(seen) >= 20*gcWriters }, func(w, i int) error {
			key := fmt.Sprintf("k%d", (w*7+i)%5) // five keys shared by all
			data := []byte(fmt.Sprintf(`{"w":%d,"i":%d}`, w, i))
			var v int64
			switch i % 3 {
			case 0:
				e, err := s.Upsert(ctx, "v", key, data, store.WriteOptions{})
				if err != nil {
					return err
				}
				v = e.Version
			case 1:
				r, err := s.Atomic(ctx, nil, []store.Mutation{{Op: store.OpSum, Name: "v", Key: "sum", Data: []byte(`1`)}, {Op: store.OpSet, Name: "v", Key: key, Data: data}})
				if err != nil {
					return err
				}
				if r.Versions[0] >= r.Versions[1] {
					return fmt.Errorf("atomic versions %v do not increase", r.Versions)
				}
				v = r.Versions[1]
				mu.Lock()
				if seen[r.Versions[0]] != "" {
					mu.Unlock()
					return fmt.Errorf("version %d given twice", r.Versions[0])
				}
				seen[r.Versions[0]] = "v/sum"
				top["sum"] = max(top["sum"], r.Versions[0])
				mu.Unlock()
			default:
				if _, err := s.Delete(ctx, "v", key, store.DeleteOptions{}); err != nil {
					return err
				}
				e, err := s.Insert(ctx, "v", key, data, store.WriteOptions{})
				if store.CodeOf(err) == store.CodeAlreadyExists {
					return nil // another writer re-created it first
				}
				if err != nil {
					return err
				}
				v = e.Version
			}
			mu.Lock()
			defer mu.Unlock()
			if prev := seen[v]; prev != "" {
				return fmt.Errorf("version %d given to %s and %s", v, prev, key)
			}
			seen[v] = key
			if v <= last[w] {
				return fmt.Errorf("writer %d got version %d after %d", w, v, last[w])
			}
			last[w] = v
			top[key] = max(top[key], v)
			return nil
		})
		for key, v := range top {
			e, err := s.FindNameKey(ctx, "v", key)
			if err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			if e.Version != v {
				t.Errorf("%s ends at version %d, the highest acknowledged was %d", key, e.Version, v)
			}
		}
		t.Logf("%d versions, stats %+v", len(seen), s.CommitStats())
	})
}

// A batch whose COMMIT fails answers every write in it with an error, and
// none of them is stored; writes outside failed batches are.
func TestGroupCommitCommitFailure(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		injected := errors.New("injected commit failure")
		var failedBatches, inFailed atomic.Int64
		sqlstore.SetBatchHooks(s, func() error {
			if failedBatches.Load() < 3 {
				failedBatches.Add(1)
				return injected
			}
			return nil
		}, func(errs []error) {
			for _, err := range errs {
				if errors.Is(err, injected) {
					inFailed.Add(1)
				}
			}
		})
		var mu sync.Mutex
		failed, acked := map[string]bool{}, map[string]bool{}
		hammer(t, 100, func() bool { return failedBatches.Load() >= 3 }, func(w, i int) error {
			key := fmt.Sprintf("w%d-%d", w, i)
			_, err := s.Upsert(ctx, "cf", key, []byte(`1`), store.WriteOptions{})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				acked[key] = true
			case store.CodeOf(err) == store.CodeUnavailable && errors.Is(err, injected):
				failed[key] = true
			default:
				return fmt.Errorf("upsert %s: %v", key, err)
			}
			return nil
		})
		if int64(len(failed)) != inFailed.Load() || len(failed) < 6 {
			t.Fatalf("%d callers answered with the commit failure, the failed batches held %d writes", len(failed), inFailed.Load())
		}
		for key := range failed {
			if _, err := s.FindNameKey(ctx, "cf", key); store.CodeOf(err) != store.CodeNotFound {
				t.Errorf("%s of a failed commit: %v, want not_found", key, err)
			}
		}
		for key := range acked {
			if _, err := s.FindNameKey(ctx, "cf", key); err != nil {
				t.Errorf("acknowledged %s: %v", key, err)
			}
		}
	})
}

// A writer whose context ends while it waits in the queue is answered with
// timeout and its write is not applied; the batch it queued in goes on.
func TestGroupCommitCanceledWaiter(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *sqlstore.Store) {
		release := make(chan struct{})
		holding := make(chan struct{}, 1)
		var once sync.Once
		// The first batch to commit waits for release, holding the
		// writer while the canceled writer queues behind it.
		sqlstore.SetBatchHooks(s, func() error {
			once.Do(func() { holding <- struct{}{}; <-release })
			return nil
		}, nil)
		bg := context.Background()
		var wg sync.WaitGroup
		// Writers in fours until one batch holds the writer.
		for held := false; !held; {
			for i := 0; i < 4; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := s.Upsert(bg, "cw", fmt.Sprint(i), []byte(`1`), store.WriteOptions{}); err != nil {
						t.Error(err)
					}
				}()
			}
			select {
			case <-holding:
				held = true
			case <-time.After(20 * time.Millisecond):
			}
		}
		ctx, cancel := context.WithCancel(bg)
		done := make(chan error)
		go func() {
			_, err := s.Upsert(ctx, "cw", "canceled", []byte(`1`), store.WriteOptions{})
			done <- err
		}()
		cancel()
		close(release)
		// Canceled before the writer was free, it cannot have been
		// taken into a batch.
		if err := <-done; store.CodeOf(err) != store.CodeTimeout {
			t.Fatalf("canceled writer: %v, want timeout", err)
		}
		if _, err := s.FindNameKey(bg, "cw", "canceled"); store.CodeOf(err) != store.CodeNotFound {
			t.Fatalf("a canceled write was applied: %v", err)
		}
		wg.Wait()
	})
}

// killChildEnv makes the test binary the writer process of
// TestGroupCommitKillMidBatch: the value is the SQLite file.
const killChildEnv = "FLOWKV_GC_KILL_CHILD"

// SIGKILL of a SQLite writer in the middle of a batch (its writes applied
// inside the transaction, COMMIT not yet run): after the kill the file
// passes integrity_check, every write acknowledged before the kill is
// there, and no write of the killed batch (nor of the queue behind it) is.
func TestGroupCommitKillMidBatch(t *testing.T) {
	if path := os.Getenv(killChildEnv); path != "" {
		killChild(path)
		return
	}
	t.Parallel()
	path := filepath.Join(t.TempDir(), "kill.db")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestGroupCommitKillMidBatch$")
	cmd.Env = append(os.Environ(), killChildEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked, tried := map[string]bool{}, map[string]bool{}
	sc := bufio.NewScanner(out)
	mid := false
	for !mid && sc.Scan() {
		kind, key, _ := strings.Cut(sc.Text(), " ")
		switch kind {
		case "try":
			tried[key] = true
		case "ack":
			acked[key] = true
		case "midbatch":
			mid = true
		}
	}
	if !mid {
		t.Fatalf("the writer ended before a batch held (%v)", cmd.Wait())
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var check string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check: %q, %v", check, err)
	}
	rows, err := db.Query("SELECT key FROM entries WHERE name = 'kill'")
	if err != nil {
		t.Fatal(err)
	}
	present := map[string]bool{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		present[k] = true
	}
	rows.Close()
	for k := range acked {
		if !present[k] {
			t.Errorf("acknowledged write %s lost", k)
		}
	}
	inflight := 0
	for k := range tried {
		if !acked[k] {
			inflight++
			if present[k] {
				t.Errorf("write %s of the killed batch or queue was committed", k)
			}
		}
	}
	if inflight < 2 {
		t.Fatalf("%d writes in flight at the kill, want a batch of several", inflight)
	}
	t.Logf("%d acknowledged writes kept, %d in flight at the kill absent", len(acked), inflight)
}

// killChild writes with gcWriters goroutines, printing "try KEY" before and
// "ack KEY" after each write; the fourth batch of several writes prints
// "midbatch" (once every acknowledged write so far is printed) and waits,
// before COMMIT, to be killed.
func killChild(path string) {
	s, err := sqlstore.Open(context.Background(), "sqlite:"+path, sqlstore.Options{ReapInterval: -1, GroupCommit: sqlstore.GroupCommitOn})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var mu sync.Mutex
	var committed, printed, batches int
	say := func(line string) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Println(line)
		if strings.HasPrefix(line, "ack ") {
			printed++
		}
	}
	sqlstore.SetBatchHooks(s, func() error {
		mu.Lock()
		batches++
		n := batches
		mu.Unlock()
		if n < 4 {
			return nil
		}
		for {
			mu.Lock()
			// Writes that ran alone are committed too (the hooks see
			// batches only); none runs while this batch holds the writer.
			done := int64(printed) == int64(committed)+s.CommitStats().Solo
			mu.Unlock()
			if done {
				break
			}
			time.Sleep(time.Millisecond)
		}
		say("midbatch")
		time.Sleep(2 * time.Minute)
		os.Exit(3)
		return nil
	}, func(errs []error) {
		mu.Lock()
		defer mu.Unlock()
		for _, err := range errs {
			if err == nil {
				committed++
			}
		}
	})
	for w := 0; w < gcWriters; w++ {
		go func() {
			for i := 0; ; i++ {
				key := fmt.Sprintf("w%d-%d", w, i)
				say("try " + key)
				if _, err := s.Insert(context.Background(), "kill", key, []byte(`1`), store.WriteOptions{}); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				say("ack " + key)
			}
		}()
	}
	select {}
}
