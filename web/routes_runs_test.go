package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/flowkv/flowkv/blocks"
	"github.com/flowkv/flowkv/web"
)

// eventually polls cond until it holds, failing after a generous time (a
// loaded 2-core machine running -race).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// getRun reads GET /v1/runs/{id} as the admin.
func (h *harness) getRun(id string) blocks.Run {
	h.t.Helper()
	r := h.do(http.MethodGet, "/v1/runs/"+id, h.admin, nil)
	want(h.t, r, http.StatusOK, "")
	var run blocks.Run
	if err := json.Unmarshal(r.Body, &run); err != nil {
		h.t.Fatalf("run: %v: %s", err, r.Body)
	}
	return run
}

// busy is JavaScript that keeps its block running for ms milliseconds
// (scripts have no timers).
func busy(ms int) string {
	return fmt.Sprintf("const end = Date.now() + %d; while (Date.now() < end) {}", ms)
}

// A webhook caller that hangs up does not cancel the run: both blocks'
// effects land and the run is recorded as succeeded.
func TestHookCallerDisconnects(t *testing.T) {
	t.Parallel()
	h := newSQLite(t)
	flow := `id: slow-hook
dataStores: [orders]
trigger: webhook
blocks:
  - id: first
    type: dataStore
    operation: upsert
    name: orders
    key: "first-{{ input.id }}"
    data: {at: "{{ flow.startedAt }}"}
  - id: second
    type: javascript
    code: |
      ` + busy(500) + `
      return await dataStore.upsert('orders', 'second-' + input.id, {after: steps.first.key});
`
	want(t, h.do(http.MethodPut, "/v1/flows/slow-hook", h.admin, flow), http.StatusOK, "")

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, h.base+"/hooks/slow-hook", strings.NewReader(`{"id":"d1"}`))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err == nil {
		res.Body.Close()
		t.Fatalf("the call answered %d within 50 ms; the flow was meant to be still running", res.StatusCode)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("call: %v", err)
	}

	var runs blocks.RunPage
	eventually(t, "the run's record", func() bool {
		r := h.do(http.MethodGet, "/v1/flows/slow-hook/runs", h.admin, nil)
		want(t, r, http.StatusOK, "")
		runs = blocks.RunPage{}
		_ = json.Unmarshal(r.Body, &runs)
		return len(runs.Runs) == 1 && runs.Runs[0].Status != blocks.StatusRunning
	})
	run := runs.Runs[0]
	if run.Status != blocks.StatusSucceeded || len(run.Blocks) != 2 {
		t.Fatalf("run after the caller hung up: status %s, error %+v, %d blocks", run.Status, run.Error, len(run.Blocks))
	}
	for _, k := range []string{"first-d1", "second-d1"} {
		want(t, h.do(http.MethodGet, "/v1/store/orders/"+k, h.admin, nil), http.StatusOK, "")
	}
	if got := h.getRun(run.ID); got.Status != blocks.StatusSucceeded || got.Request == nil || got.Request.Method != http.MethodPost {
		t.Errorf("GET /v1/runs/%s: %+v", run.ID, got)
	}
}

