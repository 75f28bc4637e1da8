package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowkv/flowkv/internal/testenv"
	"github.com/flowkv/flowkv/store"
)

func writeJS(t *testing.T, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "script.js")
	if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCLIScript(t *testing.T) {
	c := cli{t: t, dsn: testenv.SQLiteDSN(t)}
	counter := writeJS(t, `
const counters = await openKv('counters');
const r = await counters.atomic().sum([input.name], input.by ?? 1).commit();
console.log('committed', r.ok);
return (await counters.get([input.name])).value;`)

	// Run a file directly: the result is JSON on stdout.
	r := c.run("script", "run", "--file", counter, "--input", `{"name":"visits"}`)
	if strings.TrimSpace(r.out) != "1" {
		t.Fatalf("run --file: %q", r.out)
	}
	// Save it, run it by name with input.
	r = c.run("script", "put", "counter", counter)
	if !strings.Contains(r.out, `"name":"counter"`) {
		t.Fatalf("put: %q", r.out)
	}
	r = c.run("script", "run", "counter", "--input", `{"name":"visits","by":5}`, "--logs")
	if strings.TrimSpace(r.out) != "6" || !strings.Contains(r.err, "log: committed true") {
		t.Fatalf("run NAME: out %q err %q", r.out, r.err)
	}
	// The entry is an ordinary one, under its Deno KV key.
	r = c.run("store", "get", "counters", `["visits"]`)
	if !strings.Contains(r.out, `"data":6`) {
		t.Fatalf("store get: %q", r.out)
	}
	// get, list, delete.
	if r = c.run("script", "get", "counter"); !strings.Contains(r.out, "counters.atomic()") {
		t.Fatalf("get: %q", r.out)
	}
	if r = c.run("script", "list"); strings.Count(r.out, "\n") != 1 || !strings.Contains(r.out, `"counter"`) {
		t.Fatalf("list: %q", r.out)
	}
	// Input from stdin.
	r = c.runIn(`{"name":"stdin"}`, "script", "run", "counter", "--input", "-")
	if strings.TrimSpace(r.out) != "1" {
		t.Fatalf("stdin input: %q", r.out)
	}

	// Failures: one line with the code word, non-zero exit.
	c.fail(store.CodeAccessDenied, "script", "run", "counter", "--grant", "orders", "--input", `{"name":"x"}`)
	c.fail(store.CodeAccessDenied, "script", "run", "--file", counter, "--grant", "counters:read", "--input", `{"name":"x"}`)
	c.run("script", "run", "--file", counter, "--grant", "counters", "--input", `{"name":"x"}`)
	c.fail(store.CodeInvalidArgument, "script", "put", "broken", writeJS(t, "return (1"))
	c.fail(store.CodeInvalidArgument, "script", "run", "--file", writeJS(t, "throw new Error('boom')"))
	c.fail(store.CodeNotFound, "script", "run", "--file", writeJS(t, "await dataStore.updateOneNameKey('a', 'b', 1)"))
	c.fail(store.CodeTimeout, "script", "run", "--file", writeJS(t, "for (;;) {}"), "--timeout", "200ms")
	c.fail(store.CodeTooLarge, "script", "run", "--file", writeJS(t, "function f() { return f() } f()"))
	c.fail(store.CodeInvalidArgument, "script", "run", "counter", "--input", "{not json")
	c.fail(store.CodeInvalidArgument, "script", "run")
	c.fail(store.CodeInvalidArgument, "script", "frobnicate")
	c.fail(store.CodeNotFound, "script", "run", "missing")
	c.run("script", "delete", "counter")
	c.fail(store.CodeNotFound, "script", "delete", "counter")
	c.fail(store.CodeNotFound, "script", "get", "counter")
}
