package web

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/flowkv/flowkv/blocks"
	"github.com/flowkv/flowkv/internal/tokens"
	"github.com/flowkv/flowkv/store"
)

// The flow routes: store flows, run them, read their runs, and the public
// webhook of webhook-triggered flows. Putting, deleting and running a flow
// need a token with scope flows and, on every namespace the flow declares
// (for a put, also the stored flow it replaces), the access it declares:
// write for orders, read for orders:read. A flow never gets more than the
// token that saved it had. Seeing a flow needs read on every namespace
// it declares; seeing a run needs read on every namespace its flow declared
// when it ran. Webhook secrets are never returned.
//
// The engine comes from Options.Extra["flows"] (a *blocks.Engine, shared
// with the scheduler serve starts); without it the routes build their own
// over the raw store. Either way the block types are those the binary
// registered (cmd/flowkv imports blocks/all): this package registers none.

func init() { Register("flows", registerFlowRoutes) }

// HookSecretHeader carries a webhook flow's secret (or ?secret=).
const HookSecretHeader = "X-Flowkv-Secret"

func registerFlowRoutes(s *Server) error {
	eng, _ := s.Extra("flows").(*blocks.Engine)
	if eng == nil {
		st := s.RawStore()
		if s.quotas != nil {
			st = s.quotas.Namespaces(st) // flows are held to namespace quotas too
		}
		eng = blocks.NewEngine(st, blocks.Options{Logger: s.Logger()})
	}
	h := flowRoutes{s: s, e: eng}
	errSchema := Obj(map[string]Schema{"code": Str("error code"), "message": Str(""), "block": Str("the failing block's id"),
		"line": Int("line of a JavaScript error in the block's code"), "column": Int("column of a JavaScript error")})
	runSchema := Obj(map[string]Schema{
		"id": Str("run id (UUIDv7)"), "flow": Str("flow id"), "flowUuid": Str(""),
		"dataStores": Arr(Str("a namespace the flow declared when it ran (orders or orders:read)")),
		"trigger":    Str("manual, webhook, schedule or file"),
		"input":      AnyJSON("the run's input"),
		"request": Obj(map[string]Schema{"method": Str(""), "path": Str(""),
			"query":   Schema{"type": "object", "description": "query parameters: a text, or an array of texts for a repeated one"},
			"headers": Schema{"type": "object", "description": "headers by lower-case name (no secret, Authorization or Cookie)"}}),
		"status":    Str("succeeded, failed, or running (a record written before the run finished)"),
		"response":  Obj(map[string]Schema{"status": Int("HTTP status"), "body": AnyJSON("")}),
		"truncated": Bool("outputs, logs or the request were cut to the record's size caps"),
		"error":     errSchema,
		"output":    AnyJSON("the last block's output"),
		"startedAt": Schema{"type": "string", "format": "date-time"}, "finishedAt": Schema{"type": "string", "format": "date-time"},
		"durationMs": Num(""),
		"blocks": Arr(Obj(map[string]Schema{"id": Str(""), "type": Str(""), "status": Str("succeeded, failed or skipped"),
			"output": AnyJSON(""), "error": errSchema, "durationMs": Num("")})),
		"logs": Arr(Obj(map[string]Schema{"time": Str(""), "block": Str(""), "level": Str(""), "message": Str("")})),
	})
	s.Handle(http.MethodGet, "/v1/blocks", h.blocks, RouteDoc{
		Summary: "list block types and their fields (the specs the flow editor renders)", Tag: "flows",
		Response: Obj(map[string]Schema{"common": Arr(AnyJSON("field")), "blocks": Arr(AnyJSON("block spec"))}),
	})
	s.Handle(http.MethodGet, "/v1/flows", h.list, RouteDoc{
		Summary: "list the stored flows the token may read", Tag: "flows",
		Description: "Webhook secrets are never returned: a flow's trigger says secretSet: true when it has one, and source is the " +
			"document without it.",
		Response: Obj(map[string]Schema{"flows": Arr(AnyJSON("stored flow: flow, uuid, source, version, createdAt, updatedAt"))}),
	})
	s.Handle(http.MethodPut, "/v1/flows/:id", h.put, RouteDoc{
		Summary: "validate and store a flow (YAML or JSON body)", Tag: "flows",
		Description: "The body is the flow document; its id must be the path's. A flow that fails validation is refused " +
			"with 400 invalid_argument listing every problem by block id and field. The token needs scope flows and, on every " +
			"namespace in the flow's dataStores and in the stored flow's it replaces, the access declared: write for orders, read for orders:read. " +
			"A webhook trigger without secret keeps the stored secret; secret: \"\" removes it.",
		Body:     AnyJSON("the flow document (application/yaml or application/json)"),
		Response: Obj(map[string]Schema{"id": Str(""), "uuid": Str("the flow's UUID, kept across puts"), "version": Int("")}),
	})
	s.Handle(http.MethodGet, "/v1/flows/:id", h.get, RouteDoc{
		Summary: "read a stored flow", Tag: "flows",
		Description: "Needs read on every namespace the flow declares (403 otherwise). The webhook secret is never returned " +
			"(trigger.secretSet says whether one is set).",
		Response: AnyJSON("stored flow: flow, uuid, source, version, createdAt, updatedAt"),
	})
	s.Handle(http.MethodPost, "/v1/flows/:id/rename", h.rename, RouteDoc{
		Summary: "rename a stored flow, keeping its UUID and run history", Tag: "flows",
		Description: "Gives the flow the id in the body in one transaction: it keeps its UUID, so its runs (listed under the new id) " +
			"and the entries it stamped stay its own; the stored source keeps every byte but the id's value. 409 already_exists when " +
			"a flow has that id. Needs scope flows and the access the flow declares on each of its namespaces.",
		Body:     Obj(map[string]Schema{"id": Str("the new id")}, "id"),
		Response: Obj(map[string]Schema{"id": Str("the new id"), "uuid": Str("the flow's UUID, unchanged"), "version": Int("")}),
	})
	s.Handle(http.MethodDelete, "/v1/flows/:id", h.delete, RouteDoc{
		Summary: "delete a stored flow, cancel its runs going on and delete its run records", Tag: "flows",
		Description: "Needs scope flows and the access the flow declares on each of its namespaces.",
		Response:    Obj(map[string]Schema{"deleted": Bool("")}),
	})
	s.Handle(http.MethodPost, "/v1/flows/:id/runs", h.run, RouteDoc{
		Summary: "run a stored flow and answer with the run record", Tag: "flows",
		Description: "The run's status is in the record: 200 with status failed when a block failed. A run still going at the " +
			"server's request timeout answers 202 with the record so far (status running; Location: /v1/runs/{id}) and goes on. " +
			"Errors are for runs that could not start (404 no such flow, 400 bad input). Needs scope flows and the " +
			"access the flow declares on each of its namespaces.",
		Body:     Obj(map[string]Schema{"input": AnyJSON("the flow's input")}),
		Response: runSchema,
	})
	s.Handle(http.MethodGet, "/v1/flows/:id/runs", h.runs, RouteDoc{
		Summary: "list a flow's recorded runs, newest first", Tag: "flows",
		Description: "Runs of this flow's UUID only (a flow deleted and re-created under the same id starts with none). " +
			"Needs read on every namespace the flow declares; runs recorded while it declared others the token cannot read are left out.",
		Query: []Param{
			{Name: "limit", Description: "runs per page (default 20, at most the store's page limit)", Schema: Int("")},
			{Name: "cursor", Description: "nextCursor of the previous page"},
		},
		Response: Obj(map[string]Schema{"runs": Arr(runSchema), "nextCursor": Str("")}),
	})
	s.Handle(http.MethodGet, "/v1/flows/:id/runs/:run", h.getRun, RouteDoc{
		Summary: "read one run record", Tag: "flows", Response: runSchema,
		Description: "Needs read on every namespace the flow declared when the run ran (403 otherwise).",
	})
	s.Handle(http.MethodGet, "/v1/runs/:id", h.runByID, RouteDoc{
		Summary: "read one run record by its id", Tag: "flows", Response: runSchema,
		Description: "Any flow's run: its input, request, each block's status, output, error (with line and column for JavaScript) " +
			"and duration, and the console logs. A run still going answers status running. Needs read on every namespace " +
			"the flow declared when the run ran (403 otherwise).",
	})
	s.Handle(http.MethodPost, "/hooks/:id", h.hook, RouteDoc{
		Summary: "run a webhook-triggered flow with the request body as input (no token)", Tag: "flows",
		Description: "Only flows with trigger type webhook answer: a missing flow and one without a webhook trigger get the same 404. When the trigger has a secret, send it " +
			"as the X-Flowkv-Secret header or ?secret= (401 otherwise). The body is the input, by Content-Type: JSON; form fields " +
			"(application/x-www-form-urlencoded, multipart/form-data) as an object; text as a string; empty as null. The method, " +
			"query and headers (without the secret, Authorization and Cookie) are the run's request. The run does not depend on the " +
			"call: the answer waits for it up to the server's hook wait (flowkv serve --hook-wait, default 10s), then is 202 " +
			"{runId, status: running, url}. A finished run answers {runId, status, output, error}: 200 when it succeeded, the " +
			"error's status when it failed; a flow's respond option sets the status and body of a run that succeeded. " +
			"Every answer that started a run names it in X-Flowkv-Run-Id.",
		Headers:  []Param{{Name: HookSecretHeader, Description: "the flow's webhook secret"}},
		Body:     AnyJSON("the flow's input (JSON, form fields or text)"),
		Response: Obj(map[string]Schema{"runId": Str(""), "status": Str("succeeded, failed or running"), "output": AnyJSON("the last block's output"), "error": AnyJSON(""), "url": Str("the run (202)")}),
	})
	return nil
}

