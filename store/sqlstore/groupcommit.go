package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowkv/flowkv/store"
)

// Group commit (on by default for SQLite only, see Options.GroupCommit;
// off, every write runs alone as below). Every write of the store (Insert, Upsert, Update, Delete,
// Atomic, Import) is a request to the store's committer: the first writer
// to arrive while no batch runs becomes the leader, takes every request
// queued at that moment (itself included) and applies them in one
// transaction, each inside a SAVEPOINT of its own, then commits once and
// answers them all. A request that fails (already_exists, conflict,
// too_large, a driver error) is rolled back to its savepoint and fails
// alone; the others stay in the batch. A failed BEGIN or COMMIT fails every
// request of the batch. Nobody is answered before the transaction that holds
// its write has committed. Writers that arrive while a batch runs queue; when
// the batch is answered, the first of them becomes the next leader and takes
// the whole queue.
//
// The leader never waits to gather: a lone writer finds an empty queue and
// runs its write exactly as without batching (a single-statement write in
// autocommit mode, a transactional one in its own transaction), so its
// latency is unchanged. Batches form only when writers are already waiting
// for the single writer connection, which is when one commit for many writes
// pays: a SQLite commit writes each dirty page (the version counter row, the
// namespace counts, shared index pages) once per transaction, and a
// PostgreSQL commit waits for one WAL flush.
//
// Versions are drawn inside each write's statements, in the order the
// batch applies them, so they stay unique and increasing; a write rolled
// back to its savepoint gives its version back, never having been visible.

// maxBatch bounds the writes of one transaction, so one batch holds the
// writer (and its callers wait) for a bounded time.
const maxBatch = 256

// writeReq is one write waiting for the committer.
type writeReq struct {
	ctx context.Context
	// fn applies the write on tx; tx is nil when solo is set and the
	// request runs alone: fn then runs its statement in autocommit mode.
	fn   func(ctx context.Context, tx *sql.Tx) error
	solo bool
	err  error
	// wake receives once: after the request is answered (err set) or, with
	// lead set, when it is to lead the next batch.
	wake chan struct{}
	lead bool
}

var reqPool = sync.Pool{New: func() any { return &writeReq{wake: make(chan struct{}, 1)} }}

// committer is the queue in front of the store's writer.
type committer struct {
	mu      sync.Mutex
	queue   []*writeReq
	spare   []*writeReq
	leading bool

	batches atomic.Int64 // transactions of more than one write
	batched atomic.Int64 // writes committed or failed in those
	largest atomic.Int64 // most writes in one transaction
	solos   atomic.Int64 // writes that ran alone
}

// CommitStats counts the store's group commit since Open.
type CommitStats struct {
	// Solo is how many writes ran alone (no other write was waiting).
	Solo int64
	// Batches is how many transactions held more than one write, and
	// Batched how many writes they held in all.
	Batches, Batched int64
	// Largest is the most writes one transaction held.
	Largest int64
}

// CommitStats returns the group commit counters (for metrics and tests).
func (s *Store) CommitStats() CommitStats {
	c := &s.gc
	return CommitStats{Solo: c.solos.Load(), Batches: c.batches.Load(), Batched: c.batched.Load(), Largest: c.largest.Load()}
}

// GroupCommitCounts is CommitStats without Largest (web.GroupCommitter,
// for /metrics).
func (s *Store) GroupCommitCounts() (solo, batches, batched int64) {
	c := s.CommitStats()
	return c.Solo, c.Batches, c.Batched
}

// batchHooks are tests' view into batches of more than one write.
type batchHooks struct {
	// commit, when set, runs just before COMMIT: a non-nil error fails the
	// batch as a failed COMMIT would (the transaction is rolled back).
	commit func() error
	// done, when set, gets each request's result after the batch.
	done func(errs []error)
}

