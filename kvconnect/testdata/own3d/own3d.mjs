// The OWN3D Key-Value Store example (shared/seeds/own3d-key-value-store.md)
// as written there with its TypeScript types taken out, run by Node with
// @deno/kv and only its connect(...) line replaced by openKv(url, {accessToken}).
// The lines after "---- driver ----" call it and print what it did.

import { openKv } from "@deno/kv"; const kv = await openKv(process.env.KV_URL, { accessToken: process.env.KV_TOKEN });

// interface User { name: string; email: string; }  (a TypeScript type)

{
const key = ['users', '1'];
const value = {name: 'GhostZero', email: 'example@example.com'};
await kv.set(key, value);
}

{
const key = ['users', '1'];
const entry = await kv.get(key);

console.log(entry.key);
console.log(entry.value);
console.log(entry.version);
}

{
const key = ['users', '1'];
await kv.delete(key);
}

{
const key = ['users', '1'];
const value = {name: 'GhostZero', email: 'example@example.com'};

const res = kv.atomic()
    .check({key, version: null /* or a version */})
    .set(key, value)
    .commit();

if (res.ok) {
    console.log('Entry did not exist and was created');
} else {
    console.log('Entry already exist. No changes were made');
}
}

async function saveUser(user) {
    const key = ['users', user.id];

    // set the primary key
    const r = await kv.set(key, user);

    // set the secondary key's value to be the primary key
    await kv.set(['users_by_email', user.email], key);

    return r;
}

async function getById(id) {
    // use as usual
    return await kv.get(['users', id]);
}

async function getByEmail(email) {
    // lookup the primary key by the secondary key
    const r1 = await kv.get(['users_by_email', email]);
    const r2 = await kv.get(r1.value);
    return r2;
}

// ---- driver ----
const saved = await saveUser({id: '2', name: 'Ada', email: 'ada@example.com'});
const byId = await getById('2');
const byEmail = await getByEmail('ada@example.com');
await kv.delete(['users', '3']);
const again = await kv.atomic().check({key: ['users', '3'], versionstamp: null}).set(['users', '3'], {name: 'Grace', email: 'grace@example.com'}).commit();
const twice = await kv.atomic().check({key: ['users', '3'], versionstamp: null}).set(['users', '3'], {name: 'Nobody', email: 'x'}).commit();
console.log(JSON.stringify({saved: saved.ok, byId: byId.value, byEmail: byEmail.value, created: again.ok, createdTwice: twice.ok,
    user1: (await getById('1')).value, grace: (await getById('3')).value}));
kv.close();
