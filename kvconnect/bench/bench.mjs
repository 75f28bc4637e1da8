// Deno KV throughput: get, set and atomic (check + set) with one client,
// sequential (one request in flight) and with 16 in flight, against
//   remote  flowkv's KV Connect endpoint (@deno/kv in Node, or Deno.openKv),
//   local   Deno KV's own SQLite, in-process (@deno/kv's native module in
//           Node, Deno.openKv(file) in Deno),
//   http    flowkv's HTTP API with fetch (GET/PUT /v1/store, POST /v1/atomic).
// Usage: node bench.mjs MODE  |  deno run -A --unstable-kv bench.mjs MODE
// Env: FLOWKV_TEST_DENO_NODE, KV_BASE, KV_TOKEN, KV_LOCAL, N (ops per case).
const isDeno = typeof Deno !== "undefined";
const env = isDeno ? Deno.env.toObject() : process.env;
const mode = isDeno ? Deno.args[0] : process.argv[2];
const N = Number(env.N || 2000);

async function openRemote(url) {
  if (isDeno) return await Deno.openKv(url);
  const { openKv } = await import(`file://${env.FLOWKV_TEST_DENO_NODE}/@deno/kv/esm/npm.js`);
  return await openKv(url, { accessToken: env.KV_TOKEN });
}
async function openLocal(path) {
  if (isDeno) return await Deno.openKv(path);
  const { openKv } = await import(`file://${env.FLOWKV_TEST_DENO_NODE}/@deno/kv/esm/npm.js`);
  return await openKv(path);
}

function kvOps(kv) {
  return {
    set: (i) => kv.set(["bench", i % 1000], { n: i, name: "user " + i }),
    get: (i) => kv.get(["bench", i % 1000]),
    atomic: async (i) => {
      const k = ["acct", i % 1000];
      const cur = await kv.get(k);
      return kv.atomic().check(cur).set(k, { n: i }).commit();
    },
  };
}

function httpOps(base, token) {
  const h = { authorization: `Bearer ${token}`, "content-type": "application/json" };
  const path = (i) => `${base}/v1/store/bench/k${i % 1000}`;
  const ok = async (r) => { if (r.status >= 300 && r.status !== 409) throw new Error(`${r.status} ${await r.text()}`); await r.arrayBuffer(); };
  return {
    set: async (i) => ok(await fetch(path(i), { method: "PUT", headers: h, body: JSON.stringify({ data: { n: i, name: "user " + i } }) })),
    get: async (i) => ok(await fetch(path(i), { headers: h })),
    atomic: async (i) => {
      const r = await fetch(`${base}/v1/store/bench/a${i % 1000}`, { headers: h });
      const version = r.status === 200 ? (await r.json()).version : (await r.arrayBuffer(), 0);
      await ok(await fetch(`${base}/v1/atomic`, { method: "POST", headers: h, body: JSON.stringify({
        checks: [{ name: "bench", key: `a${i % 1000}`, version }],
        mutations: [{ op: "set", name: "bench", key: `a${i % 1000}`, data: { n: i } }],
      }) }));
    },
  };
}

async function run(fn, n, inflight) {
  let next = 0;
  const start = performance.now();
  await Promise.all(Array.from({ length: inflight }, async () => {
    while (next < n) await fn(next++);
  }));
  return n / ((performance.now() - start) / 1000);
}

let ops, close = () => {};
if (mode === "remote") {
  const kv = await openRemote(`${env.KV_BASE}/kv/bench`);
  ops = kvOps(kv); close = () => kv.close();
} else if (mode === "local") {
  const kv = await openLocal(env.KV_LOCAL);
  ops = kvOps(kv); close = () => kv.close();
} else {
  ops = httpOps(env.KV_BASE, env.KV_TOKEN);
}
const out = {};
for (const op of ["set", "get", "atomic"]) {
  await run(ops[op], Math.min(200, N), 1); // warm up (and create the keys)
  out[`${op} x1`] = Math.round(await run(ops[op], N, 1));
  out[`${op} x16`] = Math.round(await run(ops[op], N, 16));
}
close();
console.log(JSON.stringify(out));
