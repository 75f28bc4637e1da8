package web

import (
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/flowkv/flowkv/store"
)

// Schema is a JSON Schema (OpenAPI 3.0 flavour) as plain data.
type Schema = map[string]any

// Param documents a query parameter or header.
type Param struct {
	Name        string
	Description string
	Required    bool
	// Schema defaults to a string.
	Schema Schema
}

// RouteDoc documents one API route for /v1/openapi.json. Method and Path
// are filled in by Server.Handle; path parameters (":name") are documented
// automatically as percent-encoded strings.
type RouteDoc struct {
	Method string
	Path   string
	// Summary is required: one line.
	Summary     string
	Description string
	// Tag groups routes ("entries", "data", "scripts", "flows", "operations").
	Tag     string
	Query   []Param
	Headers []Param
	// Body is the JSON request body's schema; nil means no body.
	Body Schema
	// Response is the success answer's schema (JSON unless ContentType).
	Response Schema
	// Status is the success status; 0 means 200.
	Status int
	// ContentType of the success answer; "" means application/json.
	ContentType string
	// Public serves a /v1/ route without a token (the document itself,
	// which holds no data). Routes outside /v1/ are always public.
	Public bool
}

// Schema helpers, to keep RouteDocs short.

// Str is a string schema.
func Str(desc string) Schema { return Schema{"type": "string", "description": desc} }

// Int is an integer schema.
func Int(desc string) Schema {
	return Schema{"type": "integer", "format": "int64", "description": desc}
}

// Num is a number schema.
func Num(desc string) Schema { return Schema{"type": "number", "description": desc} }

// Bool is a boolean schema.
func Bool(desc string) Schema { return Schema{"type": "boolean", "description": desc} }

// AnyJSON is a schema for any JSON value.
func AnyJSON(desc string) Schema { return Schema{"description": desc} }

// Arr is an array of items.
func Arr(items Schema) Schema { return Schema{"type": "array", "items": items} }

// Ref refers to a schema of components (Entry, Page, Error, …).
func Ref(name string) Schema { return Schema{"$ref": "#/components/schemas/" + name} }

// Obj is an object with properties; required lists the required ones.
// Objects are closed (unknown fields are refused).
func Obj(props map[string]Schema, required ...string) Schema {
	o := Schema{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

// components are the shared schemas.
func components() Schema {
	nullableTime := Schema{"type": "string", "format": "date-time", "nullable": true}
	return Schema{
		"securitySchemes": Schema{
			"bearer": Schema{"type": "http", "scheme": "bearer", "description": "flowkv token (flowkv token create)"},
		},
		"schemas": Schema{
			"Entry": Obj(map[string]Schema{
				"name":      Str("namespace"),
				"key":       Str("key, unique within name"),
				"data":      AnyJSON("the stored JSON value"),
				"version":   Int("grows on every write; use with If-Match"),
				"flowUuid":  Str("the flow that last wrote it, empty from the API"),
				"expiresAt": nullableTime,
				"createdAt": Schema{"type": "string", "format": "date-time"},
				"updatedAt": Schema{"type": "string", "format": "date-time"},
			}, "name", "key", "data", "version", "flowUuid", "expiresAt", "createdAt", "updatedAt"),
			"Page": Obj(map[string]Schema{
				"items":      Arr(Ref("Entry")),
				"nextCursor": Str("continues the listing; empty when there is no more"),
			}, "items", "nextCursor"),
			"QueryPage": Obj(map[string]Schema{
				"items":      Arr(Ref("Entry")),
				"nextCursor": Str("continues the query; empty when there is no more (a page may hold fewer entries than limit while it is set)"),
				"count":      Int("the number of matching entries, when count was asked"),
				"index":      Str("the declared index that served the query; empty when the namespace was read in key order"),
			}, "items", "nextCursor", "index"),
			"Index": Obj(map[string]Schema{
				"name":      Str("namespace"),
				"field":     Str("the indexed field, in canonical spelling"),
				"state":     Schema{"type": "string", "enum": []string{"building", "ready"}},
				"createdAt": Schema{"type": "string", "format": "date-time"},
			}, "name", "field", "state", "createdAt"),
			"Error": Obj(map[string]Schema{
				"error": Obj(map[string]Schema{
					"code":    Schema{"type": "string", "enum": store.Codes},
					"message": Str("what went wrong, safe to show"),
					"problems": Arr(Obj(map[string]Schema{
						"block":   Str("the block's id (#N for a block without one); absent for the flow's own fields"),
						"field":   Str("the field at fault"),
						"line":    Int("1-based line in the document; absent when the problem has no place (a missing field)"),
						"column":  Int("1-based column"),
						"message": Str("what is wrong"),
					}, "message")),
				}, "code", "message"),
			}, "error"),
			"DataItem": Obj(map[string]Schema{
				"key":       Str("key in namespace default"),
				"value":     AnyJSON("the stored value"),
				"version":   Int("entry version"),
				"expiresAt": nullableTime,
				"updatedAt": Schema{"type": "string", "format": "date-time"},
			}, "key", "value", "version", "expiresAt", "updatedAt"),
		},
	}
}

// OpenAPIPath turns echo's "/v1/store/:name/:key" into "/v1/store/{name}/{key}".
func OpenAPIPath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		if strings.HasPrefix(s, ":") {
			parts[i] = "{" + s[1:] + "}"
		} else if s == "*" {
			parts[i] = "{path}"
		}
	}
	return strings.Join(parts, "/")
}

