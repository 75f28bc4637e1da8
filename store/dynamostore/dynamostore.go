// Package dynamostore is flowkv's DynamoDB backend (DATA_STORE_MODE=aws): it
// implements store.Store and store.Importer on one DynamoDB table, with the
// same semantics as the SQL backend. See docs/dynamodb.md for the table
// layout, the IAM permissions, the cost model and the item size limit.
//
// The table: partition key "pk" = namespace, sort key "sk" = key; items hold
// the data ("d" as canonical JSON, or "n" as a DynamoDB number when the
// value is a number DynamoDB can hold, so sum is an ADD), the version "v",
// flowUuid "f", expiresAt "e" (unix µs, also written as the TTL attribute
// "ttl" in epoch seconds), createdAt "c", updatedAt "u". Global secondary
// indexes serve exact data search ("data" on the canonical data hash "h",
// "num" on "n") and flowUuid search ("flow" on "f"); their sort key "nk" is
// name + "\x01" + key, so results come in (name, key) order. A namespace
// registry (partition "\x01names") lists namespaces for Names and unfiltered
// Fetch without scanning the table. Values above 350,000 bytes are chunked
// across items (chunk.go), so the default 1 MiB data limit holds.
//
// Versions are clock-based: every write picks v = max(now in µs, last
// version this process issued + 1) and is conditional on the stored version
// being lower, retrying with the stored version + 1 when another writer's
// clock is ahead. Versions therefore grow on every write and never repeat
// for an entry: a delete keeps a tombstone holding the version (removed by
// DynamoDB's TTL after a day), and an entry re-created after its tombstone
// or its expired item is gone starts from the clock, which is then far past
// any version the entry had (unless clocks of writers are skewed by more
// than a day).
package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"

	"github.com/flowkv/flowkv/store"
)

// DefaultTable is the table name when Config.Table is empty.
const DefaultTable = "flowkv"

// DefaultRegion is used when Config.Region is empty.
const DefaultRegion = "us-east-1"

// MaxDataBytes is the largest canonical data value this backend stores
// (a configured limit above it is lowered to it; Limits reports the
// effective limit). Values above 350,000 bytes do not fit one DynamoDB item
// (400 KB) and are chunked across items transparently (see chunk.go), so
// the default 1 MiB limit holds; one transaction carries at most 4 MB,
// which bounds a value.
const MaxDataBytes = 3_500_000

// maxItemBytes is DynamoDB's item size limit.
const maxItemBytes = 400 * 1024

// maxTransactBytes is DynamoDB's aggregate size limit of one transaction.
const maxTransactBytes = 4_000_000

// Key length caps from DynamoDB: a sort key is at most 1024 bytes and the
// index sort key "nk" holds name + 1 + key.
const (
	maxNameBytes = 511
	maxKeyBytes  = 512
)

// tombstoneTTL is how long a deleted entry's tombstone keeps its version.
const tombstoneTTL = 24 * time.Hour

// Config configures a DynamoDB store.
type Config struct {
	// Region is the AWS region; DefaultRegion when empty.
	Region string
	// AccessKey and Secret are static credentials. When empty, the AWS
	// default credential chain is used (environment, shared files, IAM
	// role), except with an Endpoint, where dummy credentials are used
	// (DynamoDB Local accepts any).
	AccessKey string
	Secret    string
	// Endpoint overrides the DynamoDB endpoint (DynamoDB Local:
	// http://127.0.0.1:8000).
	Endpoint string
	// Table is the table name; DefaultTable when empty. It is created when
	// missing.
	Table string
	// Limits are the store's limits; MaxDataBytes is capped at the
	// package's MaxDataBytes.
	Limits store.Limits
	// ClientOptions are applied to the DynamoDB client (tests, tuning).
	ClientOptions []func(*dynamodb.Options)
	// IndexCacheTTL is how long a process trusts its copy of a namespace's
	// index declarations (0: DefaultIndexCacheTTL). Building a new index
	// waits 1.5 times this long first, so every writer knows it.
	IndexCacheTTL time.Duration
}

// Store is a store.Store on DynamoDB. It is safe for concurrent use.
type Store struct {
	db     *dynamodb.Client
	table  string
	limits store.Limits

	clock versionClock
	known sync.Map // namespaces known to be in the registry
	ix    indexCache
}

