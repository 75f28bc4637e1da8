package quota

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/flowkv/flowkv/store"
)

// The reserved namespaces this package keeps its records in.
const (
	// QuotasNamespace holds the quotas: key "token/ID" ({opsPerMonth,
	// scriptRuns}) and "namespace/NAME" ({entries, bytes}).
	QuotasNamespace = store.ReservedPrefix + "quotas"
	// UsageNamespace holds the monthly operation totals: key
	// "ops/YYYY-MM/ID", data a JSON number, kept UsageRetention.
	UsageNamespace = store.ReservedPrefix + "usage"
)

// UsageRetention is how long a month's operation total is kept.
const UsageRetention = 400 * 24 * time.Hour

const (
	tokenPrefix = "token/"
	nsPrefix    = "namespace/"
)

// Month formats the calendar month (UTC) of t as "YYYY-MM".
func Month(t time.Time) string { return t.UTC().Format("2006-01") }

// monthIndex numbers months: it changes exactly at a UTC month boundary.
func monthIndex(t time.Time) int {
	t = t.UTC()
	return t.Year()*12 + int(t.Month()) - 1
}

func monthName(idx int) string {
	return fmt.Sprintf("%04d-%02d", idx/12, idx%12+1)
}

// MonthEnd is the first instant of the month after t's (UTC): when a
// monthly quota resets.
func MonthEnd(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, time.UTC)
}

func opsKey(month, id string) string { return "ops/" + month + "/" + id }

// SetTokenQuota stores token id's quota (a zero quota removes it). It does
// not check that the token exists.
func SetTokenQuota(ctx context.Context, s store.Store, id string, q TokenQuota) error {
	if id == "" {
		return store.Errorf(store.CodeInvalidArgument, "token id: required")
	}
	if q.OpsPerMonth < 0 || q.ScriptRuns < 0 {
		return store.Errorf(store.CodeInvalidArgument, "a quota cannot be negative")
	}
	if q == (TokenQuota{}) {
		_, err := s.Delete(ctx, QuotasNamespace, tokenPrefix+id, store.DeleteOptions{})
		return err
	}
	data, _ := json.Marshal(q)
	_, err := s.Upsert(ctx, QuotasNamespace, tokenPrefix+id, data, store.WriteOptions{})
	return err
}

// GetTokenQuota reads token id's quota (zero when none is set).
func GetTokenQuota(ctx context.Context, s store.Store, id string) (TokenQuota, error) {
	var q TokenQuota
	e, err := s.FindNameKey(ctx, QuotasNamespace, tokenPrefix+id)
	if errors.Is(err, store.ErrNotFound) {
		return q, nil
	}
	if err != nil {
		return q, err
	}
	if err := json.Unmarshal(e.Data, &q); err != nil {
		return q, store.Errorf(store.CodeUnavailable, "quota record %s is damaged", e.Key)
	}
	return q, nil
}

// SetNamespaceQuota stores namespace name's quota (a zero quota removes
// it). Reserved namespaces cannot have one.
func SetNamespaceQuota(ctx context.Context, s store.Store, name string, q NamespaceQuota) error {
	if err := s.Limits().Normalize().ValidateName(name); err != nil {
		return err
	}
	if store.IsReserved(name) {
		return store.Errorf(store.CodeInvalidArgument, "namespace %q is reserved: it cannot have a quota", name)
	}
	if q.Entries < 0 || q.Bytes < 0 {
		return store.Errorf(store.CodeInvalidArgument, "a quota cannot be negative")
	}
	if q.IsZero() {
		_, err := s.Delete(ctx, QuotasNamespace, nsPrefix+name, store.DeleteOptions{})
		return err
	}
	data, _ := json.Marshal(q)
	_, err := s.Upsert(ctx, QuotasNamespace, nsPrefix+name, data, store.WriteOptions{})
	return err
}

// NamespaceQuotas returns every namespace quota, by namespace.
func NamespaceQuotas(ctx context.Context, s store.Store) (map[string]NamespaceQuota, error) {
	_, nq, err := readAll(ctx, s)
	return nq, err
}

// TokenQuotas returns every token quota, by token id.
func TokenQuotas(ctx context.Context, s store.Store) (map[string]TokenQuota, error) {
	tq, _, err := readAll(ctx, s)
	return tq, err
}

// readAll reads every quota record.
func readAll(ctx context.Context, s store.Store) (map[string]TokenQuota, map[string]NamespaceQuota, error) {
	tq := map[string]TokenQuota{}
	nq := map[string]NamespaceQuota{}
	cursor := ""
	for {
		p, err := s.List(ctx, QuotasNamespace, "", cursor, s.Limits().Normalize().MaxListLimit)
		if err != nil {
			return nil, nil, err
		}
		for _, e := range p.Entries {
			switch {
			case strings.HasPrefix(e.Key, tokenPrefix):
				var q TokenQuota
				if json.Unmarshal(e.Data, &q) == nil {
					tq[strings.TrimPrefix(e.Key, tokenPrefix)] = q
				}
			case strings.HasPrefix(e.Key, nsPrefix):
				var q NamespaceQuota
				if json.Unmarshal(e.Data, &q) == nil && !q.IsZero() {
					nq[strings.TrimPrefix(e.Key, nsPrefix)] = q
				}
			}
		}
		if p.NextCursor == "" {
			return tq, nq, nil
		}
		cursor = p.NextCursor
	}
}

// StoredOps returns the operations stored for token id in month
// ("YYYY-MM"): what every server had flushed (a running server adds its
// count every FlushEvery).
func StoredOps(ctx context.Context, s store.Store, id, month string) (int64, error) {
	e, err := s.FindNameKey(ctx, UsageNamespace, opsKey(month, id))
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return number(e.Data), nil
}

// StoredOpsByToken returns the stored operation totals of month by token
// id (one scan of the month's records).
func StoredOpsByToken(ctx context.Context, s store.Store, month string) (map[string]int64, error) {
	out := map[string]int64{}
	prefix := opsKey(month, "")
	cursor := ""
	for {
		p, err := s.List(ctx, UsageNamespace, prefix, cursor, s.Limits().Normalize().MaxListLimit)
		if err != nil {
			return nil, err
		}
		for _, e := range p.Entries {
			out[strings.TrimPrefix(e.Key, prefix)] = number(e.Data)
		}
		if p.NextCursor == "" {
			return out, nil
		}
		cursor = p.NextCursor
	}
}

// number reads a stored total (a JSON number; sums may store 1e+06).
func number(data json.RawMessage) int64 {
	s := strings.TrimSpace(string(data))
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(f) {
		return int64(f)
	}
	return 0
}

// Count counts namespace name in s: live entries and bytes stored (key
// length plus canonical data length of each). It reads the whole
// namespace, a page at a time.
func Count(ctx context.Context, s store.Store, name string) (entries, bytes int64, err error) {
	cursor := ""
	limit := s.Limits().Normalize().MaxListLimit
	for {
		p, err := s.List(ctx, name, "", cursor, limit)
		if err != nil {
			return 0, 0, err
		}
		for _, e := range p.Entries {
			entries++
			bytes += int64(len(e.Key) + len(e.Data))
		}
		if p.NextCursor == "" {
			return entries, bytes, nil
		}
		cursor = p.NextCursor
	}
}
