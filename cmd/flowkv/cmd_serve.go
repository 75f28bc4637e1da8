package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowkv/flowkv/blocks"
	_ "github.com/flowkv/flowkv/blocks/all" // the block types serve's flows may use (package web registers none)
	"github.com/flowkv/flowkv/internal/changes"
	"github.com/flowkv/flowkv/internal/config"
	"github.com/flowkv/flowkv/internal/quota"
	"github.com/flowkv/flowkv/internal/tokens"
	_ "github.com/flowkv/flowkv/kvconnect" // Deno KV clients at /kv
	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/web"
	"github.com/flowkv/flowkv/web/ui"
)

// serveVersion is reported by /healthz and the OpenAPI document.
var serveVersion = "dev"

// serveReady, when set (tests), receives the listening address.
var serveReady func(addr string)

// serveFlags are serve's settings, from its flags.
type serveFlags struct {
	cfg                    *config.Config
	lim                    *web.Limits
	bodyLimit, runMaxBytes *int64
	grace, tokenCache      *time.Duration
	hookWait               *time.Duration
	logJSON, noUI, quiet   *bool
	runKeep                *int
}

func newServeCmd() *cobra.Command {
	c, cfg := dataLeaf("serve [flags]", "serve the HTTP API (and web UI) on FLOWKV_ADDR")
	fs := c.Flags()
	f := serveFlags{cfg: cfg, lim: new(web.Limits)}
	gfs := flag.NewFlagSet("serve", flag.ContinueOnError)
	f.cfg.ServeFlags(gfs)
	fs.AddGoFlagSet(gfs)
	sandboxFlags(fs)
	f.bodyLimit = fs.Int64("max-body-bytes", 0, "largest request body; 0 = the data limit + 64 KiB (env FLOWKV_MAX_BODY_BYTES)")
	f.grace = fs.Duration("shutdown-grace", 15*time.Second, "how long in-flight requests may finish on SIGINT/SIGTERM")
	f.logJSON = fs.Bool("log-json", os.Getenv("FLOWKV_LOG_FORMAT") == "json", "log JSON lines instead of text (env FLOWKV_LOG_JSON=true or FLOWKV_LOG_FORMAT=json)")
	f.tokenCache = fs.Duration("token-cache", tokens.DefaultCacheBound,
		"verified tokens are cached; a revocation by another process (the CLI, another server) takes effect within this (env FLOWKV_TOKEN_CACHE; 0: no cache, every request reads its token)")
	*f.lim = web.DefaultLimits
	fs.DurationVar(&f.lim.RequestTimeout, "request-timeout", f.lim.RequestTimeout,
		"longest a request's handler may run; streams are bounded by progress instead, flow runs by their flow's timeout (env FLOWKV_REQUEST_TIMEOUT; -1s: none)")
	fs.DurationVar(&f.lim.ReadHeaderTimeout, "read-header-timeout", f.lim.ReadHeaderTimeout,
		"time a client has to send a request's headers (env FLOWKV_READ_HEADER_TIMEOUT)")
	fs.DurationVar(&f.lim.ReadTimeout, "read-timeout", f.lim.ReadTimeout,
		"time a client has to send a whole request, headers and body; a slower one is cut off (env FLOWKV_READ_TIMEOUT; -1s: none)")
	fs.DurationVar(&f.lim.WriteTimeout, "write-timeout", f.lim.WriteTimeout,
		"time a client has to receive a response from its first byte; streamed exports need progress within it instead (env FLOWKV_WRITE_TIMEOUT; -1s: none)")
	fs.DurationVar(&f.lim.IdleTimeout, "idle-timeout", f.lim.IdleTimeout,
		"close a keep-alive connection idle this long (env FLOWKV_IDLE_TIMEOUT)")
	fs.IntVar(&f.lim.MaxHeaderBytes, "max-header-bytes", f.lim.MaxHeaderBytes,
		"largest request line and headers; larger requests get 431 (env FLOWKV_MAX_HEADER_BYTES)")
	f.runKeep = fs.Int("run-keep", 0,
		"run records kept per flow, newest first; 0 = the default (100), -1 = no count limit (env FLOWKV_RUN_KEEP)")
	f.runMaxBytes = fs.Int64("run-max-bytes", 0,
		"total size of a flow's run records kept; 0 = the default (10 MiB), -1 = no size limit (env FLOWKV_RUN_MAX_BYTES)")
	f.hookWait = fs.Duration("hook-wait", web.DefaultHookWait,
		"how long a webhook call waits for its run before answering 202 with the run's id (the run goes on); -1s: until the run ends (env FLOWKV_HOOK_WAIT)")
	f.noUI = fs.Bool("no-ui", false, "serve the API only, without the web UI")
	f.quiet = fs.Bool("quiet", false, "do not log one line per request (errors are still logged)")
	c.RunE = runE(func(ctx context.Context, pos []string) error {
		if len(pos) > 0 {
			return store.Errorf(store.CodeInvalidArgument, "serve takes no arguments, only flags (got %q)", pos[0])
		}
		return runServe(ctx, f)
	})
	return c
}

