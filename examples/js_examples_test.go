package examples_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/flowkv/flowkv/blocks"
	"github.com/flowkv/flowkv/store"
)

func TestRateLimiter(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	// 20 concurrent runs must fall in one one-minute window: start away
	// from a minute's edge.
	for time.Now().UTC().Second() >= 50 {
		time.Sleep(200 * time.Millisecond)
	}
	const n = 20
	var wg sync.WaitGroup
	runs := make([]*blocks.Run, n)
	errs := make([]error, n)
	in := json.RawMessage(`{"userId": "usr_abc123", "action": "checkout"}`)
	for i := range n {
		wg.Add(1)
		go func() { // t.Fatal belongs to the test's goroutine: errors are kept
			defer wg.Done()
			runs[i], errs[i] = v.e.RunFlow(context.Background(), "ratelimit-check", blocks.RunRequest{Input: in})
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("run ratelimit-check: %v", err)
		}
	}
	allowed := 0
	seen := map[float64]bool{}
	for _, r := range runs {
		if r.Status != blocks.StatusSucceeded {
			t.Fatalf("run failed: %+v", r.Error)
		}
		var o map[string]any
		_ = json.Unmarshal(r.Output, &o)
		if o["allowed"] == true {
			allowed++
		}
		seen[o["count"].(float64)] = true
	}
	if allowed != 10 {
		t.Errorf("%d of %d concurrent requests allowed, want exactly 10", allowed, n)
	}
	if len(seen) != n {
		t.Errorf("counts %v: every run must see its own count 1..%d", seen, n)
	}
	// Another user has their own budget.
	if o := obj(t, v.ok("ratelimit-check", map[string]any{"userId": "usr_other", "action": "checkout"})); o["allowed"] != true || o["count"] != 1.0 {
		t.Errorf("other user: %v", o)
	}
	// The window's counter expires.
	p, err := v.st.Fetch(context.Background(), store.FetchQuery{Name: "ratelimits", KeyPrefix: "ratelimit:checkout:usr_abc123:"})
	if err != nil || len(p.Entries) != 1 || p.Entries[0].ExpiresAt == nil || string(p.Entries[0].Data) != "20" {
		t.Errorf("counter entries %+v %v", p.Entries, err)
	}
}

func TestFeatureFlags(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	if o := obj(t, v.ok("flag-check", map[string]any{"feature": "newCheckout"})); o["enabled"] != false {
		t.Errorf("no configuration yet: %v", o)
	}
	v.ok("flags-set", map[string]any{"newCheckout": true, "darkMode": false, "betaFeatures": []string{"feature-a"}})
	for feature, want := range map[string]bool{"newCheckout": true, "darkMode": false, "betaFeatures": false, "unknown": false} {
		if o := obj(t, v.ok("flag-check", map[string]any{"feature": feature})); o["enabled"] != want {
			t.Errorf("%s: %v, want %v", feature, o, want)
		}
	}
}

func TestPagedMigration(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	ctx := context.Background()
	const total = 250
	for i := range total {
		data := fmt.Sprintf(`{"first":"Ann%d","last":"Lee","email":"ANN%d@Example.COM"}`, i, i)
		if _, err := v.st.Upsert(ctx, "legacy-users", fmt.Sprintf("u%04d", i), json.RawMessage(data), store.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	offset, runs := 0, 0
	for {
		o := obj(t, v.ok("users-migrate-page", map[string]any{"offset": offset, "pageSize": 100}))
		runs++
		offset = int(o["nextOffset"].(float64))
		if o["done"] == true {
			break
		}
		if runs > 10 {
			t.Fatal("migration does not finish")
		}
	}
	if runs != 3 || offset != total {
		t.Errorf("%d runs reached offset %d, want 3 runs and %d", runs, offset, total)
	}
	users, err := v.st.FindName(ctx, "users", 1000, 0)
	if err != nil || len(users) != total {
		t.Fatalf("%d users migrated (%v), want %d", len(users), err, total)
	}
	var u struct{ Name, Email, MigratedFrom string }
	_ = json.Unmarshal(users[7].Data, &u)
	if users[7].Key != "u0007" || u.Name != "Ann7 Lee" || u.Email != "ann7@example.com" || u.MigratedFrom != "legacy-users/u0007" {
		t.Errorf("users[7] = %s %s", users[7].Key, users[7].Data)
	}
	if users[7].FlowUUID != v.uuids["users-migrate-page"] {
		t.Errorf("JavaScript writes not stamped with the flow's uuid: %q", users[7].FlowUUID)
	}
}