var (
	_ store.Store    = (*Store)(nil)
	_ store.Importer = (*Store)(nil)
)

// Open connects to DynamoDB and creates the table when it is missing.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	db, err := newClient(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s := &Store{db: db, table: cfg.Table, limits: effectiveLimits(cfg.Limits)}
	s.ix.ttl = cfg.IndexCacheTTL
	if s.ix.ttl <= 0 {
		s.ix.ttl = DefaultIndexCacheTTL
	}
	if s.table == "" {
		s.table = DefaultTable
	}
	if err := s.Migrate(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func effectiveLimits(l store.Limits) store.Limits {
	l = l.Normalize()
	l.MaxDataBytes = min(l.MaxDataBytes, MaxDataBytes)
	l.MaxNameBytes = min(l.MaxNameBytes, maxNameBytes)
	l.MaxKeyBytes = min(l.MaxKeyBytes, maxKeyBytes)
	l.MaxIndexesPerName = min(l.MaxIndexesPerName, querySlots)
	return l
}

func newClient(ctx context.Context, cfg Config) (*dynamodb.Client, error) {
	region := cfg.Region
	if region == "" {
		region = DefaultRegion
	}
	opts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRegion(region),
		// Failures come back as errors; the SDK's own log lines (IMDS
		// fallbacks, connection reuse notes) would only be noise.
		awsconfig.WithLogger(logging.Nop{}),
	}
	switch {
	case cfg.AccessKey != "" || cfg.Secret != "":
		opts = append(opts, awsconfig.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.Secret, "")))
	case cfg.Endpoint != "":
		opts = append(opts, awsconfig.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider("local", "local", "")))
	}
	awscfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("dynamostore: load AWS configuration: %w", err)
	}
	clientOpts := []func(*dynamodb.Options){func(o *dynamodb.Options) {
		if ep := cfg.Endpoint; ep != "" {
			if !strings.Contains(ep, "://") {
				ep = "http://" + ep // "127.0.0.1:8000" means DynamoDB Local
			}
			o.BaseEndpoint = aws.String(ep)
		}
		// DynamoDB's CRC32 response checksums: off, so 400 responses of
		// DynamoDB Local and proxies print no checksum warnings.
		o.DisableValidateResponseChecksum = true
		o.Retryer = newRetryer(false)
		o.Logger = logging.Nop{}
	}}
	clientOpts = append(clientOpts, cfg.ClientOptions...)
	return dynamodb.NewFromConfig(awscfg, clientOpts...), nil
}

// newRetryer returns the SDK retryer: exponential backoff with jitter for
// throttling and, unless writeSafe, for every transient error. The
// writeSafe variant, used for single-item conditional writes, retries only
// failures that prove the request was not applied (throttling and refused
// connections): a timeout or a 5xx after the request was sent may have
// been applied, and a blind retry could write twice (ADD) or report
// already_exists for the caller's own insert.
func newRetryer(writeSafe bool) aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = 5
		o.MaxBackoff = 2 * time.Second
		o.RateLimiter = ratelimit.None
		// A write refused because a transaction holds the item was not
		// applied: retrying it is safe.
		refused := retry.RetryableErrorCode{Codes: map[string]struct{}{"TransactionConflictException": {}}}
		if writeSafe {
			o.Retryables = []retry.IsErrorRetryable{
				retry.NoRetryCanceledError{},
				retry.RetryableErrorCode{Codes: retry.DefaultThrottleErrorCodes},
				refused,
				retry.IsErrorRetryableFunc(notSent),
			}
		} else {
			o.Retryables = append(o.Retryables, refused)
		}
	})
}

// notSent reports true for connection failures before the request left.
func notSent(err error) aws.Ternary {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return aws.TrueTernary
	}
	var ue *url.Error
	if errors.As(err, &ue) && strings.Contains(ue.Error(), "connection refused") {
		return aws.TrueTernary
	}
	return aws.UnknownTernary
}

// writeOpt is the per-call option of single-item conditional writes.
var writeOpt = func(o *dynamodb.Options) { o.Retryer = newRetryer(true) }

