// Runs scenarios.mjs in Deno with Deno.openKv. Environment as
// node_runner.mjs; the access token is DENO_KV_ACCESS_TOKEN, as Deno reads it.
import { run } from "./scenarios.mjs";

const env = Deno.env.toObject();
const open = async (url: string, token: string) => {
  // Deno.openKv reads the token from the environment when it opens.
  Deno.env.set("DENO_KV_ACCESS_TOKEN", token);
  try {
    return await Deno.openKv(url);
  } finally {
    Deno.env.set("DENO_KV_ACCESS_TOKEN", env.KV_TOKEN);
  }
};
const kv = await open(`${env.KV_BASE}/kv/${env.KV_NS}`, env.KV_TOKEN);
const local = await Deno.openKv(env.KV_LOCAL);
const api = (method: string, path: string, body?: unknown, token = env.KV_TOKEN) =>
  fetch(env.KV_BASE + path, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
const failed = await run({
  kv, local, open, KvU64: Deno.KvU64, api, base: env.KV_BASE, ns: env.KV_NS, quick: env.KV_QUICK === "1",
  tokens: { admin: env.KV_TOKEN, usersRead: env.KV_TOKEN_USERS_READ },
}, Deno.args);
kv.close();
local.close();
Deno.exit(failed ? 1 : 0);
