// Scenarios run by both Deno KV clients against a real `flowkv serve`
// (kvconnect/clients_test.go): Node with @deno/kv (node_runner.mjs) and
// Deno with Deno.openKv (deno_runner.ts). Each gets t = {
//   kv      the flowkv database t.ns, opened over KV Connect
//   local   the same client's own local Deno KV (SQLite), for comparisons
//   open    (url, token) => another remote database
//   KvU64   the client's KvU64 class
//   api     (method, path, body?, token?) => fetch of flowkv's HTTP API
//   base, ns, tokens {admin, usersRead}
// }
import assert from "node:assert/strict";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// show writes a key so that every part's type is visible.
export function show(key) {
  return JSON.stringify(key.map((p) => {
    if (typeof p === "bigint") return { bigint: String(p) };
    if (p instanceof Uint8Array) return { bytes: [...p] };
    if (typeof p === "number" && !Number.isFinite(p)) return { number: String(p) };
    if (Object.is(p, -0)) return { number: "-0" };
    return p;
  }));
}

async function setAll(kv, entries) {
  for (let i = 0; i < entries.length; i += 50) {
    const op = kv.atomic();
    for (const [k, v] of entries.slice(i, i + 50)) op.set(k, v);
    const r = await op.commit();
    assert.equal(r.ok, true);
  }
}

async function keysOf(kv, selector, options) {
  const out = [];
  for await (const e of kv.list(selector, options)) out.push(show(e.key));
  return out;
}

// Keys of every part type, in no particular order.
const orderKeys = () => [
  ["ord", "b"], ["ord", "a", "x"], ["ord", "a"], ["ord", ""], ["ord", "\u0000"], ["ord", "a\u0000"],
  ["ord", "é"], ["ord", "日本"], ["ord", "ab"],
  ["ord", 10], ["ord", 2], ["ord", -1.5], ["ord", 0], ["ord", Infinity], ["ord", -Infinity], ["ord", NaN],
  ["ord", 1e300], ["ord", -1e-300],
  ["ord", 10n], ["ord", 2n], ["ord", -1n], ["ord", 0n], ["ord", 10n ** 30n], ["ord", -(10n ** 30n)], ["ord", 255n], ["ord", 256n],
  ["ord", true], ["ord", false],
  ["ord", new Uint8Array([])], ["ord", new Uint8Array([0])], ["ord", new Uint8Array([0, 0])], ["ord", new Uint8Array([1])],
  ["ord", new Uint8Array([255])],
  ["ord", 2, "z"], ["ord", 2n, 1], ["ord", false, false],
  ["ord2", 1],
];

