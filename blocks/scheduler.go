package blocks

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/flowkv/flowkv/store"
)

// SchedulerOptions configure a Scheduler.
type SchedulerOptions struct {
	// Poll is how often due schedules are checked (default 1s).
	Poll time.Duration
	// Reload is how often stored flows are re-read to pick up new, changed
	// and deleted schedules (default 10s). Changes made through the
	// scheduler's own Engine are picked up at once.
	Reload time.Duration
	// ClaimTTL is how long a claimed scheduled time is remembered (default
	// 10m); processes whose clocks differ by more may run a time twice.
	ClaimTTL time.Duration
}

// Scheduler runs the stored flows whose trigger is a schedule. Several
// processes may run a scheduler over the same store: each scheduled time
// is claimed in the store (TicksNamespace) before it runs, so it runs
// once. A flow still running when its next time comes skips that time.
type Scheduler struct {
	e    *Engine
	opts SchedulerOptions

	mu      sync.Mutex
	flows   map[string]*scheduled
	running map[string]bool
	wg      sync.WaitGroup
}

type scheduled struct {
	spec  string // what the schedule was built from, to notice changes
	sched Schedule
	next  time.Time
}

// NewScheduler returns a scheduler for e's stored flows; call Run to start it.
func NewScheduler(e *Engine, opts SchedulerOptions) *Scheduler {
	if opts.Poll <= 0 {
		opts.Poll = time.Second
	}
	if opts.Reload <= 0 {
		opts.Reload = 10 * time.Second
	}
	if opts.ClaimTTL <= 0 {
		opts.ClaimTTL = 10 * time.Minute
	}
	return &Scheduler{e: e, opts: opts, flows: map[string]*scheduled{}, running: map[string]bool{}}
}

// Run checks schedules until ctx is done, then waits for the runs it
// started (each bounded by its flow's timeout; cancelled with ctx) and
// returns nil. Call it once, typically `go sched.Run(ctx)` in serve.
func (s *Scheduler) Run(ctx context.Context) error {
	poll := time.NewTicker(s.opts.Poll)
	defer poll.Stop()
	var lastLoad time.Time
	for {
		now := s.e.now()
		if now.Sub(lastLoad) >= s.opts.Reload {
			if err := s.reload(ctx, now); err != nil && ctx.Err() == nil {
				s.e.log.Warn("blocks: scheduler could not read flows", "err", err)
			} else {
				lastLoad = now
			}
		}
		s.fireDue(ctx, now)
		select {
		case <-ctx.Done():
			s.wg.Wait()
			return nil
		case <-poll.C:
		case <-s.e.changed:
			lastLoad = time.Time{} // a flow changed through this engine: reload now
		}
	}
}

// reload reads the stored flows and updates the schedule table.
func (s *Scheduler) reload(ctx context.Context, now time.Time) error {
	flows, err := s.e.ListFlows(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	keep := map[string]bool{}
	for _, sf := range flows {
		t := sf.Flow.Trigger
		if t.Type != TriggerSchedule {
			continue
		}
		spec := "every " + t.Every
		var sched Schedule
		if t.Cron != "" {
			spec = "cron " + t.Cron
			sched, err = ParseCron(t.Cron)
		} else {
			sched, err = ParseEvery(t.Every)
		}
		if err != nil {
			continue // validated on put; a stored flow that no longer parses is skipped
		}
		keep[sf.Flow.ID] = true
		if cur, ok := s.flows[sf.Flow.ID]; ok && cur.spec == spec {
			continue
		}
		s.flows[sf.Flow.ID] = &scheduled{spec: spec, sched: sched, next: sched.Next(now)}
	}
	for id := range s.flows {
		if !keep[id] {
			delete(s.flows, id)
		}
	}
	return nil
}

// fireDue starts every flow whose next time has come.
func (s *Scheduler) fireDue(ctx context.Context, now time.Time) {
	if ctx.Err() != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, f := range s.flows {
		if f.next.IsZero() || now.Before(f.next) {
			continue
		}
		tick := f.next
		f.next = f.sched.Next(now)
		if s.running[id] {
			s.e.log.Info("blocks: scheduled run skipped, the previous run is still going", "flow", id, "time", tick)
			continue
		}
		s.running[id] = true
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.running, id)
				s.mu.Unlock()
			}()
			s.fire(ctx, id, tick)
		}()
	}
}

// drop removes flow id's schedule (until a reload finds it again).
func (s *Scheduler) drop(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.flows, id)
}

// fire claims one scheduled time of a flow and runs it if the claim won.
func (s *Scheduler) fire(ctx context.Context, id string, tick time.Time) {
	// A flow deleted by another process (the CLI, another server) is
	// dropped at its next time instead of failing at every one until the
	// next reload.
	sf, err := s.e.GetFlow(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		s.drop(id)
		return
	}
	claim, _ := json.Marshal(map[string]any{"flow": id, "time": tick.UTC()})
	key := id + "@" + tick.UTC().Format(time.RFC3339)
	_, err = s.e.st.Insert(ctx, TicksNamespace, key, claim, store.WriteOptions{TTL: s.opts.ClaimTTL})
	if errors.Is(err, store.ErrExists) {
		return // another process runs this time
	}
	if err != nil {
		s.e.log.Warn("blocks: could not claim a scheduled run", "flow", id, "time", tick, "err", err)
		return
	}
	var input json.RawMessage
	if sf.Flow != nil {
		input = sf.Flow.Trigger.Input
	}
	// Attached: the scheduler's runs end when it stops.
	r, err := s.e.runFlow(ctx, id, RunRequest{Input: input, Trigger: TriggerSchedule}, true)
	switch {
	case err != nil:
		s.e.log.Warn("blocks: scheduled run did not start", "flow", id, "err", err)
	case r.Status != StatusSucceeded:
		s.e.log.Info("blocks: scheduled run failed", "flow", id, "run", r.ID, "error", r.Error)
	}
}