// submit queues a write and returns once the transaction holding it has
// committed (nil) or the write failed (its own error, or the batch's BEGIN
// or COMMIT error). solo marks fn as able to run without a transaction when
// it is alone. The error is the raw one from fn or the driver; callers
// wrap it.
func (s *Store) submit(ctx context.Context, solo bool, fn func(ctx context.Context, tx *sql.Tx) error) error {
	if s.closed.Load() {
		return store.Errorf(store.CodeUnavailable, "the data store is closed")
	}
	if s.noBatch {
		if solo {
			return fn(ctx, nil)
		}
		return s.txRetry(ctx, fn)
	}
	r := reqPool.Get().(*writeReq)
	r.ctx, r.fn, r.solo, r.err, r.lead = ctx, fn, solo, nil, false
	c := &s.gc
	c.mu.Lock()
	c.queue = append(c.queue, r)
	if c.leading {
		c.mu.Unlock()
		<-r.wake
		if !r.lead {
			return r.release()
		}
		c.mu.Lock()
	}
	c.leading = true
	batch := c.queue
	if len(batch) > maxBatch {
		c.queue = append([]*writeReq(nil), batch[maxBatch:]...)
		batch = batch[:maxBatch]
	} else {
		c.queue, c.spare = c.spare, nil
	}
	c.mu.Unlock()

	s.runBatch(batch, r)

	c.mu.Lock()
	clear(batch)
	if c.spare == nil {
		c.spare = batch[:0]
	}
	if len(c.queue) > 0 {
		next := c.queue[0]
		next.lead = true
		next.wake <- struct{}{}
	} else {
		c.leading = false
	}
	c.mu.Unlock()
	return r.release()
}

// release returns r's error and r to the pool.
func (r *writeReq) release() error {
	err := r.err
	r.ctx, r.fn, r.err = nil, nil, nil
	reqPool.Put(r)
	return err
}

// answer wakes r's caller, unless r is the leader's own request.
func answer(r, self *writeReq) {
	if r != self {
		r.wake <- struct{}{}
	}
}

// runBatch applies batch and answers every request in it (self, the
// leader's, by setting its err only).
func (s *Store) runBatch(batch []*writeReq, self *writeReq) {
	c := &s.gc
	// Requests whose context ended while they queued are not run.
	live := 0
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			answer(r, self)
			continue
		}
		batch[live] = r
		live++
	}
	batch = batch[:live]
	switch len(batch) {
	case 0:
		return
	case 1:
		r := batch[0]
		c.solos.Add(1)
		if r.solo {
			r.err = r.fn(r.ctx, nil)
		} else {
			r.err = s.txRetry(r.ctx, r.fn)
		}
		answer(r, self)
		return
	}
	c.batches.Add(1)
	c.batched.Add(int64(len(batch)))
	for n := int64(len(batch)); ; {
		m := c.largest.Load()
		if n <= m || c.largest.CompareAndSwap(m, n) {
			break
		}
	}
	err := s.applyBatch(batch)
	var errs []error
	for _, r := range batch {
		if err != nil && r.err == nil {
			r.err = err
		}
		if s.hooks.done != nil {
			errs = append(errs, r.err)
		}
	}
	if s.hooks.done != nil {
		s.hooks.done(errs)
	}
	for _, r := range batch {
		answer(r, self)
	}
}

// applyBatch runs batch in one transaction, each request in its own
// savepoint (setting the request's err when it fails), and commits. A
// non-nil result is the transaction's own failure: no request of the batch
// was committed.
func (s *Store) applyBatch(batch []*writeReq) (err error) {
	// The transaction and the statements run without the callers'
	// cancellation: one caller giving up must not interrupt (and so roll
	// back) the others' writes. Each request's context was checked before
	// the batch, and is checked again before its savepoint.
	tx, err := s.w.BeginTx(context.Background(), nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	bg := context.Background()
	for _, r := range batch {
		if e := r.ctx.Err(); e != nil {
			r.err = e
			continue
		}
		ctx := context.WithoutCancel(r.ctx)
		if _, err = tx.StmtContext(bg, s.st.savepoint).ExecContext(bg); err != nil {
			return err
		}
		for attempt := 1; ; attempt++ {
			if r.err = r.fn(ctx, tx); r.err == nil {
				break
			}
			// Undo this write alone (the savepoint stays, for a retry).
			// If the savepoint is gone (the driver's error rolled the
			// transaction back), the batch is lost: nothing of it commits.
			if _, err = tx.StmtContext(bg, s.st.rollbackTo).ExecContext(bg); err != nil {
				return fmt.Errorf("the transaction ended after a failed write (%v): %w", r.err, err)
			}
			if !retryable(r.err) || attempt == txAttempts || r.ctx.Err() != nil {
				break
			}
			time.Sleep(retryPause(attempt))
		}
		if _, err = tx.StmtContext(bg, s.st.release).ExecContext(bg); err != nil {
			return err
		}
	}
	if h := s.hooks.commit; h != nil {
		if err = h(); err != nil {
			return err
		}
	}
	return tx.Commit()
}