// A form POST with a query string: the fields are the input, the query
// and headers are request, to expressions and to JavaScript alike; the
// secret and credentials never reach the flow.
func TestHookFormAndQuery(t *testing.T) {
	t.Parallel()
	h := newSQLite(t)
	flow := `id: signup
dataStores: [signups]
trigger: {type: webhook, secret: s3cret}
blocks:
  - id: save
    type: dataStore
    operation: upsert
    name: signups
    key: "{{ input.email }}"
    data:
      name: "{{ input.name }}"
      tags: "{{ input.tag }}"
      source: "{{ request.query.source }}"
      method: "{{ request.method }}"
      agent: "{{ request.headers['user-agent'] }}"
  - id: js
    type: javascript
    code: |
      const e = await dataStore.upsert('signups', 'js-' + input.email, {
        source: request.query.source, pages: request.query.page, name: input.name,
        sawSecret: JSON.stringify(request).includes('s3cret') || JSON.stringify(request).includes('Bearer'),
      });
      return e.data;
`
	want(t, h.do(http.MethodPut, "/v1/flows/signup", h.admin, flow), http.StatusOK, "")

	form := url.Values{"email": {"ann@example.com"}, "name": {"Ann Lee & co"}, "tag": {"a", "b"}}
	r := h.do(http.MethodPost, "/hooks/signup?source=ad&page=1&page=2&secret=s3cret", "", form.Encode(),
		"Content-Type", "application/x-www-form-urlencoded", "User-Agent", "form-test/1", "Authorization", "Bearer nope")
	want(t, r, http.StatusOK, "")
	var out struct {
		RunID  string         `json:"runId"`
		Status string         `json:"status"`
		Output map[string]any `json:"output"`
	}
	if err := json.Unmarshal(r.Body, &out); err != nil || out.Status != "succeeded" {
		t.Fatalf("hook answer: %v %s", err, r.Body)
	}
	if r.Header.Get(web.HookRunHeader) != out.RunID {
		t.Errorf("run header %q, run %q", r.Header.Get(web.HookRunHeader), out.RunID)
	}
	e := h.do(http.MethodGet, "/v1/store/signups/ann@example.com", h.admin, nil)
	want(t, e, http.StatusOK, "")
	got, _ := json.Marshal(e.JSON(t)["data"])
	if string(got) != `{"agent":"form-test/1","method":"POST","name":"Ann Lee \u0026 co","source":"ad","tags":["a","b"]}` {
		t.Errorf("expression block stored %s", got)
	}
	js, _ := json.Marshal(out.Output)
	if string(js) != `{"name":"Ann Lee \u0026 co","pages":["1","2"],"sawSecret":false,"source":"ad"}` {
		t.Errorf("JavaScript block stored %s", js)
	}
	run := h.getRun(out.RunID)
	if run.Request == nil || run.Request.Query["secret"] != nil || run.Request.Headers["authorization"] != "" ||
		run.Request.Headers["user-agent"] != "form-test/1" || string(run.Input) != `{"email":"ann@example.com","name":"Ann Lee & co","tag":["a","b"]}` {
		t.Errorf("recorded request %+v input %s", run.Request, run.Input)
	}

	// Multipart fields, text bodies, and JSON still as before.
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("email", "bo@example.com")
	_ = mw.WriteField("name", "Bo")
	fw, _ := mw.CreateFormFile("avatar", "bo.png")
	_, _ = fw.Write([]byte("\x89PNG..."))
	_ = mw.Close()
	r = h.do(http.MethodPost, "/hooks/signup", "", buf.Bytes(), "Content-Type", mw.FormDataContentType(), "X-Flowkv-Secret", "s3cret")
	want(t, r, http.StatusOK, "")
	run = h.getRun(r.Header.Get(web.HookRunHeader))
	if string(run.Input) != `{"avatar":{"contentType":"application/octet-stream","filename":"bo.png","size":7},"email":"bo@example.com","name":"Bo"}` {
		t.Errorf("multipart input %s", run.Input)
	}
	r = h.do(http.MethodPost, "/hooks/signup?secret=s3cret", "", "hello", "Content-Type", "text/plain")
	want(t, r, http.StatusBadRequest, "") // the text is the input: input.email is null, the key is required
	if run := h.getRun(r.Header.Get(web.HookRunHeader)); string(run.Input) != `"hello"` {
		t.Errorf("text input %s", run.Input)
	}
	r = h.do(http.MethodPost, "/hooks/signup?secret=s3cret", "", `{"email":"cy@example.com","name":"Cy"}`)
	want(t, r, http.StatusOK, "")
	r = h.do(http.MethodPost, "/hooks/signup?secret=s3cret", "", `{"email":`)
	want(t, r, http.StatusBadRequest, "invalid_argument")
}

