package sqlstore

import (
	"context"
	"time"
)

// startReaper runs the reaper every ReapInterval until Close (not at all
// when ReapInterval is negative).
func (s *Store) startReaper() {
	if s.opts.ReapInterval < 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.stopReap = cancel
	s.reapDone = make(chan struct{})
	go func() {
		defer close(s.reapDone)
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
