package kvconnect

import (
	"context"
	"time"

	"github.com/flowkv/flowkv/internal/denokv"
	"github.com/flowkv/flowkv/kvconnect/kvdb"
	"github.com/flowkv/flowkv/kvconnect/pb"
	"github.com/flowkv/flowkv/store"
)

func invalid(format string, args ...any) error {
	return store.Errorf(store.CodeInvalidArgument, format, args...)
}

var mutationOps = map[pb.MutationType]kvdb.Op{
	pb.MutationType_M_SET: kvdb.Set, pb.MutationType_M_DELETE: kvdb.Delete,
	pb.MutationType_M_SUM: kvdb.Sum, pb.MutationType_M_MIN: kvdb.Min, pb.MutationType_M_MAX: kvdb.Max,
}

// parse turns a request into kvdb's checks and mutations: values into
// entry data, expiry times into TTLs. kvdb.Apply checks the limits on
// counts and sizes.
func parse(req *pb.AtomicWrite, now time.Time) ([]kvdb.Check, []kvdb.Mutation, error) {
	if len(req.Enqueues) > 0 {
		return nil, nil, invalid("queues (kv.enqueue, kv.listenQueue) are not part of KV Connect on flowkv")
	}
	checks := make([]kvdb.Check, len(req.Checks))
	for i, c := range req.Checks {
		checks[i] = kvdb.Check{Key: c.Key, Versionstamp: c.Versionstamp}
	}
	muts := make([]kvdb.Mutation, len(req.Mutations))
	for i, m := range req.Mutations {
		if m.MutationType == pb.MutationType_M_SET_SUFFIX_VERSIONSTAMPED_KEY {
			return nil, nil, invalid("mutations[%d]: versionstamped keys are not supported by flowkv", i)
		}
		op, ok := mutationOps[m.MutationType]
		if !ok {
			return nil, nil, invalid("mutations[%d]: invalid mutation kind or arguments", i)
		}
		mu := kvdb.Mutation{Key: m.Key, Op: op, SumMin: m.SumMin, SumMax: m.SumMax, Clamp: m.SumClamp}
		if m.Value != nil {
			if len(m.Value.Data) > denokv.MaxValueBytes {
				return nil, nil, invalid("mutations[%d]: the value exceeds Deno KV's value size limit (%d bytes)", i, denokv.MaxValueBytes)
			}
			mu.Enc, mu.Raw = denokv.Encoding(m.Value.Encoding), m.Value.Data
			if mu.Raw == nil {
				mu.Raw = []byte{}
			}
		}
		if op == kvdb.Set && m.Value != nil {
			d, err := denokv.ToData(mu.Enc, mu.Raw)
			if err != nil {
				return nil, nil, invalid("mutations[%d]: %v", i, err)
			}
			mu.Data = d
			switch {
			case m.ExpireAtMs > 0:
				mu.TTL = max(time.UnixMilli(m.ExpireAtMs).Sub(now), time.Millisecond)
				if mu.TTL > store.MaxTTL {
					return nil, nil, invalid("mutations[%d]: expireIn is beyond 100 years", i)
				}
			case m.ExpireAtMs < -1:
				return nil, nil, invalid("mutations[%d]: invalid mutation expire at", i)
			}
		}
		muts[i] = mu
	}
	return checks, muts, nil
}

// apply runs an atomic write through kvdb.Apply.
func (h *handler) apply(ctx context.Context, st store.Store, name string, req *pb.AtomicWrite) (*pb.AtomicWriteOutput, error) {
	checks, muts, err := parse(req, time.Now())
	if err != nil {
		return nil, err
	}
	vs, ok, err := kvdb.Apply(ctx, st, name, checks, muts)
	if err != nil {
		return nil, err
	}
	if !ok {
		return &pb.AtomicWriteOutput{Status: pb.AtomicWriteStatus_AW_CHECK_FAILURE}, nil
	}
	return &pb.AtomicWriteOutput{Status: pb.AtomicWriteStatus_AW_SUCCESS, Versionstamp: vs}, nil
}
