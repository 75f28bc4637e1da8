// Command flowkv-torture runs flowkv's reliability harnesses (package
// internal/torture) against a real `flowkv serve` on loopback:
//
//	flowkv-torture linear     -backend sqlite|postgres -runs 50 -ops 10000
//	flowkv-torture crash      -runs 3 -kills 20 -ops 10000
//	flowkv-torture contention -writers 50 -duration 60s
//	flowkv-torture abuse      -conns 10000
//	flowkv-torture soak       -duration 30m
//
// It builds ./cmd/flowkv (or takes -bin), starts a server per run on a fresh
// database (SQLite in a temporary directory; PostgreSQL: a new database on
// -pg), writes results as JSON under -out and exits non-zero when a check
// fails. scripts/torture.sh and scripts/soak.sh call it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/flowkv/flowkv/internal/torture"
)

type common struct {
	bin, out, backend, pg, dynamo string
	servers                       int
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1], os.Args[2:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "flowkv-torture:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: flowkv-torture linear|crash|contention|abuse|soak [flags] (-h for each)")
	os.Exit(2)
}

var errFailed = errors.New("checks failed (see above)")

func run(ctx context.Context, cmd string, args []string) error {
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	var c common
	fs.StringVar(&c.bin, "bin", "", "flowkv binary (default: go build ./cmd/flowkv)")
	fs.StringVar(&c.out, "out", ".cache/torture", "directory for results")
	fs.StringVar(&c.backend, "backend", "sqlite", "sqlite, postgres or dynamodb")
	fs.StringVar(&c.dynamo, "dynamo", os.Getenv("FLOWKV_TEST_DYNAMO_ENDPOINT"), "DynamoDB Local endpoint for -backend dynamodb (a fresh table per run)")
	fs.IntVar(&c.servers, "servers", 1, "servers over the one database, clients spread over them (linear; PostgreSQL or DynamoDB)")
	fs.StringVar(&c.pg, "pg", envOr("FLOWKV_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"), "PostgreSQL server for fresh databases")
	runs := fs.Int("runs", 1, "runs (linear, crash)")
	ops := fs.Int("ops", 10000, "operations per run (linear, crash)")
	clients := fs.Int("clients", 16, "concurrent clients (linear, crash)")
	kills := fs.Int("kills", 20, "SIGKILLs per run (crash)")
	killMin := fs.Duration("kill-min", 150*time.Millisecond, "shortest time between kills (crash)")
	killMax := fs.Duration("kill-max", 1500*time.Millisecond, "longest time between kills (crash)")
	writers := fs.Int("writers", 50, "writers (contention)")
	duration := fs.Duration("duration", 0, "duration (contention: 60s, soak: 30m)")
	conns := fs.Int("conns", 10000, "slowloris connections (abuse)")
	hold := fs.Duration("hold", 30*time.Second, "how long slowloris connections are held (abuse)")
	attempts := fs.Int("attempts", 50000, "token guesses (abuse)")
	rate := fs.Float64("rate", 0, "soak request rate (0: half the measured peak)")
	seed := fs.Uint64("seed", uint64(time.Now().UnixNano()), "random seed")
	_ = fs.Parse(args)

	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "flowkv-torture-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if c.bin == "" {
		root, err := torture.ModuleRoot()
		if err != nil {
			return err
		}
		fmt.Println("building ./cmd/flowkv …")
		if c.bin, err = torture.BuildBinary(ctx, root, tmp); err != nil {
			return err
		}
	}
	logf := func(format string, a ...any) {
		fmt.Printf("%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
	}
	stamp := time.Now().UTC().Format("20060102-150405")

	switch cmd {
	case "linear", "crash":
		if cmd == "linear" {
			*kills = 0
		}
		fails := 0
		var results []torture.LinearResult
		for i := 0; i < *runs && ctx.Err() == nil; i++ {
			if c.servers > 1 && (cmd != "linear" || c.backend == "sqlite") {
				return errors.New("-servers > 1: linear on postgres or dynamodb only")
			}
			srvs, done, err := c.start(ctx, tmp, fmt.Sprintf("%s-%d", cmd, i), c.servers)
			if err != nil {
				return err
			}
			r, err := torture.RunLinear(ctx, torture.LinearConfig{
				Servers: srvs, Clients: *clients, Ops: *ops, Kills: *kills, KillMin: *killMin, KillMax: *killMax,
				ExternalDB: c.backend != "sqlite",
				Seed:       *seed + uint64(i), OutDir: c.out, Prefix: fmt.Sprintf("%s-%s-%d", cmd, stamp, i), Logf: logf,
			})
			done()
			if err != nil {
				return fmt.Errorf("run %d: %w", i+1, err)
			}
			results = append(results, r)
			st := "ok"
			if !r.OK() {
				st = "FAILED"
				fails++
			}
			logf("%s %s ×%d servers run %d/%d %s: %s", cmd, c.backend, c.servers, i+1, *runs, st, r)
		}
		if err := torture.WriteJSON(filepath.Join(c.out, fmt.Sprintf("%s-%s-%s.json", cmd, c.backend, stamp)), results); err != nil {
			return err
		}
		total, indet, killsN := 0, 0, 0
		for _, r := range results {
			total += r.Ops
			indet += r.Indeterminate
			killsN += r.Kills
		}
		logf("SUMMARY %s %s: %d runs, %d operations (%d indeterminate), %d kills, %d failed runs",
			cmd, c.backend, len(results), total, indet, killsN, fails)
		if fails > 0 {
			return errFailed
		}
	case "contention":
		if *duration == 0 {
			*duration = 60 * time.Second
		}
		srv, done, err := c.server(ctx, tmp, "contention")
		if err != nil {
			return err
		}
		defer done()
		r, err := torture.RunContention(ctx, torture.ContentionConfig{Server: srv, Writers: *writers, Duration: *duration})
		if err != nil {
			return err
		}
		logf("SUMMARY contention %s: %s", c.backend, r)
		if err := torture.WriteJSON(filepath.Join(c.out, fmt.Sprintf("contention-%s-%s.json", c.backend, stamp)), r); err != nil {
			return err
		}
		if !r.OK() {
			return errFailed
		}
	case "abuse":
		srv, done, err := c.server(ctx, tmp, "abuse")
		if err != nil {
			return err
		}
		defer done()
		checks, err := torture.RunAbuse(ctx, torture.AbuseConfig{Server: srv, Conns: *conns, Hold: *hold, Attempts: *attempts, Logf: logf})
		if werr := torture.WriteJSON(filepath.Join(c.out, fmt.Sprintf("abuse-%s.json", stamp)), checks); werr != nil {
			return werr
		}
		if err != nil {
			return err
		}
		for _, ch := range checks {
			if !ch.Pass {
				return errFailed
			}
		}
		logf("SUMMARY abuse: %d checks passed", len(checks))
	case "soak":
		if *duration == 0 {
			*duration = 30 * time.Minute
		}
		srv, done, err := c.server(ctx, tmp, "soak")
		if err != nil {
			return err
		}
		defer done()
		f, err := os.Create(filepath.Join(c.out, fmt.Sprintf("soak-windows-%s.jsonl", stamp)))
		if err != nil {
			return err
		}
		defer f.Close()
		r, err := torture.RunSoak(ctx, torture.SoakConfig{Server: srv, Duration: *duration, Rate: *rate, Out: f, Logf: logf})
		if werr := torture.WriteJSON(filepath.Join(c.out, fmt.Sprintf("soak-%s.json", stamp)), r); werr != nil {
			return werr
		}
		logf("SUMMARY soak: %s", r)
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
		var probs []string
		if r.ErrorRate >= 0.0001 {
			probs = append(probs, fmt.Sprintf("error rate %.4f%% ≥ 0.01%%", 100*r.ErrorRate))
		}
		if r.P99Drift >= 0.2 {
			probs = append(probs, fmt.Sprintf("p99 drift %+.1f%% ≥ 20%%", 100*r.P99Drift))
		}
		if len(probs) > 0 {
			logf("soak: %s", strings.Join(probs, "; "))
			return errFailed
		}
	default:
		usage()
	}
	return nil
}

