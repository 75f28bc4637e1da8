package sqlstore

import (
	"context"
	"database/sql"
	"sync"
	"time"
)

// checkpointInterval is how often SQLite's checkpointer copies the WAL
// into the database file.
const checkpointInterval = 200 * time.Millisecond

// startReaper starts the background work until Close: the reaper every
// ReapInterval (not at all when ReapInterval is negative) and, on SQLite,
// the checkpointer.
func (s *Store) startReaper() {
	ctx, cancel := context.WithCancel(context.Background())
	s.stopReap = cancel
	s.reapDone = make(chan struct{})
	var wg sync.WaitGroup
	if s.ck != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			checkpointLoop(ctx, s.ck, checkpointInterval)
		}()
	}
	if s.opts.ReapInterval > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(s.opts.ReapInterval)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					_, _ = s.Reap(ctx)
				}
			}
		}()
	}
	go func() {
		wg.Wait()
		close(s.reapDone)
	}()
}

// checkpointLoop runs a PASSIVE checkpoint on db every interval until ctx
// ends: it copies committed WAL frames into the database file without
// blocking readers or the writer, so the WAL stays short and commits never
// pay for a checkpoint. (The last connection to close checkpoints too.)
func checkpointLoop(ctx context.Context, db *sql.DB, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			var busy, frames, done int64
			err := db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &done)
			// A PASSIVE checkpoint never restarts the WAL: while some
			// reader is always inside it (steady read load), the writer
			// keeps appending and the file grows without bound (the soak
			// of internal/torture saw 490 MiB of WAL for a 6 MiB
			// database). Once the WAL is long, TRUNCATE waits for the
			// readers in progress (ms) and starts it over.
			if err == nil && frames > walTruncateFrames {
				_, _ = db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
			}
		}
	}
}

// walTruncateFrames is the WAL length (pages) past which the checkpointer
// truncates it (4096 frames: 16 MiB with 4 KiB pages).
const walTruncateFrames = 4096

// Reap deletes entries expired by now in batches of ReapBatch, each its own
// short statement so writers wait for at most one batch, until a batch
// comes back short. It returns how many it deleted (also added to Reaped).
// The background reaper calls it; tests and tools may too.
func (s *Store) Reap(ctx context.Context) (int64, error) {
	var total int64
	for ctx.Err() == nil && !s.closed.Load() {
		res, err := s.st.reap.ExecContext(ctx, micros(now()), s.opts.ReapBatch)
		if err != nil {
			return total, dbErr("reap expired entries", err)
		}
		n, _ := res.RowsAffected()
		total += n
		s.reaped.Add(n)
		if n < int64(s.opts.ReapBatch) {
			break
		}
	}
	if s.st.dropZeroCounts != nil && ctx.Err() == nil && !s.closed.Load() {
		if _, err := s.st.dropZeroCounts.ExecContext(ctx); err != nil {
			return total, dbErr("drop empty namespace counts", err)
		}
	}
	return total, nil
}