type flowRoutes struct {
	s *Server
	e *blocks.Engine
}

// allowFlow checks that grants give want on every namespace the flow
// declares (want 0: the access it declares on each).
func allowFlow(g store.Grants, f *blocks.Flow, want store.Access) error {
	for _, it := range f.DataStores {
		n, declared := blocks.ParseDataStore(it)
		need := want
		if need == store.NoAccess {
			need = declared
		}
		if err := g.Allow(n, need); err != nil {
			return store.Errorf(store.CodeAccessDenied, "flow %s uses namespace %q: %s", f.ID, n, store.Text(err))
		}
	}
	return nil
}

// declaredAccess makes allowFlow check the access each namespace is
// declared with.
const declaredAccess = store.NoAccess

// storedFlow reads flow id and checks the token may read it (access_denied
// otherwise) and has want on its namespaces.
func (h flowRoutes) storedFlow(c echo.Context, want store.Access) (blocks.StoredFlow, error) {
	id, err := PathParam(c, "id")
	if err != nil {
		return blocks.StoredFlow{}, err
	}
	sf, err := h.e.GetFlow(c.Request().Context(), id)
	if err != nil {
		return blocks.StoredFlow{}, err
	}
	if err := allowFlow(Grants(c), sf.Flow, store.Read); err != nil {
		return blocks.StoredFlow{}, err
	}
	if err := allowFlow(Grants(c), sf.Flow, want); err != nil {
		return blocks.StoredFlow{}, err
	}
	return sf, nil
}

