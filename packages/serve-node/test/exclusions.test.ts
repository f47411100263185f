import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { trainItemsOf } from '@derrd/core';
import { createServer, type RecommendServer } from '@derrd/serve-node';
import { makeFixture, type Fixture } from './fixtures.js';

let f: Fixture;
let withData: RecommendServer;
let bare: RecommendServer;
const options = { provider: 'cpu' as const, threads: 1, workers: 1, maxK: 1000 };

before(async () => {
  f = await makeFixture('exclusions');
  withData = await createServer({ ...options, model: f.models[0], data: f.dataDir });
  bare = await createServer({ ...options, model: f.models[0] });
});

after(async () => {
  await withData?.close();
  await bare?.close();
});

type Item = { item: string; score: number | null };
const get = async (s: RecommendServer, url: string) => {
  const r = await s.app.inject({ method: 'GET', url });
  return { status: r.statusCode, body: r.json() };
};
const post = async (s: RecommendServer, payload: unknown) => {
  const r = await s.app.inject({ method: 'POST', url: '/v1/recommend', payload: payload as Record<string, unknown> });
  return { status: r.statusCode, body: r.json() };
};
const ids = (items: Item[]) => items.map((i) => i.item);
const seenOf = (rawUser: string) => new Set(Array.from(trainItemsOf(f.ds, f.ds.userIds.dense(rawUser)!), (i) => f.ds.itemIds.rawId(i)));

test('GET &exclude=a,b is honoured: the excluded items are gone and the rest of the ranking moves up', async () => {
  const plain = await get(bare, '/v1/recommend?user=3&k=6');
  assert.equal(plain.status, 200);
  const [a, b] = ids(plain.body.items);
  const r = await get(bare, `/v1/recommend?user=3&k=4&exclude=${encodeURIComponent(`${a},${b}`)}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(ids(r.body.items), ids(plain.body.items).slice(2, 6));
  // the parameter may also repeat
  const repeated = await get(bare, `/v1/recommend?user=3&k=4&exclude=${encodeURIComponent(a)}&exclude=${encodeURIComponent(b)}`);
  assert.deepEqual(ids(repeated.body.items), ids(plain.body.items).slice(2, 6));
});

test('POST "exclude": [...] is honoured for every user of the request', async () => {
  const plain = await post(bare, { users: ['3', '5'], k: 5 });
  const drop = [plain.body.results[0].items[0].item, plain.body.results[1].items[0].item];
  const r = await post(bare, { users: ['3', '5'], k: 5, exclude: drop });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  for (const result of r.body.results) {
    assert.equal(result.items.length, 5);
    for (const d of drop) assert.ok(!ids(result.items).includes(d), `${d} came back for user ${result.user}`);
  }
});

test('with --data, seen items are excluded by default; exclude_seen=false includes them', async () => {
  const user = '7';
  const seen = seenOf(user);
  const k = f.ds.numItems;
  const byDefault = await get(withData, `/v1/recommend?user=${user}&k=20`);
  assert.equal(byDefault.status, 200);
  assert.ok(ids(byDefault.body.items).every((i) => !seen.has(i)), 'a seen item came back by default');
  const included = await get(withData, `/v1/recommend?user=${user}&k=${k}&exclude_seen=false`);
  assert.equal(included.body.items.length, k);
  assert.ok(ids(included.body.items).some((i) => seen.has(i)));
  const posted = await post(withData, { users: [user], k: 20 });
  assert.ok(ids(posted.body.results[0].items).every((i) => !seen.has(i)));
});

test('k larger than what is left after exclusions: fewer items, never an excluded item, never a null score', async () => {
  const user = '7';
  const seen = seenOf(user);
  const k = f.ds.numItems;
  const r = await get(withData, `/v1/recommend?user=${user}&k=${k}&exclude_seen=true`);
  assert.equal(r.status, 200);
  assert.equal(r.body.items.length, k - seen.size);
  assert.ok(r.body.items.every((i: Item) => typeof i.score === 'number' && Number.isFinite(i.score)));
  assert.ok(ids(r.body.items).every((i) => !seen.has(i)));
  // seen items plus explicit exclusions, and a batch of users with different seen sets
  const extra = ids(r.body.items).slice(0, 3);
  const both = await get(withData, `/v1/recommend?user=${user}&k=${k}&exclude=${extra.join(',')}`);
  assert.equal(both.body.items.length, k - seen.size - 3);
  const many = await post(withData, { users: ['1', '2', '3', '4'], k });
  for (const result of many.body.results) {
    const s = seenOf(result.user);
    assert.equal(result.items.length, k - s.size);
    assert.ok(result.items.every((i: Item) => !s.has(i.item) && Number.isFinite(i.score)));
  }
  // excluding every item leaves an empty list, not excluded items
  const all = f.ds.itemIds.rawIds();
  const none = await post(bare, { users: ['1'], k: 5, exclude: all });
  assert.equal(none.status, 200);
  assert.deepEqual(none.body.results[0].items, []);
});

test('bad exclusions: unknown or malformed item ids and too many are refused with a 400', async () => {
  const unknown = await get(bare, '/v1/recommend?user=3&exclude=no-such-item');
  assert.equal(unknown.status, 400);
  assert.match(unknown.body.error.message, /unknown item "no-such-item" in exclude/);
  const empty = await get(bare, '/v1/recommend?user=3&exclude=,');
  assert.equal(empty.status, 400);
  assert.match(empty.body.error.message, /exclude: item id "" is not a raw id/);
  const notArray = await post(bare, { users: ['3'], exclude: 'a,b' });
  assert.equal(notArray.status, 400);
  assert.match(notArray.body.error.message, /exclude must be an array of raw item ids/);
  const tooMany = await post(bare, { users: ['3'], exclude: Array.from({ length: 1001 }, (_v, k) => String(k)) });
  assert.equal(tooMany.status, 400);
  assert.match(tooMany.body.error.message, /1001 items in exclude; the limit is 1000/);
});

test('cold start honours exclude too', async () => {
  const s = await createServer({ ...options, model: f.models[0], data: f.dataDir, coldStart: 'popular' });
  try {
    const plain = await get(s, '/v1/recommend?user=4000&k=5');
    assert.equal(plain.body.coldStart, true);
    const first = plain.body.items[0].item;
    const r = await get(s, `/v1/recommend?user=4000&k=5&exclude=${first}`);
    assert.equal(r.body.items.length, 5);
    assert.ok(!ids(r.body.items).includes(first));
  } finally {
    await s.close();
  }
});