export const scenarios = {
  async crud({ kv }) {
    const r = await kv.set(["crud", "a"], { n: 1 });
    assert.equal(r.ok, true);
    assert.match(r.versionstamp, /^[0-9a-f]{20}$/);
    assert.deepEqual(await kv.get(["crud", "a"]), { key: ["crud", "a"], value: { n: 1 }, versionstamp: r.versionstamp });
    const r2 = await kv.set(["crud", "a"], { n: 2 });
    assert.ok(r2.versionstamp > r.versionstamp, "versionstamps grow");
    assert.deepEqual(await kv.get(["crud", "missing"]), { key: ["crud", "missing"], value: null, versionstamp: null });
    await kv.set(["crud", "b"], "B");
    const many = await kv.getMany([["crud", "a"], ["crud", "missing"], ["crud", "b"]]);
    assert.deepEqual(many.map((e) => e.value), [{ n: 2 }, null, "B"]);
    assert.deepEqual(many.map((e) => e.versionstamp === null), [false, true, false]);
    await kv.delete(["crud", "a"]);
    assert.equal((await kv.get(["crud", "a"])).value, null);
    await kv.delete(["crud", "never-there"]);
    const r3 = await kv.set(["crud", "a"], 3);
    assert.ok(r3.versionstamp > r2.versionstamp, "a key re-created after delete gets a new versionstamp");
  },

  // Every list selector and option returns exactly what the client's own
  // Deno KV returns, in its order; keys of every part type.
  async listSelectors({ kv, local, quick }) {
    const entries = orderKeys().map((k, i) => [k, i]);
    await setAll(kv, entries);
    await setAll(local, entries);
    const sels = [
      { prefix: ["ord"] }, { prefix: ["ord", "a"] }, { prefix: ["ord", 2] },
      { start: ["ord", "a"], end: ["ord", 10] }, { start: ["ord", -1n], end: ["ord", true] },
      { prefix: ["ord"], start: ["ord", 0] }, { prefix: ["ord"], end: ["ord", 0n] },
      { start: ["ord"], end: ["ord2"] }, { start: ["ord", 0], end: ["ord", 0] },
    ];
    const opts = [{}, { reverse: true }, { limit: 3 }, { limit: 4, reverse: true }, { batchSize: 2 }, { batchSize: 3, reverse: true, limit: 7 }];
    if (quick) { // slower backends: fewer combinations (SQLite runs them all)
      sels.splice(3);
      opts.splice(1, 3);
    }
    for (const s of sels) {
      for (const o of opts) {
        const got = await keysOf(kv, s, o), want = await keysOf(local, s, o);
        assert.deepEqual(got, want, `list(${show(Object.values(s).flat())}, ${JSON.stringify(o)})`);
      }
    }
    assert.equal((await keysOf(kv, { prefix: ["ord"] })).length, orderKeys().length - 1);
    // Cursors resume where a page stopped, both ways.
    for (const reverse of [false, true]) {
      const all = [];
      let cursor;
      for (let page = 0; page < 20; page++) {
        const it = kv.list({ prefix: ["ord"] }, { limit: 5, reverse, cursor });
        let n = 0;
        for await (const e of it) { all.push(show(e.key)); n++; }
        if (n < 5) break;
        cursor = it.cursor;
      }
      assert.deepEqual(all, await keysOf(local, { prefix: ["ord"] }, { reverse }), `cursor pages, reverse=${reverse}`);
    }
  },

  // prefix: [] lists the whole database (only it: no other namespace).
  async wholeDatabase({ open, base, ns, tokens }) {
    const db = await open(`${base}/kv/${ns}_all`, tokens.admin);
    try {
      await setAll(db, [[["z"], 1], [["a", 1], 2], [[1n], 3], [[true], 4]]);
      const keys = await keysOf(db, { prefix: [] });
      assert.deepEqual(keys, [show(["a", 1]), show(["z"]), show([1n]), show([true])]);
      assert.deepEqual(await keysOf(db, { prefix: [] }, { reverse: true, limit: 2 }), [show([true]), show([1n])]);
    } finally {
      db.close();
    }
  },

  async atomicChecks({ kv }) {
    const k = ["chk", "a"];
    let r = await kv.atomic().check({ key: k, versionstamp: null }).set(k, 1).commit();
    assert.equal(r.ok, true, "null check on an absent key");
    const vs = r.versionstamp;
    r = await kv.atomic().check({ key: k, versionstamp: null }).set(k, 2).commit();
    assert.equal(r.ok, false, "null check on a present key");
    r = await kv.atomic().check({ key: k, versionstamp: "00000000000000010000" }).set(k, 2).commit();
    assert.equal(r.ok, false, "wrong versionstamp");
    r = await kv.atomic().check({ key: k, versionstamp: "ffffffffffffffffffff" }).set(k, 2).commit();
    assert.equal(r.ok, false, "impossible versionstamp");
    assert.equal((await kv.get(k)).value, 1, "failed checks wrote nothing");
    r = await kv.atomic().check({ key: k, versionstamp: vs }).check({ key: ["chk", "b"], versionstamp: null })
      .set(k, 3).set(["chk", "b"], "b").delete(["chk", "c"]).commit();
    assert.equal(r.ok, true, "right versionstamp");
    const [a, b] = await kv.getMany([k, ["chk", "b"]]);
    assert.deepEqual([a.value, b.value], [3, "b"]);
    assert.equal(a.versionstamp <= r.versionstamp && b.versionstamp <= r.versionstamp, true);
  },

  async sumMinMax({ kv, KvU64 }) {
    const k = ["cnt", "hits"];
    await kv.atomic().sum(k, 5n).commit();
    await kv.atomic().sum(k, 7n).sum(k, 1n).commit();
    let v = (await kv.get(k)).value;
    assert.ok(v instanceof KvU64);
    assert.equal(v.value, 13n);
    await kv.atomic().sum(k, 2n ** 64n - 1n).commit(); // wraps around
    assert.equal((await kv.get(k)).value.value, 12n);
    await kv.atomic().min(k, 4n).commit();
    assert.equal((await kv.get(k)).value.value, 4n);
    await kv.atomic().max(k, 9n).commit();
    assert.equal((await kv.get(k)).value.value, 9n);
    await kv.atomic().max(["cnt", "fresh"], 3n).commit();
    assert.equal((await kv.get(["cnt", "fresh"])).value.value, 3n);
    await kv.set(["cnt", "text"], "not a number");
    for (const op of ["sum", "min", "max"]) {
      await assert.rejects(kv.atomic()[op](["cnt", "text"], 1n).commit(), /non-U64 value in the database/, op);
    }
    assert.equal((await kv.get(["cnt", "text"])).value, "not a number", "a failed sum wrote nothing");
    await kv.set(["cnt", "u"], new KvU64(1n));
    assert.equal((await kv.get(["cnt", "u"])).value.value, 1n);
  },

  async expireIn({ kv }) {
    await kv.set(["ttl", "short"], "x", { expireIn: 1500 });
    await kv.set(["ttl", "long"], "y", { expireIn: 60_000 });
    assert.equal((await kv.get(["ttl", "short"])).value, "x");
    await sleep(1800);
    assert.equal((await kv.get(["ttl", "short"])).value, null, "expired");
    assert.equal((await kv.get(["ttl", "long"])).value, "y");
    assert.deepEqual(await keysOf(kv, { prefix: ["ttl"] }), [show(["ttl", "long"])]);
  },

  // watch: changes by this client and by another face (the HTTP API).
  async watch({ kv, api, ns }) {
    await kv.set(["w", "a"], 0);
    const stream = kv.watch([["w", "a"], ["w", "b"]]);
    const reader = stream.getReader();
    try {
      const next = async (pred, what) => {
        for (let i = 0; i < 20; i++) {
          const { value, done } = await Promise.race([reader.read(), sleep(5000).then(() => { throw new Error(`no watch event: ${what}`); })]);
          assert.equal(done, false);
          if (pred(value)) return value;
        }
        throw new Error(`watch: ${what} never seen`);
      };
      const first = await next(() => true, "initial");
      assert.deepEqual(first.map((e) => e.value), [0, null]);
      await kv.set(["w", "b"], "from-kv");
      await next((v) => v[1].value === "from-kv", "a set through KV Connect");
      const key = encodeURIComponent(JSON.stringify(["w", "a"]));
      const res = await api("PUT", `/v1/store/${ns}/${key}`, { data: { via: "http" } });
      assert.equal(res.status, 200, await res.text());
      const ev = await next((v) => v[0].value?.via === "http", "a write through the HTTP API");
      assert.equal(ev[1].value, "from-kv");
      await kv.delete(["w", "b"]);
      await next((v) => v[1].value === null && v[1].versionstamp === null, "a delete");
    } finally {
      await reader.cancel();
    }
  },

  // Values of every type round-trip exactly.
  async values({ kv, KvU64 }) {
    const shared = { x: 1 };
    const values = [
      null, true, false, 0, -1, 1.5, 2 ** 53, -0, NaN, Infinity, -Infinity, 2 ** 31,
      "", "héllo", "日本", "\ud800 lone", "a\u0000b",
      0n, 123n, -(2n ** 70n),
      [1, "a", [null, { b: [] }]], { a: 1, b: { c: [1, 2] }, "": "empty key", "1": "index" },
      [1, , 3], Object.assign([1, 2], { extra: true }),
      new Date(0), new Date(1700000000123), /ab+c/gi,
      new Map([[1, { a: 1 }], ["k", [2]], [{ o: 1 }, new Set([1])]]), new Set([1, "a", 2n]),
      new Uint8Array([1, 2, 3]), new Uint8Array([]), new Uint16Array([1, 65535]), new Int8Array([-1, 127]),
      new Float64Array([1.5, -0, NaN]), new BigInt64Array([-1n, 2n ** 62n]), new Float32Array([0.5]),
      { nested: new Uint8Array([9]), when: new Date(5), big: 5n, und: undefined },
      new KvU64(42n), new KvU64(2n ** 64n - 1n),
      { a: shared, b: shared },
      new String("boxed"), new Number(7), new Boolean(false),
    ];
    for (let i = 0; i < values.length; i++) {
      const k = ["val", i];
      await kv.set(k, values[i]);
      const got = (await kv.get(k)).value;
      assert.deepStrictEqual(got, values[i], `value #${i}`);
    }
    const refs = (await kv.get(["val", values.length - 4])).value;
    assert.equal(refs.a, refs.b, "a repeated reference stays one object");
    await kv.set(["val", "undefined"], undefined);
    const u = await kv.get(["val", "undefined"]);
    assert.equal(u.value, undefined);
    assert.notEqual(u.versionstamp, null);
  },

  // What Deno writes is plain JSON to flowkv's HTTP API, and the reverse.
  async crossFace({ kv, api, ns }) {
    const path = (k) => `/v1/store/${ns}/${encodeURIComponent(JSON.stringify(k))}`;
    await kv.set(["xf", "user", 1], { name: "Ada", tags: ["a"], admin: false, score: 1.5 });
    let res = await api("GET", path(["xf", "user", 1]));
    assert.equal(res.status, 200);
    const e = await res.json();
    assert.deepEqual(e.data, { admin: false, name: "Ada", score: 1.5, tags: ["a"] });
    assert.equal(e.name, ns);
    res = await api("GET", `/v1/store/${ns}?prefix=${encodeURIComponent(JSON.stringify(["xf", "user"]))}`);
    assert.deepEqual((await res.json()).items.map((e) => e.data.name), ["Ada"], "list by a Deno key prefix");
    res = await api("POST", path(["xf", "from-http"]), { data: { total: 12, items: [{ sku: "x" }], note: null } });
    assert.equal(res.status, 201, await res.text());
    assert.deepEqual((await kv.get(["xf", "from-http"])).value, { total: 12, items: [{ sku: "x" }], note: null });
    await kv.set(["xf", "map"], new Map([["a", 1]]));
    res = await api("GET", path(["xf", "map"]));
    const w = (await res.json()).data;
    assert.equal(w.$denokv.type, "Map");
    assert.equal(w.$denokv.text, 'Map(1) {"a" => 1}');
    await kv.atomic().sum(["xf", "n"], 3n).commit();
    res = await api("GET", path(["xf", "n"]));
    assert.equal((await res.json()).data.$denokv.u64, "3");
    // A JavaScript script reads what this client wrote, by the same key,
    // and writes what the client then reads.
    const source = `
      const e = await dataStore.findNameKey(${JSON.stringify(ns)}, ["xf", "user", 1]);
      await dataStore.upsert(${JSON.stringify(ns)}, ["xf", "from-js"], {seen: e.data.name, n: 2});
      return e.data;`;
    res = await api("POST", "/v1/operations/scripts", { source });
    const text = await res.text();
    assert.equal(res.status, 200, text);
    assert.deepEqual(JSON.parse(text), { admin: false, name: "Ada", score: 1.5, tags: ["a"] });
    assert.deepEqual((await kv.get(["xf", "from-js"])).value, { seen: "Ada", n: 2 });
  },

  // A JavaScript script's kv (the database default) and openKv(name) are
  // the databases this client opens: what a script sets, the client gets,
  // and the reverse, with the same keys, versionstamps, order and cursors.
  async scriptKV({ kv, open, api, base, ns, tokens, KvU64 }) {
    const script = async (source, token = tokens.admin) => {
      const res = await api("POST", "/v1/operations/scripts", { source, input: { ns } }, token);
      const text = await res.text();
      assert.equal(res.status, 200, text);
      return JSON.parse(text);
    };
    // The script writes, the client reads.
    const wrote = await script(`
      const db = await openKv(input.ns);
      const r = await db.set(["users", "1"], {name: "Ada", email: "ada@example.com", tags: ["a"]});
      await kv.set(["users", input.ns], {from: "script", n: 1.5});
      await db.atomic().sum(["users", "count"], 2n).commit();
      await db.set(["users", "big"], new KvU64(18446744073709551615n));
      await db.set(["users", 7], "seven", {expireIn: 3600000});
      return r;`);
    assert.equal(wrote.ok, true);
    const one = await kv.get(["users", "1"]);
    assert.deepEqual(one.value, { name: "Ada", email: "ada@example.com", tags: ["a"] });
    assert.equal(one.versionstamp, wrote.versionstamp, "the script's versionstamp is the client's");
    const count = (await kv.get(["users", "count"])).value;
    assert.ok(count instanceof KvU64, "a script's sum(key, 2n) is a KvU64");
    assert.equal(count.value, 2n);
    assert.equal((await kv.get(["users", 7])).value, "seven");
    const big = (await kv.get(["users", "big"])).value;
    assert.ok(big instanceof KvU64 && big.value === 18446744073709551615n, "a script's new KvU64(…) is a KvU64");
    const def = await open(`${base}/kv`, tokens.admin);
    try {
      assert.deepEqual((await def.get(["users", ns])).value, { from: "script", n: 1.5 }, "kv is the database default");
    } finally {
      def.close();
    }
    // The client writes, the script reads by get and list.
    await kv.set(["users", "2"], { name: "Bob" });
    await kv.set(["users", 10], { name: "Ten" });
    await kv.atomic().sum(["users", "count"], 3n).commit();
    const mine = [];
    for await (const e of kv.list({ prefix: ["users"] })) mine.push([e.key, e.versionstamp]);
    const it = kv.list({ prefix: ["users"] }, { limit: 2 });
    for await (const _ of it) { /* the first page */ }
    const rest = [];
    for await (const e of kv.list({ prefix: ["users"] }, { cursor: it.cursor })) rest.push(e.key);
    const read = await script(`
      const db = await openKv(input.ns);
      const list = [];
      for await (const e of db.list({prefix: ["users"]})) list.push([e.key, e.versionstamp]);
      const rev = [];
      for await (const e of db.list({prefix: ["users"]}, {reverse: true, limit: 2})) rev.push(e.key);
      const rest = [];
      for await (const e of db.list({prefix: ["users"]}, {cursor: input.cursor})) rest.push(e.key);
      const bob = await db.get(["users", "2"]);
      const count = (await db.get(["users", "count"])).value;
      return {bob: bob.value, list, rev, rest, count: String(count.value), u64: count instanceof KvU64};`.replace("input.cursor", JSON.stringify(it.cursor)));
    assert.deepEqual(read.bob, { name: "Bob" });
    assert.deepEqual(read.list, mine, "the script lists what the client lists, in the same order, with the same versionstamps");
    assert.deepEqual(read.list.map((e) => e[0]), [["users", "1"], ["users", "2"], ["users", "big"], ["users", "count"], ["users", 7], ["users", 10]],
      "Deno's order: strings, then numbers by value");
    assert.deepEqual(read.rev, mine.slice(-2).reverse().map((e) => e[0]));
    assert.deepEqual(read.rest, rest, "a cursor from the client continues the same listing in a script");
    assert.equal(read.count, "5");
    assert.equal(read.u64, true, "a KvU64 the client summed is a KvU64 in the script");
    // Grants: a users:read token runs a stored script that can open and
    // read users, but cannot open orders nor write users.
    const put = async (name, source) => {
      const res = await api("PUT", `/v1/scripts/${name}`, { source });
      assert.equal(res.status, 200, await res.text());
    };
    const admin = await open(`${base}/kv/users`, tokens.admin);
    await admin.set(["users", "1"], { name: "Ada" });
    admin.close();
    await put(`kv-read-${ns}`, `return (await (await openKv("users")).get(["users", "1"])).value`);
    await put(`kv-orders-${ns}`, `return await (await openKv("orders")).get(["o", "1"])`);
    await put(`kv-write-${ns}`, `return await (await openKv("users")).set(["users", "2"], {name: "Mallory"})`);
    const runAs = (name) => api("POST", "/v1/operations/scripts", { script: name }, tokens.usersRead);
    let res = await runAs(`kv-read-${ns}`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { name: "Ada" });
    for (const name of [`kv-orders-${ns}`, `kv-write-${ns}`]) {
      res = await runAs(name);
      const text = await res.text();
      assert.equal(res.status, 403, text);
      assert.match(text, /access_denied/);
    }
  },

  // A users:read token reads /kv/users, cannot write it, cannot open /kv/orders.
  async grants({ open, base, tokens, kv }) {
    const admin = await open(`${base}/kv/users`, tokens.admin);
    await admin.set(["users", "1"], { name: "Ada" });
    admin.close();
    const ro = await open(`${base}/kv/users`, tokens.usersRead);
    try {
      assert.deepEqual((await ro.get(["users", "1"])).value, { name: "Ada" });
      await assert.rejects(ro.set(["users", "2"], {}), /403|access_denied/);
      await assert.rejects(ro.atomic().sum(["users", "n"], 1n).commit(), /403|access_denied/);
      assert.equal((await ro.get(["users", "2"])).value, null);
    } finally {
      ro.close();
    }
    await assert.rejects(open(`${base}/kv/orders`, tokens.usersRead), /403|access_denied|no grant/);
    await assert.rejects(open(`${base}/kv/users`, "fkv_not-a-token-at-all-00000000"), /401|unauthenticated/);
    assert.ok(kv);
  },
};

// run runs the named scenarios (all when none), printing one TAP-like line
// each; it returns the number that failed.
export async function run(t, only) {
  let failed = 0;
  for (const [name, fn] of Object.entries(scenarios)) {
    if (only.length && !only.includes(name)) continue;
    const start = Date.now();
    try {
      await fn(t);
      console.log(`ok - ${name} (${Date.now() - start} ms)`);
    } catch (e) {
      failed++;
      console.log(`not ok - ${name}: ${(e && e.stack) || e}`);
    }
  }
  return failed;
}