func (h flowRoutes) blocks(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]any{"common": blocks.CommonFields, "blocks": blocks.Specs()})
}

func (h flowRoutes) list(c echo.Context) error {
	flows, err := h.e.ListFlows(c.Request().Context())
	if err != nil {
		return err
	}
	out := make([]blocks.StoredFlow, 0, len(flows))
	for _, sf := range flows {
		if allowFlow(Grants(c), sf.Flow, store.Read) == nil {
			out = append(out, sf)
		}
	}
	return c.JSON(http.StatusOK, map[string]any{"flows": out})
}

func (h flowRoutes) put(c echo.Context) error {
	id, err := PathParam(c, "id")
	if err != nil {
		return err
	}
	if err := RequireScope(c, tokens.ScopeFlows, "saving a flow"); err != nil {
		return err
	}
	src, err := io.ReadAll(c.Request().Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return store.Errorf(store.CodeTooLarge, "the request body is over the limit of %d bytes", mbe.Limit)
		}
		return store.Errorf(store.CodeInvalidArgument, "reading the request body failed")
	}
	f, err := blocks.ParseFlow(src)
	if err != nil {
		return err
	}
	if f.ID != id {
		return store.Errorf(store.CodeInvalidArgument, "id: the document's id %q differs from the path's %q", f.ID, id)
	}
	g := Grants(c)
	if err := allowFlow(g, f, declaredAccess); err != nil {
		return err
	}
	ctx := c.Request().Context()
	if old, err := h.e.GetFlow(ctx, id); err == nil {
		if err := allowFlow(g, old.Flow, declaredAccess); err != nil {
			return err
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	sf, err := h.e.PutFlow(ctx, src)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"id": sf.Flow.ID, "uuid": sf.UUID, "version": sf.Version})
}