// Migrate creates the table with its indexes when it is missing and turns
// on DynamoDB's TTL on the "ttl" attribute. It is idempotent.
func (s *Store) Migrate(ctx context.Context) error {
	out, err := s.db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &s.table})
	var nf *types.ResourceNotFoundException
	switch {
	case errors.As(err, &nf):
		if err := s.createTable(ctx); err != nil {
			return err
		}
	case err != nil:
		return wrapErr("describe table "+s.table, err)
	default:
		if err := checkIndexes(out.Table); err != nil {
			return err
		}
		if out.Table.TableStatus != types.TableStatusActive {
			if err := s.waitActive(ctx); err != nil { // another process creates it
				return err
			}
		}
		if err := s.addQueryIndexes(ctx, out.Table); err != nil {
			return err
		}
	}
	return s.enableTTL(ctx)
}

func (s *Store) createTable(ctx context.Context) error {
	str := func(v string) *string { return &v }
	gsi := func(name, hash string) types.GlobalSecondaryIndex {
		return types.GlobalSecondaryIndex{
			IndexName: str(name),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: str(hash), KeyType: types.KeyTypeHash},
				{AttributeName: str(aNK), KeyType: types.KeyTypeRange},
			},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		}
	}
	_, err := s.db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   &s.table,
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: append([]types.AttributeDefinition{
			{AttributeName: str(aPK), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: str(aSK), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: str(aNK), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: str(aHash), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: str(aNum), AttributeType: types.ScalarAttributeTypeN},
			{AttributeName: str(aFlow), AttributeType: types.ScalarAttributeTypeS},
		}, querySlotAttrs()...),
		KeySchema: []types.KeySchemaElement{
			{AttributeName: str(aPK), KeyType: types.KeyTypeHash},
			{AttributeName: str(aSK), KeyType: types.KeyTypeRange},
		},
		GlobalSecondaryIndexes: append([]types.GlobalSecondaryIndex{
			gsi(indexData, aHash), gsi(indexNum, aNum), gsi(indexFlow, aFlow),
		}, querySlotIndexes()...),
	})
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) { // in use: another process creates it
		return wrapErr("create table "+s.table, err)
	}
	return s.waitActive(ctx)
}

// waitActive waits until the table is ACTIVE.
func (s *Store) waitActive(ctx context.Context) error {
	w := dynamodb.NewTableExistsWaiter(s.db, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 100*time.Millisecond, 5*time.Second
	})
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: &s.table}, 5*time.Minute); err != nil {
		return wrapErr("wait for table "+s.table, err)
	}
	return nil
}

// querySlotIndexes are the declared-index GSIs qx0…: keyed by xpN and
// xsN, projecting every attribute.
func querySlotIndexes() []types.GlobalSecondaryIndex {
	var out []types.GlobalSecondaryIndex
	for i := range querySlots {
		out = append(out, types.GlobalSecondaryIndex{
			IndexName: aws.String(slotIndex(i)),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String(slotPK(i)), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String(slotSK(i)), KeyType: types.KeyTypeRange},
			},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		})
	}
	return out
}

func querySlotAttrs() []types.AttributeDefinition {
	var out []types.AttributeDefinition
	for i := range querySlots {
		out = append(out,
			types.AttributeDefinition{AttributeName: aws.String(slotPK(i)), AttributeType: types.ScalarAttributeTypeS},
			types.AttributeDefinition{AttributeName: aws.String(slotSK(i)), AttributeType: types.ScalarAttributeTypeS})
	}
	return out
}

// addQueryIndexes adds the declared-index GSIs a table made by an earlier
// flowkv lacks, one at a time (DynamoDB builds one per UpdateTable),
// waiting for each to become active.
func (s *Store) addQueryIndexes(ctx context.Context, t *types.TableDescription) error {
	have := map[string]bool{}
	for _, g := range t.GlobalSecondaryIndexes {
		have[aws.ToString(g.IndexName)] = true
	}
	attrs := querySlotAttrs()
	for i, g := range querySlotIndexes() {
		if have[aws.ToString(g.IndexName)] {
			continue
		}
		_, err := s.db.UpdateTable(ctx, &dynamodb.UpdateTableInput{
			TableName:            &s.table,
			AttributeDefinitions: attrs[2*i : 2*i+2],
			GlobalSecondaryIndexUpdates: []types.GlobalSecondaryIndexUpdate{{Create: &types.CreateGlobalSecondaryIndexAction{
				IndexName: g.IndexName, KeySchema: g.KeySchema, Projection: g.Projection,
			}}},
		})
		var inUse *types.ResourceInUseException
		if err != nil && !errors.As(err, &inUse) {
			return wrapErr("add index "+aws.ToString(g.IndexName)+" to "+s.table, err)
		}
		if err := s.waitIndexes(ctx); err != nil {
			return err
		}
	}
	return nil
}

