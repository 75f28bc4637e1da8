// A small client of flowkv's store routes typed only by the types that
// openapi-typescript generates from /v1/openapi.json (api.d.ts, made by
// TestOpenAPITypeScriptClient). tsc type-checks it; node runs it against a
// real server (FLOWKV_URL, FLOWKV_TOKEN) and it exits non-zero on any
// answer that differs from what the document promises.
import type { components, paths } from "./api";

// The two Node globals the client uses (no @types/node needed).
declare const process: { env: Record<string, string | undefined>; exit(code: number): never };

type Entry = components["schemas"]["Entry"];
type Page = components["schemas"]["Page"];
type ApiError = components["schemas"]["Error"];
type ErrorCode = ApiError["error"]["code"];
type EntryOps = paths["/v1/store/{name}/{key}"];
type WriteBody = EntryOps["put"]["requestBody"]["content"]["application/json"];
type ListQuery = NonNullable<paths["/v1/store/{name}"]["get"]["parameters"]["query"]>;
type Deleted = EntryOps["delete"]["responses"][200]["content"]["application/json"];

const base = process.env.FLOWKV_URL ?? "";
const token = process.env.FLOWKV_TOKEN ?? "";

type Answer<T> = { status: number; ok: true; body: T } | { status: number; ok: false; body: ApiError };

async function call<T>(method: string, path: string, body?: WriteBody, headers: Record<string, string> = {}): Promise<Answer<T>> {
  const init: RequestInit = { method, headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json", ...headers } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
  }
  const r = await fetch(base + path, init);
  const json: unknown = await r.json();
  return r.ok ? { status: r.status, ok: true, body: json as T } : { status: r.status, ok: false, body: json as ApiError };
}

const entryPath = (p: EntryOps["put"]["parameters"]["path"]) =>
  `/v1/store/${encodeURIComponent(p.name)}/${encodeURIComponent(p.key)}`;

function list(name: string, q: ListQuery): Promise<Answer<Page>> {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) {
    if (v !== undefined) qs.set(k, String(v));
  }
  return call<Page>("GET", `/v1/store/${encodeURIComponent(name)}?${qs}`);
}

function expect(what: string, cond: boolean, got: unknown): void {
  if (!cond) {
    console.error(`${what}: got ${JSON.stringify(got)}`);
    process.exit(1);
  }
}

function expectError<T>(what: string, a: Answer<T>, status: number, code: ErrorCode): void {
  expect(what, !a.ok && a.status === status && a.body.error.code === code && a.body.error.message !== "", a);
}

async function main(): Promise<void> {
  const addr = { name: "ts orders", key: "o/1" };
  const put = await call<Entry>("PUT", entryPath(addr), { data: { total: 12 }, timeoutUnit: "days", timeoutValue: 7 });
  expect("upsert", put.ok && put.body.name === addr.name && put.body.key === addr.key && put.body.version > 0 && put.body.expiresAt !== null, put);
  if (!put.ok) return;

  const got = await call<Entry>("GET", entryPath(addr));
  expect("findNameKey", got.ok && JSON.stringify(got.body.data) === '{"total":12}' && got.body.version === put.body.version, got);

  expectError("insert of a present key", await call<Entry>("POST", entryPath(addr), { data: 1 }), 409, "already_exists");
  expectError("stale If-Match", await call<Entry>("PUT", entryPath(addr), { data: 2 }, { "If-Match": String(put.body.version + 100) }), 409, "conflict");
  expectError("missing entry", await call<Entry>("GET", entryPath({ name: addr.name, key: "absent" })), 404, "not_found");

  const page = await list(addr.name, { prefix: "o/", limit: 10 });
  expect("list", page.ok && page.body.items.length === 1 && page.body.items[0]?.key === addr.key && page.body.nextCursor === "", page);

  const del = await call<Deleted>("DELETE", entryPath(addr));
  expect("delete", del.ok && del.body.deleted === true, del);

  const anon = await fetch(base + entryPath(addr));
  const anonBody = (await anon.json()) as ApiError;
  expect("without a token", anon.status === 401 && anonBody.error.code === "unauthenticated", anonBody);
  console.log("ok");
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
