package blocks

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/flowkv/flowkv/store"
)

// The reserved namespaces the engine keeps its records in (written through
// the raw store, so every backend holds them).
const (
	// FlowsNamespace holds stored flows, keyed by flow id.
	FlowsNamespace = store.ReservedPrefix + "flows"
	// FlowUUIDsNamespace maps flow UUIDs to flow ids.
	FlowUUIDsNamespace = store.ReservedPrefix + "flowuuids"
	// RunsNamespace holds run records, keyed FLOW-UUID/INVERTED-RUN-ID so
	// a flow's runs list newest first, and a flow deleted and re-created
	// under the same id (a new UUID) starts with no history.
	RunsNamespace = store.ReservedPrefix + "flowruns"
	// RunIDsNamespace maps a run id to its flow's UUID ({"flowUuid"}), so a
	// run can be read by its id alone (Engine.RunByID); written with the
	// run record, in one transaction, and deleted with it.
	RunIDsNamespace = store.ReservedPrefix + "runids"
	// LegacyRunsNamespace held run records keyed by flow id before they
	// were keyed by UUID; they are no longer read and expire with their TTL.
	LegacyRunsNamespace = store.ReservedPrefix + "runs"
	// TicksNamespace holds schedule claims so each scheduled time runs once
	// across processes.
	TicksNamespace = store.ReservedPrefix + "ticks"
)

// Trigger names recorded in runs besides TriggerManual, TriggerWebhook and
// TriggerSchedule.
const (
	// TriggerFile marks a run of a flow file that was not stored.
	TriggerFile = "file"
)

// Run and block statuses.
const (
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	StatusSkipped   = "skipped"
	// StatusRunning is the status of a run record written before the run
	// finished (a webhook answer that stopped waiting); the final record
	// replaces it.
	StatusRunning = "running"
)

// DefaultRunTTL is how long run records are kept by default.
const DefaultRunTTL = 30 * 24 * time.Hour

// Run retention per flow: the newest DefaultRunKeep records, at most
// DefaultRunMaxBytes of them in total, by default (Options.RunKeep,
// Options.RunMaxBytes).
const (
	DefaultRunKeep     = 100
	DefaultRunMaxBytes = 10 << 20
)

// FileNamespace is the UUID namespace of flow UUIDs derived from an id for
// `flow run --file` (UUIDv5 of the id in this namespace).
var FileNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://flowkv.dev/flows"))

// FileFlowUUID is the UUID of a flow run from a file without storing it:
// the UUIDv5 of its id, so every run of the same file stamps the same UUID.
func FileFlowUUID(id string) string { return uuid.NewSHA1(FileNamespace, []byte(id)).String() }

// Options configure an Engine.
type Options struct {
	// RunTTL is how long run records live; 0 means DefaultRunTTL, a negative
	// value keeps none (runs are not recorded).
	RunTTL time.Duration
	// RunKeep is how many run records each flow keeps, newest first
	// (0 means DefaultRunKeep; negative: no count limit).
	RunKeep int
	// RunMaxBytes bounds the total size of a flow's run records, newest
	// kept first (0 means DefaultRunMaxBytes; negative: no size limit).
	// The newest record is always kept. Older records are pruned after
	// every RunKeep/4 runs or RunMaxBytes/4 bytes a process records for
	// the flow (and at its first run in the process), so a flow may hold
	// up to a quarter more between prunes.
	RunMaxBytes int64
	// Logger receives engine events (failed run records, scheduler errors).
	Logger *slog.Logger
	// MaxLogLines bounds the log lines kept per run (default 1000).
	MaxLogLines int
	// FlowCacheTTL is how long a stored flow, once read, is run without
	// reading it again (default 1s; negative: read it for every run). A put
	// or delete through the same Engine takes effect at once; one made by
	// another process takes effect within this time.
	FlowCacheTTL time.Duration
}

// Engine stores, validates and runs flows. It is safe for concurrent use.
type Engine struct {
	st     store.Store
	opts   Options
	log    *slog.Logger
	mu     sync.Mutex
	cache  map[string]cachedFlow // flow id -> compiled flow at a version
	now    func() time.Time
	limits store.Limits
	// changed is signalled (without blocking) when a flow is put or
	// deleted, so a Scheduler on this engine reloads at once.
	changed chan struct{}

	// base ends when the engine shuts down (Shutdown): it cancels the
	// runs still going on. Runs are detached from their callers' contexts.
	base     context.Context
	shutdown context.CancelCauseFunc
	// runs counts the runs going on, for Shutdown.
	runs sync.WaitGroup

	// runsMu guards active, byID, deleted and since.
	runsMu sync.Mutex
	// active holds the runs going on, by flow UUID; byID by run id.
	active map[string]map[*activeRun]struct{}
	byID   map[string]*activeRun
	// deleted remembers the UUIDs of the flows deleted through this engine
	// (the last maxDeleted), so a run that loaded one just before the
	// delete does not start, and its record is not written.
	deleted      map[string]struct{}
	deletedOrder []string
	// ptrMu guards the run id pointers waiting to be written (runs.go).
	ptrMu      sync.Mutex
	ptrPending map[string]string // run id -> flow UUID
	ptrQueue   []string
	ptrWriting bool
	ptrDone    chan struct{}

	// since counts what was recorded per flow UUID since its last prune.
	since map[string]*pruneState
}

// activeRun is a run going on.
type activeRun struct {
	cancel   context.CancelCauseFunc
	flowUUID string
	started  time.Time
	done     chan struct{} // closed when the run finished and was recorded
	// mu guards run while it runs (blocks and logs are appended).
	mu  sync.Mutex
	run *Run
	// recMu serialises writing the run's record: a provisional "running"
	// one (RunStarted) never lands after the final one.
	recMu    sync.Mutex
	recorded bool
	// err is the final record's write error (read after done).
	err error
	ctx context.Context
	cf  *compiledFlow
	id  uuid.UUID
}

type pruneState struct {
	runs  int
	bytes int64
}

const maxDeleted = 4096

type cachedFlow struct {
	version int64
	cf      *compiledFlow
	uuid    string
	checked time.Time // when the stored version was last read
}

// NewEngine returns an engine over the raw store st (not a grants-limited
// view): flows, runs and schedule claims live in reserved namespaces of st,
// and each run sees st limited to its flow's dataStores.
func NewEngine(st store.Store, opts Options) *Engine {
	if opts.RunTTL == 0 {
		opts.RunTTL = DefaultRunTTL
	}
	if opts.MaxLogLines <= 0 {
		opts.MaxLogLines = 1000
	}
	if opts.FlowCacheTTL == 0 {
		opts.FlowCacheTTL = time.Second
	}
	if opts.RunKeep == 0 {
		opts.RunKeep = DefaultRunKeep
	}
	if opts.RunMaxBytes == 0 {
		opts.RunMaxBytes = DefaultRunMaxBytes
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	base, shutdown := context.WithCancelCause(context.Background())
	return &Engine{st: st, opts: opts, log: log, cache: map[string]cachedFlow{}, now: time.Now, limits: st.Limits(),
		changed: make(chan struct{}, 1), active: map[string]map[*activeRun]struct{}{}, byID: map[string]*activeRun{},
		deleted: map[string]struct{}{}, since: map[string]*pruneState{}, base: base, shutdown: shutdown,
		ptrPending: map[string]string{}}
}