func (h flowRoutes) get(c echo.Context) error {
	sf, err := h.storedFlow(c, store.Read)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, sf)
}

func (h flowRoutes) rename(c echo.Context) error {
	if err := RequireScope(c, tokens.ScopeFlows, "renaming a flow"); err != nil {
		return err
	}
	sf, err := h.storedFlow(c, declaredAccess)
	if err != nil {
		return err
	}
	raw, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return store.Errorf(store.CodeInvalidArgument, "reading the request body failed")
	}
	var body struct {
		ID string `json:"id"`
	}
	if err := DecodeJSON(raw, &body, 2); err != nil {
		return err
	}
	if body.ID == "" {
		return store.Errorf(store.CodeInvalidArgument, "id: required (the new id)")
	}
	renamed, err := h.e.RenameFlow(c.Request().Context(), sf.Flow.ID, body.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"id": renamed.Flow.ID, "uuid": renamed.UUID, "version": renamed.Version})
}

func (h flowRoutes) delete(c echo.Context) error {
	if err := RequireScope(c, tokens.ScopeFlows, "deleting a flow"); err != nil {
		return err
	}
	sf, err := h.storedFlow(c, declaredAccess)
	if errors.Is(err, store.ErrNotFound) {
		return c.JSON(http.StatusOK, map[string]bool{"deleted": false})
	}
	if err != nil {
		return err
	}
	ok, err := h.e.DeleteFlow(c.Request().Context(), sf.Flow.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]bool{"deleted": ok})
}

func (h flowRoutes) run(c echo.Context) error {
	if err := RequireScope(c, tokens.ScopeFlows, "running a flow"); err != nil {
		return err
	}
	sf, err := h.storedFlow(c, declaredAccess)
	if err != nil {
		return err
	}
	var body struct {
		Input json.RawMessage `json:"input"`
	}
	if c.Request().ContentLength != 0 {
		raw, err := io.ReadAll(c.Request().Body)
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return store.Errorf(store.CodeTooLarge, "the request body is over the limit of %d bytes", mbe.Limit)
			}
			return store.Errorf(store.CodeInvalidArgument, "reading the request body failed")
		}
		if len(strings.TrimSpace(string(raw))) > 0 {
			if err := DecodeJSON(raw, &body, h.s.RawStore().Limits().Normalize().MaxDepth+1); err != nil {
				return err
			}
		}
	}
	r, err := h.e.RunFlow(c.Request().Context(), sf.Flow.ID, blocks.RunRequest{Input: body.Input, Trigger: blocks.TriggerManual})
	if err != nil {
		return err
	}
	if r.Status == blocks.StatusRunning {
		// The request's deadline came first; the run goes on.
		c.Response().Header().Set(echo.HeaderLocation, "/v1/runs/"+r.ID)
		return c.JSON(http.StatusAccepted, r)
	}
	return c.JSON(http.StatusOK, r)
}