// A JSON run whose JavaScript block throws: the webhook answers the
// error's status (not 200), and GET /v1/runs/{id} shows the block's error
// with its line and column, and the console lines logged before it.
func TestHookFailedRunInspected(t *testing.T) {
	t.Parallel()
	h := newSQLite(t)
	flow := `id: checkout
dataStores: [orders]
trigger: webhook
blocks:
  - id: save
    type: dataStore
    operation: upsert
    name: orders
    key: "{{ input.id }}"
    data: "{{ input }}"
  - id: check
    type: javascript
    code: |
      console.log('checking', input.id);
      console.warn('total', input.total);
      if (input.total > 100) throw new Error('total too high');
      return {ok: true};
`
	want(t, h.do(http.MethodPut, "/v1/flows/checkout", h.admin, flow), http.StatusOK, "")
	r := h.do(http.MethodPost, "/hooks/checkout", "", `{"id":"o-9","total":250}`)
	want(t, r, http.StatusBadRequest, "")
	m := r.JSON(t)
	if m["status"] != "failed" || m["error"].(map[string]any)["code"] != "invalid_argument" {
		t.Fatalf("failed hook answer %s", r.Body)
	}
	run := h.getRun(m["runId"].(string))
	if run.Status != blocks.StatusFailed || len(run.Blocks) != 2 || string(run.Input) != `{"id":"o-9","total":250}` {
		t.Fatalf("run %+v", run)
	}
	if b := run.Blocks[0]; b.Status != blocks.StatusSucceeded || b.DurationMS <= 0 || !strings.Contains(string(b.Output), `"key":"o-9"`) {
		t.Errorf("first block %+v", b)
	}
	be := run.Blocks[1].Error
	if run.Blocks[1].Status != blocks.StatusFailed || be == nil || be.Line != 3 || be.Column != 30 || !strings.Contains(be.Message, "total too high") {
		t.Errorf("failing block %+v error %+v", run.Blocks[1], be)
	}
	if len(run.Logs) != 2 || run.Logs[0].Message != "checking o-9" || run.Logs[1].Level != "warn" || run.Logs[1].Block != "check" {
		t.Errorf("logs %+v", run.Logs)
	}

	// Reading runs: a token without read on the flow's namespaces cannot,
	// by id or through the flow.
	for _, tok := range []string{h.token("other:read"), h.flowsToken("other:write")} {
		want(t, h.do(http.MethodGet, "/v1/runs/"+run.ID, tok, nil), http.StatusForbidden, "access_denied")
		want(t, h.do(http.MethodGet, "/v1/flows/checkout/runs/"+run.ID, tok, nil), http.StatusForbidden, "access_denied")
	}
	want(t, h.do(http.MethodGet, "/v1/runs/"+run.ID, "", nil), http.StatusUnauthorized, "unauthenticated")
	if got := h.do(http.MethodGet, "/v1/runs/"+run.ID, h.token("orders:read"), nil); got.Status != http.StatusOK {
		t.Errorf("a reader of orders: %d %s", got.Status, got.Body)
	}
	want(t, h.do(http.MethodGet, "/v1/runs/01900000-0000-7000-8000-000000000000", h.admin, nil), http.StatusNotFound, "not_found")
	want(t, h.do(http.MethodGet, "/v1/runs/not-a-run", h.admin, nil), http.StatusNotFound, "not_found")

	// The script route returns the console lines with the error too.
	r = h.do(http.MethodPost, "/v1/operations/scripts?logs=true", h.admin, map[string]any{"source": "console.log('before');\nnull.x;"})
	want(t, r, http.StatusBadRequest, "invalid_argument")
	if !strings.Contains(string(r.Body), `"logs":[{"level":"log","message":"before"}]`) || !strings.Contains(string(r.Body), ":2:") {
		t.Errorf("script failure with logs: %s", r.Body)
	}
}

