package kvconnect

import (
	"bytes"
	"encoding/binary"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"google.golang.org/protobuf/proto"

	"github.com/flowkv/flowkv/internal/changes"
	"github.com/flowkv/flowkv/internal/tokens"
	"github.com/flowkv/flowkv/kvconnect/pb"
	"github.com/flowkv/flowkv/store"
)

// stream answers a watch: the keys' current entries, then the entries of
// the keys that changed, as length-prefixed WatchOutput messages. It wakes
// on the server's change hub (writes through this process, any face) and
// re-reads every changes.PollInterval (writes by other processes). It ends
// when the client goes away, the server stops, or the token is revoked or
// loses its grant (the token's record is watched through the same hub).
func (h *handler) stream(c echo.Context, name, secret string, keys [][]byte) error {
	ctx := c.Request().Context()
	stored := make([]string, len(keys))
	ranges := make([]store.KeyRange, len(keys))
	for i, k := range keys {
		stored[i] = store.TupleKey(k)
		end := append(append([]byte{}, k...), 0)
		ranges[i] = store.KeyRange{Start: stored[i], End: store.TupleKey(end), Limit: 1}
	}
	hub := h.s.Changes()
	sub := hub.Subscribe(name, stored...)
	defer sub.Close()
	tokSub := hub.Subscribe(tokens.Namespace, tokens.KeyOf(secret))
	defer tokSub.Close()

	read := func() ([]*pb.KvEntry, error) {
		out := make([]*pb.KvEntry, len(keys))
		if len(ranges) == 0 {
			return out, nil
		}
		// The raw store: the grant was checked (and is checked again on
		// every poll); polls do not count against the token's quota.
		res, err := h.s.RawStore().ReadRanges(ctx, name, ranges)
		if err != nil {
			return nil, err
		}
		for i, es := range res {
			if len(es) == 1 {
				if out[i], err = kvEntry(es[0]); err != nil {
					return nil, err
				}
			}
		}
		return out, nil
	}
	first, err := read()
	if err != nil {
		return fail(c, err)
	}
	w := c.Response()
	w.Header().Set(echo.HeaderContentType, "application/octet-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	send := func(m *pb.WatchOutput) bool {
		var b []byte
		if m != nil {
			var err error
			if b, err = proto.Marshal(m); err != nil {
				return false
			}
		}
		if _, err := w.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(b)))); err != nil {
			return false
		}
		if _, err := w.Write(b); err != nil {
			return false
		}
		w.Flush()
		return true
	}
	out := &pb.WatchOutput{Status: pb.SnapshotReadStatus_SR_SUCCESS}
	for _, e := range first {
		out.Keys = append(out.Keys, &pb.WatchKeyOutput{Changed: true, EntryIfChanged: e})
	}
	if !send(out) {
		return nil
	}
	last := first
	poll := time.NewTicker(changes.PollInterval)
	defer poll.Stop()
	idle := time.NewTimer(keepAlive)
	defer idle.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-h.s.Stopping():
			return nil
		case <-idle.C:
			if !send(nil) {
				return nil
			}
			idle.Reset(keepAlive)
			continue
		case <-tokSub.C:
			if !h.stillAllowed(c, name, secret) {
				return nil
			}
			continue
		case <-poll.C:
			if !h.stillAllowed(c, name, secret) {
				return nil
			}
		case <-sub.C:
		}
		now, err := read()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			h.s.Logger().Warn("kvconnect: watch read failed", "name", name, "err", err)
			continue // the next poll tries again
		}
		changed := false
		for i := range now {
			changed = changed || !sameEntry(last[i], now[i])
		}
		if !changed {
			continue
		}
		// Every key is sent as changed, with its entry: Deno's own client
		// yields null for a key reported unchanged.
		out := &pb.WatchOutput{Status: pb.SnapshotReadStatus_SR_SUCCESS}
		for _, e := range now {
			out.Keys = append(out.Keys, &pb.WatchKeyOutput{Changed: true, EntryIfChanged: e})
		}
		last = now
		if !send(out) {
			return nil
		}
		idle.Reset(keepAlive)
	}
}

// stillAllowed re-verifies the stream's token and grant.
func (h *handler) stillAllowed(c echo.Context, name, secret string) bool {
	t, err := h.s.Tokens().Verify(c.Request().Context(), secret)
	return err == nil && t.Grants.Level(name) >= store.Read
}

func sameEntry(a, b *pb.KvEntry) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return bytes.Equal(a.Versionstamp, b.Versionstamp)
}
