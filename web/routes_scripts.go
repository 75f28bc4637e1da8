package web

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/flowkv/flowkv/internal/tokens"
	"github.com/flowkv/flowkv/scripting"
	"github.com/flowkv/flowkv/store"
)

// Stored scripts (the Database module's runScript): saved by name in the
// reserved namespace _flowkv.scripts, run with the calling token's grants.
// Managing scripts (put, get, list, delete) and running inline source need
// a token with scope flows; running a stored script by name needs only the
// grants on the namespaces it touches.

func init() { Register("scripts", registerScripts) }

// scriptInfo is a stored script as the API shows it.
type scriptInfo struct {
	Name      string    `json:"name"`
	Source    string    `json:"source,omitempty"`
	Version   int64     `json:"version"`
	UpdatedAt time.Time `json:"updatedAt"`
}

func infoOf(sc scripting.Script, withSource bool) scriptInfo {
	i := scriptInfo{Name: sc.Name, Version: sc.Version, UpdatedAt: sc.UpdatedAt}
	if withSource {
		i.Source = sc.Source
	}
	return i
}

func registerScripts(s *Server) error {
	// The engine comes from Options.Extra["scripts"] when cmd/flowkv shares
	// one (its owner closes it); otherwise the server makes and closes its own.
	eng, _ := s.Extra("scripts").(*scripting.Engine)
	if eng == nil {
		eng = scripting.New(scripting.Options{})
		s.OnClose(func() error { eng.Close(); return nil })
	}
	h := scriptRoutes{s: s, e: eng}

	scriptDoc := Obj(map[string]Schema{
		"name": Str("script name"), "source": Str("JavaScript source (the body of an async function)"),
		"version": Int("grows on every save"), "updatedAt": Str("when it was last saved (RFC 3339)"),
	})

	s.Handle(http.MethodPut, "/v1/scripts/:name", h.put, RouteDoc{
		Summary:     "store a script (create or replace)",
		Description: "The source is compiled first: a syntax error is 400 invalid_argument with its position. Needs scope flows.",
		Tag:         "scripts",
		Body:        Obj(map[string]Schema{"source": Str("JavaScript source")}, "source"),
		Response:    scriptDoc,
	})
	s.Handle(http.MethodGet, "/v1/scripts/:name", h.get, RouteDoc{Summary: "read a stored script", Description: "Needs scope flows.", Tag: "scripts", Response: scriptDoc})
	s.Handle(http.MethodGet, "/v1/scripts", h.list, RouteDoc{
		Summary: "list stored scripts by name", Description: "Needs scope flows.", Tag: "scripts",
		Query: []Param{
			{Name: "cursor", Description: "cursor of the previous page"},
			{Name: "limit", Description: "max items (default 100, at most 1000)", Schema: Int("")},
		},
		Response: Obj(map[string]Schema{"items": Arr(scriptDoc), "cursor": Str("continues the listing; empty at the end")}),
	})
	s.Handle(http.MethodDelete, "/v1/scripts/:name", h.delete, RouteDoc{Summary: "delete a stored script", Description: "Needs scope flows.", Tag: "scripts",
		Response: Obj(map[string]Schema{"deleted": Bool("")})})
	s.Handle(http.MethodPost, "/v1/operations/scripts", h.run, RouteDoc{
		Summary: "runScript: execute a stored script (or inline source) with the token's grants",
		Description: "The answer is the script's result as JSON (undefined is null); with ?logs=true it is {result, logs}, and a failure's answer {error, logs} holds the lines logged before it. " +
			"Running a stored script by name needs no scope; inline source needs scope flows. " +
			"The script reaches only the namespaces the token grants; failures carry the script's error code " +
			"(408 timeout, 413 too_large, 403 access_denied, 400 invalid_argument for syntax errors and uncaught exceptions, …). " +
			"The script's store calls count against the token's monthly operations; a token already running as many scripts " +
			"as its quota allows (default 4) is refused with 429 resource_exhausted.",
		Tag: "scripts",
		Query: []Param{
			{Name: "logs", Description: "true to answer {result, logs} with the console lines; a failed script then answers {error, logs}"},
		},
		Body: Obj(map[string]Schema{
			"script": Str("stored script name"),
			"source": Str("inline JavaScript source, instead of script"),
			"input":  AnyJSON("input data, bound to the global `input`"),
		}),
		Response: AnyJSON("the script's result"),
	})
	return nil
}