// server starts flowkv on a fresh database of the chosen backend.
func (c common) server(ctx context.Context, tmp, name string) (*torture.Server, func(), error) {
	srvs, done, err := c.start(ctx, tmp, name, 1)
	if err != nil {
		return nil, nil, err
	}
	return srvs[0], done, nil
}

// start starts n servers (one admin token) on one fresh database of the
// chosen backend.
func (c common) start(ctx context.Context, tmp, name string, n int) ([]*torture.Server, func(), error) {
	dsn := "sqlite:" + filepath.Join(tmp, name, "flowkv.db")
	drop := func() {}
	var env []string
	switch c.backend {
	case "sqlite":
	case "postgres":
		var err error
		dsn, drop, err = torture.FreshPostgres(ctx, c.pg)
		if err != nil {
			return nil, nil, fmt.Errorf("fresh PostgreSQL database on %s: %w", c.pg, err)
		}
	case "dynamodb":
		if c.dynamo == "" {
			return nil, nil, errors.New("-backend dynamodb needs -dynamo (or FLOWKV_TEST_DYNAMO_ENDPOINT)")
		}
		env = []string{"DATA_STORE_MODE=aws", "DATA_STORE_AWS_ENDPOINT=" + c.dynamo, "DATA_STORE_AWS_REGION=us-east-1",
			"DATA_STORE_AWS_ACCESS_KEY=local", "DATA_STORE_AWS_SECRET=local", "DATA_STORE_AWS_TABLE=" + strings.ReplaceAll(name, "-", "_") + "_" + torture.NewToken()[13:25]}
	default:
		return nil, nil, fmt.Errorf("-backend: sqlite, postgres or dynamodb, not %q", c.backend)
	}
	tok := torture.NewToken()
	var srvs []*torture.Server
	stop := func() {
		for _, s := range srvs {
			s.Stop()
		}
		drop()
	}
	for i := range max(n, 1) {
		srv := &torture.Server{Bin: c.bin, DSN: dsn, Token: tok, Env: env, LogPath: filepath.Join(c.out, fmt.Sprintf("%s.server%d.log", name, i))}
		_ = os.Remove(srv.LogPath)
		if err := srv.Start(ctx); err != nil {
			stop()
			return nil, nil, err
		}
		srvs = append(srvs, srv)
	}
	return srvs, stop, nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