func runServe(ctx context.Context, f serveFlags) error {
	cfg, lim, bodyLimit, grace, logJSON, tokenCache := *f.cfg, *f.lim, f.bodyLimit, f.grace, f.logJSON, f.tokenCache
	runKeep, runMaxBytes, noUI, quiet := f.runKeep, f.runMaxBytes, f.noUI, f.quiet

	level := slog.LevelInfo
	if *quiet {
		level = slog.LevelWarn
	}
	hopts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(stderr, hopts)
	if *logJSON {
		h = slog.NewJSONHandler(stderr, hopts)
	}
	log := slog.New(h)

	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := st.Close(); cerr != nil {
			log.Error("closing the store failed", "err", cerr)
		}
	}()

	// Every write through this process (API, UI, flows, scripts, Deno KV
	// clients) is published on one change hub; Deno KV watch streams
	// listen to it (internal/changes).
	hub := changes.NewHub()
	st = changes.Notify(st, hub)

	secret, err := tokens.New(st).EnsureAdmin(ctx, cfg.AdminToken)
	if err != nil {
		return fmt.Errorf("creating the admin token: %w", err)
	}
	if secret != "" {
		fmt.Fprintln(stdout, "Created an admin token (scope admin: every namespace, flows and tokens). It is shown only this once:")
		fmt.Fprintln(stdout)
		fmt.Fprintln(stdout, "    "+secret)
		fmt.Fprintln(stdout)
		fmt.Fprintln(stdout, "Use it as: curl -H 'Authorization: Bearer <token>' …   (more tokens: flowkv token create)")
	}

	// One quota manager counts for the API, the UI and the flows; it is
	// closed (its last counts flushed) after them, before the store.
	quotas, err := quota.Open(ctx, st, quota.Options{Logger: log})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := quotas.Close(); cerr != nil {
			log.Error("flushing quota usage failed", "err", cerr)
		}
	}()

	// One script engine (the sandbox workers) serves the JavaScript block
	// and the script routes; one flow engine the API's flow routes and the
	// UI's editor. Flows are held to namespace quotas.
	scripts := scriptEngine()
	engine := blocks.NewEngine(quotas.Namespaces(st), blocks.Options{Logger: log, RunKeep: *runKeep, RunMaxBytes: *runMaxBytes})
	if *tokenCache == 0 {
		*tokenCache = -1 // web.Options: negative is no cache
	}
	srv, err := web.New(web.Options{
		Store: st, Logger: log, BodyLimit: *bodyLimit, Version: serveVersion, TokenCache: *tokenCache,
		Quotas: quotas, Limits: lim, Changes: hub, HookWait: *f.hookWait,
		Extra: map[string]any{"flows": engine, "scripts": scripts},
	})
	if err != nil {
		return err
	}
	if !*noUI {
		u := ui.New(ui.Config{
			Store:  st,
			Verify: srv.Tokens(),
			Quotas: quotas,
			Flows:  engine,
			Logger: log,
		})
		u.Register(srv.Echo())
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return store.Errorf(store.CodeUnavailable, "listen on %s: %v", cfg.Addr, err)
	}
	addr := ln.Addr().String()
	fmt.Fprintf(stdout, "flowkv serving on http://%s\n", addr)
	log.Info("serving", "addr", addr, "mode", cfg.Mode)
	if serveReady != nil {
		serveReady(addr)
	}
	// Scheduled flows run while serving; the scheduler stops with the
	// server and waits for its runs before the store closes.
	schedCtx, stopSched := context.WithCancel(ctx)
	schedDone := make(chan struct{})
	go func() {
		defer close(schedDone)
		if err := blocks.NewScheduler(engine, blocks.SchedulerOptions{}).Run(schedCtx); err != nil {
			log.Error("scheduler stopped", "err", err)
		}
	}()
	err = srv.Serve(ctx, ln, *grace)
	stopSched()
	<-schedDone
	// Runs are detached from requests: those still going (a webhook that
	// answered 202) get the grace to finish, then are cancelled and
	// recorded as failed, before the store closes.
	graceCtx, cancelGrace := context.WithTimeout(context.Background(), *grace)
	engine.Shutdown(graceCtx)
	cancelGrace()
	log.Info("stopped", "err", err)
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}