func (h flowRoutes) runs(c echo.Context) error {
	sf, err := h.storedFlow(c, store.Read)
	if err != nil {
		return err
	}
	limit, err := QueryInt(c, "limit", 20)
	if err != nil {
		return err
	}
	p, err := h.e.RunsOf(c.Request().Context(), sf.UUID, c.QueryParam("cursor"), limit)
	if err != nil {
		return err
	}
	g := Grants(c)
	shown := p.Runs[:0]
	for _, r := range p.Runs {
		if r.Readable(g) == nil {
			shown = append(shown, r)
		}
	}
	p.Runs = shown
	return c.JSON(http.StatusOK, p)
}

func (h flowRoutes) getRun(c echo.Context) error {
	sf, err := h.storedFlow(c, store.Read)
	if err != nil {
		return err
	}
	runID, err := PathParam(c, "run")
	if err != nil {
		return err
	}
	r, err := h.e.RunOf(c.Request().Context(), sf.UUID, runID)
	if err != nil {
		return err
	}
	if err := r.Readable(Grants(c)); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, r)
}

func (h flowRoutes) hook(c echo.Context) error {
	id, err := PathParam(c, "id")
	if err != nil {
		return err
	}
	req := c.Request()
	raw, err := io.ReadAll(req.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return store.Errorf(store.CodeTooLarge, "the request body is over the limit of %d bytes", mbe.Limit)
		}
		return store.Errorf(store.CodeInvalidArgument, "reading the request body failed")
	}
	secret := req.Header.Get(HookSecretHeader)
	if secret == "" {
		secret = c.QueryParam("secret")
	}
	input, err := hookInput(req.Header.Get(echo.HeaderContentType), raw)
	if err != nil {
		return err
	}
	r, err := h.e.StartHook(req.Context(), id, blocks.HookCall{Input: input, Request: hookRequest(req), Secret: secret, Wait: h.s.hookWait()})
	if err != nil {
		return err
	}
	res := c.Response()
	res.Header().Set(HookRunHeader, r.ID)
	switch {
	case r.Status == blocks.StatusRunning:
		url := "/v1/runs/" + r.ID
		res.Header().Set(echo.HeaderLocation, url)
		return c.JSON(http.StatusAccepted, map[string]any{"runId": r.ID, "status": r.Status, "url": url})
	case r.Status == blocks.StatusSucceeded && r.Response != nil:
		return c.JSONBlob(r.Response.Status, r.Response.Body)
	}
	status := http.StatusOK
	if r.Error != nil {
		status = StatusOf(r.Error.Code)
	}
	return c.JSON(status, map[string]any{"runId": r.ID, "status": r.Status, "output": r.Output, "error": r.Error})
}

// HookRunHeader names the run a webhook call started, on every answer
// that started one.
const HookRunHeader = "X-Flowkv-Run-Id"

// DefaultHookWait is how long a webhook call waits for its run by default.
const DefaultHookWait = 10 * time.Second

// hookWait is how long a webhook call waits for its run before it
// answers 202 (Options.HookWait).
func (s *Server) hookWait() time.Duration {
	switch w := s.opts.HookWait; {
	case w == 0:
		return DefaultHookWait
	case w < 0:
		return 0 // until the run ends
	default:
		return w
	}
}

// runByID serves GET /v1/runs/{id}: a run of any flow, by its id alone.
func (h flowRoutes) runByID(c echo.Context) error {
	runID, err := PathParam(c, "id")
	if err != nil {
		return err
	}
	r, err := h.e.RunByID(c.Request().Context(), runID)
	if err != nil {
		return err
	}
	if err := r.Readable(Grants(c)); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, r)
}
