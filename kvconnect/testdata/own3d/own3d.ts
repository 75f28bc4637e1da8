// The OWN3D Key-Value Store example (shared/seeds/own3d-key-value-store.md)
// as written there, run by Deno with only its connect(...) line replaced
// by Deno.openKv (the token comes from DENO_KV_ACCESS_TOKEN). The lines
// after "---- driver ----" call it and print what it did.

const kv = await Deno.openKv(Deno.env.get("KV_URL"));

interface User {
    name: string;
    email: string;
}

{
const key = ['users', '1'];
const value: User = {name: 'GhostZero', email: 'example@example.com'};
await kv.set(key, value);
}

{
const key = ['users', '1'];
const entry = await kv.get<User>(key);

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
const value: User = {name: 'GhostZero', email: 'example@example.com'};

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

async function saveUser(user: User) {
    const key = ['users', user.id];

    // set the primary key
    const r = await kv.set(key, user);

    // set the secondary key's value to be the primary key
    await kv.set(['users_by_email', user.email], key);

    return r;
}

async function getById(id) {
    // use as usual
    return await kv.get<User>(['users', id]);
}

async function getByEmail(email) {
    // lookup the primary key by the secondary key
    const r1 = await kv.get<array[]>(['users_by_email', email]);
    const r2 = await kv.get<User>(r1.value);
    return r2;
}

// ---- driver ----
const saved = await saveUser({id: '2', name: 'Ada', email: 'ada@example.com'} as User);
const byId = await getById('2');
const byEmail = await getByEmail('ada@example.com');
await kv.delete(['users', '3']);
const again = await kv.atomic().check({key: ['users', '3'], versionstamp: null}).set(['users', '3'], {name: 'Grace', email: 'grace@example.com'}).commit();
const twice = await kv.atomic().check({key: ['users', '3'], versionstamp: null}).set(['users', '3'], {name: 'Nobody', email: 'x'}).commit();
console.log(JSON.stringify({saved: saved.ok, byId: byId.value, byEmail: byEmail.value, created: again.ok, createdTwice: twice.ok,
    user1: (await getById('1')).value, grace: (await getById('3')).value}));
kv.close();
