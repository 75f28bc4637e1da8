package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/flowkv/flowkv/blocks"
	"github.com/flowkv/flowkv/internal/changes"
	"github.com/flowkv/flowkv/internal/config"
	"github.com/flowkv/flowkv/internal/quota"
	"github.com/flowkv/flowkv/internal/tokens"
	_ "github.com/flowkv/flowkv/kvconnect" // Deno KV clients at /kv
	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/web"
	"github.com/flowkv/flowkv/web/ui"
)

func init() {
	register(command{
		name:    "serve",
		summary: "serve the HTTP API (and web UI) on FLOWKV_ADDR",
		run:     runServe,
	})
}

// serveVersion is reported by /healthz and the OpenAPI document.
var serveVersion = "dev"

// serveReady, when set (tests), receives the listening address.
var serveReady func(addr string)

func runServe(ctx context.Context, args []string) error {
	cfg := config.FromEnv()
	fs := newFlags("serve")
	cfg.StoreFlags(fs)
	cfg.ServeFlags(fs)
	sandboxFlags(fs)
	bodyLimit := fs.Int64("max-body-bytes", serveEnvInt64("FLOWKV_MAX_BODY_BYTES"),
		"largest request body; 0 = the data limit + 64 KiB (env FLOWKV_MAX_BODY_BYTES)")
	grace := fs.Duration("shutdown-grace", 15*time.Second, "how long in-flight requests may finish on SIGINT/SIGTERM")
	logJSON := fs.Bool("log-json", os.Getenv("FLOWKV_LOG_FORMAT") == "json", "log JSON lines instead of text (env FLOWKV_LOG_FORMAT=json)")
	tokenCache := fs.Duration("token-cache", serveEnvDuration("FLOWKV_TOKEN_CACHE"),
		"trust a verified token this long without reading the database; a revocation from another process then waits for it (env FLOWKV_TOKEN_CACHE; default 0: every request)")
	lim := web.DefaultLimits
	fs.DurationVar(&lim.ReadHeaderTimeout, "read-header-timeout", serveEnvDurationOr("FLOWKV_READ_HEADER_TIMEOUT", lim.ReadHeaderTimeout),
		"time a client has to send a request's headers (env FLOWKV_READ_HEADER_TIMEOUT)")
	fs.DurationVar(&lim.ReadTimeout, "read-timeout", serveEnvDurationOr("FLOWKV_READ_TIMEOUT", lim.ReadTimeout),
		"time a client has to send a whole request, headers and body; a slower one is cut off (env FLOWKV_READ_TIMEOUT; -1s: none)")
	fs.DurationVar(&lim.WriteTimeout, "write-timeout", serveEnvDurationOr("FLOWKV_WRITE_TIMEOUT", lim.WriteTimeout),
		"time a client has to receive a response from its first byte; streamed exports need progress within it instead (env FLOWKV_WRITE_TIMEOUT; -1s: none)")
	fs.DurationVar(&lim.IdleTimeout, "idle-timeout", serveEnvDurationOr("FLOWKV_IDLE_TIMEOUT", lim.IdleTimeout),
		"close a keep-alive connection idle this long (env FLOWKV_IDLE_TIMEOUT)")
	fs.IntVar(&lim.MaxHeaderBytes, "max-header-bytes", serveEnvIntOr("FLOWKV_MAX_HEADER_BYTES", lim.MaxHeaderBytes),
		"largest request line and headers; larger requests get 431 (env FLOWKV_MAX_HEADER_BYTES)")
	runKeep := fs.Int("run-keep", int(serveEnvInt64("FLOWKV_RUN_KEEP")),
		"run records kept per flow, newest first; 0 = the default (100), -1 = no count limit (env FLOWKV_RUN_KEEP)")
	runMaxBytes := fs.Int64("run-max-bytes", serveEnvInt64("FLOWKV_RUN_MAX_BYTES"),
		"total size of a flow's run records kept; 0 = the default (10 MiB), -1 = no size limit (env FLOWKV_RUN_MAX_BYTES)")
	noUI := fs.Bool("no-ui", false, "serve the API only, without the web UI")
	quiet := fs.Bool("quiet", false, "do not log one line per request (errors are still logged)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}

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
	srv, err := web.New(web.Options{
		Store: st, Logger: log, BodyLimit: *bodyLimit, Version: serveVersion, TokenCache: *tokenCache,
		Quotas: quotas, Limits: lim, Changes: hub,
		Extra: map[string]any{"flows": engine, "scripts": scripts},
	})
	if err != nil {
		return err
	}
	if !*noUI {
		u := ui.New(ui.Config{
			Store:  st,
			Verify: srv.Tokens().Verify,
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
	log.Info("stopped", "err", err)
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

func serveEnvInt64(k string) int64 {
	n, _ := strconv.ParseInt(os.Getenv(k), 10, 64)
	return n
}

func serveEnvDuration(k string) time.Duration {
	d, _ := time.ParseDuration(os.Getenv(k))
	return d
}

// serveEnvDurationOr reads a duration from the environment; unset or
// unparsable is def.
func serveEnvDurationOr(k string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(k)); err == nil {
		return d
	}
	return def
}

func serveEnvIntOr(k string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(k)); err == nil {
		return n
	}
	return def
}