// A flow slower than the hook wait: 202 with the run's URL; the run goes
// on and its record (running, then succeeded) is at that URL. The respond
// option sets a finished run's status and body.
func TestHookAcceptedAndRespond(t *testing.T) {
	t.Parallel()
	h := newSQLite(t, func(o *web.Options) { o.HookWait = 100 * time.Millisecond })
	flow := `id: slow
dataStores: [jobs]
trigger: webhook
blocks:
  - id: work
    type: javascript
    code: |
      ` + busy(1500) + `
      return await dataStore.upsert('jobs', input.job, {done: true});
`
	want(t, h.do(http.MethodPut, "/v1/flows/slow", h.admin, flow), http.StatusOK, "")
	r := h.do(http.MethodPost, "/hooks/slow", "", `{"job":"j1"}`)
	want(t, r, http.StatusAccepted, "")
	m := r.JSON(t)
	id, _ := m["runId"].(string)
	if m["status"] != "running" || m["url"] != "/v1/runs/"+id || r.Header.Get("Location") != "/v1/runs/"+id {
		t.Fatalf("202 answer %s (Location %q)", r.Body, r.Header.Get("Location"))
	}
	eventually(t, "the slow run to finish", func() bool { return h.getRun(id).Status != blocks.StatusRunning })
	if run := h.getRun(id); run.Status != blocks.StatusSucceeded {
		t.Fatalf("slow run %+v", run)
	}
	want(t, h.do(http.MethodGet, "/v1/store/jobs/j1", h.admin, nil), http.StatusOK, "")

	limiter := `id: limit
dataStores: [hits]
trigger: webhook
respond:
  status: "{{ steps.count.value > 2 ? 429 : 201 }}"
  body: {allowed: "{{ steps.count.value <= 2 }}", user: "{{ input.user }}"}
blocks:
  - id: count
    type: dataStore
    operation: atomicIncrement
    name: hits
    key: "{{ input.user }}"
`
	want(t, h.do(http.MethodPut, "/v1/flows/limit", h.admin, limiter), http.StatusOK, "")
	for i, st := range []int{201, 201, 429} {
		r := h.do(http.MethodPost, "/hooks/limit", "", `{"user":"u1"}`)
		if r.Status != st || string(r.Body) != fmt.Sprintf(`{"allowed":%v,"user":"u1"}`, i < 2) {
			t.Errorf("call %d: %d %s", i, r.Status, r.Body)
		}
	}
	bad := strings.Replace(limiter, `"{{ steps.count.value > 2 ? 429 : 201 }}"`, "700", 1)
	r = h.do(http.MethodPut, "/v1/flows/limit", h.admin, bad)
	want(t, r, http.StatusBadRequest, "invalid_argument")
	if !strings.Contains(string(r.Body), "respond.status") {
		t.Errorf("bad respond status: %s", r.Body)
	}
}

// Attacks on the webhook's input: a form too large, too many fields, too
// many headers are refused or bounded, and the server serves others.
func TestHookHostileInput(t *testing.T) {
	t.Parallel()
	h := newSQLite(t, func(o *web.Options) { o.BodyLimit = 256 << 10 })
	want(t, h.do(http.MethodPut, "/v1/flows/echo", h.admin, "id: echo\ndataStores: []\ntrigger: webhook\nblocks:\n  - {id: x, type: javascript, code: 'return request.headers'}\n"), http.StatusOK, "")

	huge := "a=" + strings.Repeat("x", 300<<10)
	want(t, h.do(http.MethodPost, "/hooks/echo", "", huge, "Content-Type", "application/x-www-form-urlencoded"), http.StatusRequestEntityTooLarge, "too_large")
	many := strings.Repeat("f=1&", 5000) + "f=1"
	want(t, h.do(http.MethodPost, "/hooks/echo", "", many, "Content-Type", "application/x-www-form-urlencoded"), http.StatusRequestEntityTooLarge, "too_large")

	// 300 headers of 100 bytes: within the server's header limit, the run
	// keeps at most MaxRequestFields of them.
	req, _ := http.NewRequest(http.MethodPost, h.base+"/hooks/echo", strings.NewReader(`{}`))
	for i := range 300 {
		req.Header.Set(fmt.Sprintf("X-H%03d", i), strings.Repeat("v", 100))
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var ans struct {
		Output map[string]string `json:"output"`
	}
	if res.StatusCode != http.StatusOK || json.Unmarshal(body, &ans) != nil || len(ans.Output) > blocks.MaxRequestFields || len(ans.Output) < 10 {
		t.Errorf("many headers: %d, %d headers kept: %.200s", res.StatusCode, len(ans.Output), body)
	}
	// Headers past the server's limit are refused before any flow runs.
	req, _ = http.NewRequest(http.MethodPost, h.base+"/hooks/echo", strings.NewReader(`{}`))
	for i := range 2000 {
		req.Header.Set(fmt.Sprintf("X-H%04d", i), strings.Repeat("v", 100))
	}
	if res, err := http.DefaultClient.Do(req); err == nil {
		res.Body.Close()
		if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("200 KB of headers: %d", res.StatusCode)
		}
	}
	want(t, h.do(http.MethodPost, "/hooks/echo", "", `{}`), http.StatusOK, "")
}