func pathParams(p string) []string {
	var out []string
	for _, s := range strings.Split(p, "/") {
		if strings.HasPrefix(s, ":") {
			out = append(out, s[1:])
		}
	}
	return out
}

// OpenAPI returns the OpenAPI 3 document of every route added with Handle.
func (s *Server) OpenAPI() Schema {
	docs := s.Routes()
	sort.SliceStable(docs, func(i, j int) bool { return docs[i].Path < docs[j].Path })
	paths := Schema{}
	for _, d := range docs {
		op := Schema{
			"summary":     d.Summary,
			"operationId": strings.ToLower(d.Method) + strings.NewReplacer("/", "_", ":", "", "{", "", "}", "", "*", "path", ".", "_").Replace(d.Path),
		}
		if d.Description != "" {
			op["description"] = d.Description
		}
		if d.Tag != "" {
			op["tags"] = []string{d.Tag}
		}
		var params []Schema
		for _, n := range pathParams(d.Path) {
			params = append(params, Schema{"name": n, "in": "path", "required": true,
				"description": "percent-encoded; may contain any UTF-8 including / and :",
				"schema":      Schema{"type": "string"}})
		}
		for _, q := range d.Query {
			params = append(params, param(q, "query"))
		}
		for _, h := range d.Headers {
			params = append(params, param(h, "header"))
		}
		if len(params) > 0 {
			op["parameters"] = params
		}
		if d.Body != nil {
			op["requestBody"] = Schema{"required": true, "content": Schema{"application/json": Schema{"schema": d.Body}}}
		}
		status := d.Status
		if status == 0 {
			status = http.StatusOK
		}
		ct := d.ContentType
		if ct == "" {
			ct = echo.MIMEApplicationJSON
		}
		ok := Schema{"description": http.StatusText(status)}
		if d.Response != nil {
			ok["content"] = Schema{ct: Schema{"schema": d.Response}}
		}
		secured := strings.HasPrefix(d.Path, "/v1/") && !d.Public
		responses := errorResponses(secured || strings.HasPrefix(d.Path, "/hooks/"))
		responses[strconv.Itoa(status)] = ok
		op["responses"] = responses
		// Public routes say so with an empty list (they check a webhook's
		// secret themselves, or nothing).
		op["security"] = []Schema{}
		if secured {
			op["security"] = []Schema{{"bearer": []string{}}}
		}
		p := OpenAPIPath(d.Path)
		item, _ := paths[p].(Schema)
		if item == nil {
			item = Schema{}
			paths[p] = item
		}
		item[strings.ToLower(d.Method)] = op
	}
	version := s.opts.Version
	if version == "" {
		version = "dev"
	}
	return Schema{
		"openapi": "3.0.3",
		"info": Schema{
			"title":       "flowkv",
			"version":     version,
			"description": "The flowkv key/value store's HTTP API. Errors are {\"error\": {\"code\", \"message\"}}.",
		},
		// Relative: the document describes the server that serves it.
		"servers":    []Schema{{"url": "/", "description": "the flowkv serve answering this document"}},
		"paths":      paths,
		"components": components(),
	}
}

// errorResponses are an operation's error answers, one per status of the
// error codes (docs/design.md, Errors), each the one Error schema; 401
// only where a token or secret is checked.
func errorResponses(authenticated bool) Schema {
	codes := map[int][]string{}
	for _, c := range store.Codes {
		if c == store.CodeUnauthenticated && !authenticated {
			continue
		}
		st := StatusOf(c)
		codes[st] = append(codes[st], string(c))
	}
	out := Schema{}
	for st, cs := range codes {
		out[strconv.Itoa(st)] = Schema{
			"description": strings.Join(cs, " or "),
			"content":     Schema{"application/json": Schema{"schema": Ref("Error")}},
		}
	}
	return out
}

func param(p Param, in string) Schema {
	sc := p.Schema
	if sc == nil {
		sc = Schema{"type": "string"}
	}
	o := Schema{"name": p.Name, "in": in, "schema": sc}
	if p.Description != "" {
		o["description"] = p.Description
	}
	if p.Required {
		o["required"] = true
	}
	return o
}