// waitIndexes waits until the table and every index are active.
func (s *Store) waitIndexes(ctx context.Context) error {
	for {
		out, err := s.db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &s.table})
		if err != nil {
			return wrapErr("describe table "+s.table, err)
		}
		ready := out.Table.TableStatus == types.TableStatusActive
		for _, g := range out.Table.GlobalSecondaryIndexes {
			ready = ready && g.IndexStatus == types.IndexStatusActive
		}
		if ready {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("dynamostore: wait for the indexes of %s: %w", s.table, ctx.Err())
		case <-time.After(time.Second):
		}
	}
}

func checkIndexes(t *types.TableDescription) error {
	have := map[string]bool{}
	for _, g := range t.GlobalSecondaryIndexes {
		have[aws.ToString(g.IndexName)] = true
	}
	for _, want := range []string{indexData, indexNum, indexFlow} {
		if !have[want] {
			return store.Errorf(store.CodeUnavailable, "dynamostore: table %s has no index %q: it was not created by flowkv", aws.ToString(t.TableName), want)
		}
	}
	return nil
}

func (s *Store) enableTTL(ctx context.Context) error {
	d, err := s.db.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: &s.table})
	if err != nil {
		return wrapErr("describe TTL of "+s.table, err)
	}
	if d.TimeToLiveDescription != nil {
		switch d.TimeToLiveDescription.TimeToLiveStatus {
		case types.TimeToLiveStatusEnabled, types.TimeToLiveStatusEnabling:
			return nil
		}
	}
	_, err = s.db.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: &s.table,
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(aTTL), Enabled: aws.Bool(true),
		},
	})
	if err != nil && !strings.Contains(err.Error(), "already enabled") {
		return wrapErr("enable TTL on "+s.table, err)
	}
	return nil
}

// Limits returns the limits this store enforces (data capped at
// MaxDataBytes).
func (s *Store) Limits() store.Limits { return s.limits }

// Ping reports whether the table is reachable.
func (s *Store) Ping(ctx context.Context) error {
	_, err := s.db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &s.table})
	return wrapErr("ping", err)
}

// Close releases nothing: the SDK client holds only idle connections.
func (s *Store) Close() error { return nil }

// DeleteTable deletes the store's table with all its entries (tests
// clean up with it). The store is not usable afterwards.
func (s *Store) DeleteTable(ctx context.Context) error {
	_, err := s.db.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: &s.table})
	return wrapErr("delete table "+s.table, err)
}

// Client returns the underlying DynamoDB client (benchmarks, tools).
func (s *Store) Client() *dynamodb.Client { return s.db }

// Table returns the table name.
func (s *Store) Table() string { return s.table }

// wrapErr turns an SDK error into a coded error: the context's errors stay
// (timeout), everything else is unavailable with the step that failed.
func wrapErr(step string, err error) error {
	if err == nil {
		return nil
	}
	var se *store.Error
	if errors.As(err, &se) {
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return fmt.Errorf("dynamostore: %s: %w", step, err)
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return &wrapped{msg: "dynamostore: " + step + ": " + ae.ErrorCode() + ": " + ae.ErrorMessage(), err: err}
	}
	return &wrapped{msg: "dynamostore: " + step + ": " + err.Error(), err: err}
}

// wrapped keeps the SDK error in the chain with the step that failed; its
// code is unavailable (store.CodeOf) and store.Message shows users only the
// generic text.
type wrapped struct {
	msg string
	err error
}

func (w *wrapped) Error() string { return w.msg }
func (w *wrapped) Unwrap() error { return w.err }

// versionClock issues versions: unix µs, strictly increasing per process.
type versionClock struct {
	mu   sync.Mutex
	last int64
}

// next returns a version > every version issued before and >= atLeast.
func (c *versionClock) next(atLeast int64) int64 {
	now := time.Now().UnixMicro()
	c.mu.Lock()
	defer c.mu.Unlock()
	v := max(now, c.last+1, atLeast)
	c.last = v
	return v
}
