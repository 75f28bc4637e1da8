// Runs scenarios.mjs with Node and @deno/kv. Environment: FLOWKV_TEST_DENO_NODE
// (node_modules holding @deno/kv), KV_BASE (http://127.0.0.1:PORT), KV_NS,
// KV_TOKEN, KV_TOKEN_USERS_READ, KV_LOCAL (a file for the local Deno KV);
// arguments: scenario names (none: all).
import { pathToFileURL } from "node:url";
import { run } from "./scenarios.mjs";

const mod = await import(pathToFileURL(`${process.env.FLOWKV_TEST_DENO_NODE}/@deno/kv/esm/npm.js`).href);
const { openKv, KvU64 } = mod;
const env = process.env;
const open = (url, accessToken) => openKv(url, { accessToken, maxRetries: 0 });
const kv = await open(`${env.KV_BASE}/kv/${env.KV_NS}`, env.KV_TOKEN);
const local = await openKv(env.KV_LOCAL);
const api = (method, path, body, token = env.KV_TOKEN) =>
  fetch(env.KV_BASE + path, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
const failed = await run({
  kv, local, open, KvU64, api, base: env.KV_BASE, ns: env.KV_NS, quick: env.KV_QUICK === "1",
  tokens: { admin: env.KV_TOKEN, usersRead: env.KV_TOKEN_USERS_READ },
}, process.argv.slice(2));
kv.close();
local.close();
process.exit(failed ? 1 : 0);