type scriptRoutes struct {
	s *Server
	e *scripting.Engine
}

// managedScript reads the :name path parameter and checks the token may
// manage scripts (scope flows).
func (h scriptRoutes) managedScript(c echo.Context) (string, error) {
	name, err := PathParam(c, "name")
	if err != nil {
		return "", err
	}
	if err := manageScripts(c); err != nil {
		return "", err
	}
	return name, nil
}

func manageScripts(c echo.Context) error {
	return RequireScope(c, tokens.ScopeFlows, "managing scripts")
}

func (h scriptRoutes) put(c echo.Context) error {
	name, err := h.managedScript(c)
	if err != nil {
		return err
	}
	var body struct {
		Source string `json:"source"`
	}
	if err := h.s.Bind(c, &body); err != nil {
		return err
	}
	sc, err := h.e.PutScript(c.Request().Context(), h.s.RawStore(), name, body.Source)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, infoOf(sc, false))
}

func (h scriptRoutes) get(c echo.Context) error {
	name, err := h.managedScript(c)
	if err != nil {
		return err
	}
	sc, err := scripting.GetScript(c.Request().Context(), h.s.RawStore(), name)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, infoOf(sc, true))
}

func (h scriptRoutes) list(c echo.Context) error {
	if err := manageScripts(c); err != nil {
		return err
	}
	limit, err := QueryInt(c, "limit", 0)
	if err != nil {
		return err
	}
	list, next, err := scripting.ListScripts(c.Request().Context(), h.s.RawStore(), c.QueryParam("cursor"), limit)
	if err != nil {
		return err
	}
	items := make([]scriptInfo, len(list))
	for i, sc := range list {
		items[i] = infoOf(sc, false)
	}
	return c.JSON(http.StatusOK, map[string]any{"items": items, "cursor": next})
}

func (h scriptRoutes) delete(c echo.Context) error {
	name, err := h.managedScript(c)
	if err != nil {
		return err
	}
	ok, err := scripting.DeleteScript(c.Request().Context(), h.s.RawStore(), name)
	if err != nil {
		return err
	}
	if !ok {
		return store.Errorf(store.CodeNotFound, "no script named %q", name)
	}
	return c.JSON(http.StatusOK, map[string]bool{"deleted": true})
}

func (h scriptRoutes) run(c echo.Context) error {
	var body struct {
		Script string          `json:"script"`
		Source string          `json:"source"`
		Input  json.RawMessage `json:"input"`
	}
	if err := h.s.Bind(c, &body); err != nil {
		return err
	}
	if (body.Script == "") == (body.Source == "") {
		return store.Errorf(store.CodeInvalidArgument, "give either script (a stored script's name) or source")
	}
	if body.Source != "" {
		if err := RequireScope(c, tokens.ScopeFlows, "running inline source"); err != nil {
			return err
		}
	}
	release, err := h.s.StartScriptRun(c)
	if err != nil {
		return err
	}
	defer release()
	ctx := c.Request().Context()
	run := scripting.Run{Source: body.Source, Name: "inline", Input: body.Input, Store: h.s.ScriptStore(c), Grants: Grants(c)}
	var res scripting.Result
	if body.Script != "" {
		res, err = h.e.RunStored(ctx, h.s.RawStore(), body.Script, run)
	} else {
		res, err = h.e.Run(ctx, run)
	}
	logs := c.QueryParam("logs") == "true"
	if res.Logs == nil {
		res.Logs = []scripting.LogLine{}
	}
	if err != nil {
		if !logs {
			return err
		}
		// The console lines up to the failure, beside the error.
		status, code, msg := describe(err, c)
		logCode(c, code)
		return c.JSON(status, map[string]any{"error": ErrorDetail{Code: code, Message: msg}, "logs": res.Logs, "logsTruncated": res.LogsTruncated})
	}
	if logs {
		return c.JSON(http.StatusOK, map[string]any{"result": res.Value, "logs": res.Logs, "logsTruncated": res.LogsTruncated})
	}
	return c.JSONBlob(http.StatusOK, res.Value)
}
