/**
 * Every answer the server gives, batched or not, against the runtime: each user's list must be what a single-user
 * `recommend()` of the same model gives for that user with the same exclusions (same ids, same order, same scores
 * within float tolerance). The fixture's raw ids are shuffled `u17`/`i42` names, so a path that skips the raw→dense
 * map, mixes up rows of a batch or applies one request's exclusions to another fails here.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { trainItemsOf } from '@derrd/core';
import { createRecommender, type Recommender } from '@derrd/runtime';
import { createServer, type RecommendServer, type ServeOptions } from '@derrd/serve-node';
import { makeFixture, type Fixture } from './fixtures.js';

let f: Fixture;
let recA: Recommender;
let recB: Recommender;

before(async () => {
  f = await makeFixture('parity', { models: 2, shuffledIds: true });
  recA = await createRecommender(f.models[0], { threads: 1 });
  recB = await createRecommender(f.models[1], { threads: 1 });
});

after(async () => {
  await recA?.close();
  await recB?.close();
});

type Served = { item: string; score: number | null };
interface Ask {
  user: string;
  k: number;
  exclude: string[];
  excludeSeen: boolean;
}

/** Scores are float32 in both paths; a batched matrix product may round differently from a one-row one. */
const TOLERANCE = 1e-5;

const seenOf = (rawUser: string): string[] => Array.from(trainItemsOf(f.ds, f.ds.userIds.dense(rawUser)!), (i) => f.ds.itemIds.rawId(i));

/** The runtime's full ranking for one user alone (k = every item), with the exclusions the server should apply. */
async function reference(rec: Recommender, ask: Ask): Promise<{ items: string[]; scores: number[] }> {
  const excluded = [...new Set([...ask.exclude, ...(ask.excludeSeen ? seenOf(ask.user) : [])])];
  const r = await rec.recommend([ask.user], f.ds.numItems, [excluded]);
  return { items: r.items[0], scores: r.scores[0] };
}

/**
 * The served top-k against the reference ranking: same length, each score within TOLERANCE of the reference's at that
 * position, each id the reference's at that position unless the two are tied within TOLERANCE (then the order of the
 * tie may differ). Returns how many positions differed only by such a tie.
 */
function assertSameRanking(served: Served[], ref: { items: string[]; scores: number[] }, k: number, what: string): number {
  const expected = Math.min(k, ref.items.length);
  assert.equal(served.length, expected, `${what}: ${served.length} items, expected ${expected}`);
  assert.equal(new Set(served.map((s) => s.item)).size, served.length, `${what}: an item twice`);
  const refScore = new Map(ref.items.map((item, c) => [item, ref.scores[c]]));
  let ties = 0;
  for (let c = 0; c < served.length; c++) {
    const { item, score } = served[c];
    assert.equal(typeof score, 'number', `${what}: position ${c} has score ${score}`);
    assert.ok(Math.abs((score as number) - ref.scores[c]) <= TOLERANCE, `${what}: position ${c} score ${score}, runtime ${ref.scores[c]}`);
    if (item === ref.items[c]) continue;
    const own = refScore.get(item);
    assert.ok(own !== undefined && Math.abs(own - ref.scores[c]) <= TOLERANCE, `${what}: position ${c} is ${item}, runtime says ${ref.items[c]} (${JSON.stringify(served.slice(0, c + 1).map((s) => s.item))} vs ${JSON.stringify(ref.items.slice(0, c + 1))})`);
    ties++;
  }
  return ties;
}

const batchRuns = async (s: RecommendServer): Promise<number> =>
  (await s.registry.getSingleMetric('derrd_batch_users')!.get()).values.find((v) => (v as { metricName?: string }).metricName === 'derrd_batch_users_count')?.value ?? 0;

const get = async (s: RecommendServer, ask: Ask) => {
  const q = new URLSearchParams({ user: ask.user, k: String(ask.k), exclude_seen: String(ask.excludeSeen) });
  if (ask.exclude.length > 0) q.set('exclude', ask.exclude.join(','));
  const r = await s.app.inject({ method: 'GET', url: `/v1/recommend?${q}` });
  assert.equal(r.statusCode, 200, r.body);
  const body = r.json() as { model: string; user: string; items: Served[]; coldStart?: boolean };
  assert.equal(body.user, ask.user);
  return body;
};

const post = async (s: RecommendServer, users: string[], k: number, exclude: string[], excludeSeen: boolean) => {
  const r = await s.app.inject({ method: 'POST', url: '/v1/recommend', payload: { users, k, exclude, exclude_seen: excludeSeen } });
  assert.equal(r.statusCode, 200, r.body);
  const body = r.json() as { results: { user: string; items: Served[]; coldStart?: boolean }[] };
  assert.deepEqual(body.results.map((x) => x.user), users, 'POST answers in the order of its users');
  return body.results;
};

/**
 * A burst of GETs and POSTs sent at once: each request a distinct k (so any run shared by two requests mixes k), its
 * own exclusions (one of them also a seen item, so seen and explicit exclusions overlap), exclude_seen on and off.
 */
function burst(users: readonly string[], round: number): { gets: Ask[]; posts: { users: string[]; k: number; exclude: string[]; excludeSeen: boolean }[] } {
  const items = f.ds.itemIds.rawIds();
  const gets: Ask[] = [];
  const posts: { users: string[]; k: number; exclude: string[]; excludeSeen: boolean }[] = [];
  // 16 distinct k in an order where neither the first nor the last request asks for the largest
  const ks = [7, 3, 30, 1, 12, 5, 22, 9, 2, 17, 4, 11, 6, 25, 8, 14];
  let next = 0;
  for (let r = 0; r < 12; r++) {
    const user = users[(r * 7 + round) % users.length];
    const exclude = r % 3 === 0 ? [] : [items[(r * 13 + round) % items.length], items[(r * 29 + 5) % items.length], seenOf(user)[0]];
    gets.push({ user, k: ks[next++], exclude, excludeSeen: r % 2 === 0 });
  }
  for (let r = 0; r < 4; r++) {
    const group = Array.from({ length: 2 + r }, (_v, c) => users[(r * 11 + c * 5 + round) % users.length]);
    posts.push({ users: group, k: ks[next++], exclude: r === 1 ? [] : [items[(r * 17 + 3) % items.length], seenOf(group[0])[1]], excludeSeen: r % 2 === 1 });
  }
  return { gets, posts };
}

/** Sends a burst at once and checks every user of every answer against `rec`; returns the requests and model runs. */
async function checkBurst(s: RecommendServer, rec: Recommender, round: number, label: string): Promise<{ requests: number; runs: number; ties: number }> {
  const { gets, posts } = burst(f.ds.userIds.rawIds(), round);
  const runsBefore = await batchRuns(s);
  const [getAnswers, postAnswers] = await Promise.all([
    Promise.all(gets.map((ask) => get(s, ask))),
    Promise.all(posts.map((p) => post(s, p.users, p.k, p.exclude, p.excludeSeen))),
  ]);
  const runs = (await batchRuns(s)) - runsBefore;
  let ties = 0;
  for (let r = 0; r < gets.length; r++) {
    ties += assertSameRanking(getAnswers[r].items, await reference(rec, gets[r]), gets[r].k, `${label} GET ${JSON.stringify(gets[r])}`);
  }
  for (let r = 0; r < posts.length; r++) {
    const p = posts[r];
    for (let c = 0; c < p.users.length; c++) {
      const ask = { user: p.users[c], k: p.k, exclude: p.exclude, excludeSeen: p.excludeSeen };
      ties += assertSameRanking(postAnswers[r][c].items, await reference(rec, ask), p.k, `${label} POST row ${c} ${JSON.stringify(ask)}`);
    }
  }
  return { requests: gets.length + posts.length, runs, ties };
}

const serveOptions = (workers: number, extra: Partial<ServeOptions> = {}): ServeOptions => ({
  // a batch waits up to 50 ms for company, so the burst shares model runs (mixed k and exclusions in one run)
  model: f.models[0], data: f.dataDir, provider: 'cpu', threads: 1, workers, maxBatch: 64, maxWaitUs: 50_000, deadlineMs: 10_000, ...extra,
});

for (const workers of [0, 1, 2]) {
  test(`workers ${workers}: concurrent GETs and POSTs, batched with mixed k and exclusions, each equal a single-user recommend() of the runtime`, async (t) => {
    const s = await createServer(serveOptions(workers));
    try {
      for (let round = 0; round < 2; round++) {
        const { requests, runs, ties } = await checkBurst(s, recA, round, `workers ${workers} round ${round}`);
        t.diagnostic(`round ${round}: ${requests} requests in ${runs} model runs, ${ties} positions differing only inside a float tie`);
        assert.ok(runs >= 1 && runs < requests, `${requests} requests ran in ${runs} model runs: they did not share runs, so batching was not tested`);
      }
      // one request alone (no batching wait with maxWaitUs 0) gives the same as in a batch
      const alone = await createServer(serveOptions(workers, { maxWaitUs: 0 }));
      try {
        const ask = { user: f.ds.userIds.rawId(11), k: 9, exclude: [f.ds.itemIds.rawId(3)], excludeSeen: true };
        assertSameRanking((await get(alone, ask)).items, await reference(recA, ask), ask.k, `workers ${workers} alone`);
      } finally {
        await alone.close();
      }
    } finally {
      await s.close();
    }
  });
}

test('the fixture\'s raw ids are not the dense ids: a server that skipped the id map would answer for another user', async () => {
  const users = f.ds.userIds.rawIds();
  assert.ok(users.every((u) => /^u\d+$/.test(u)) && f.ds.itemIds.rawIds().every((i) => /^i\d+$/.test(i)));
  const moved = users.filter((u, dense) => u !== `u${dense}`).length;
  assert.ok(moved > users.length * 0.9, `${moved} of ${users.length} users keep their number as dense id`);
  // user "u<d>" and the user whose dense id is d get different lists
  const d = users.findIndex((u, dense) => u !== `u${dense}` && users.includes(`u${dense}`));
  const byName = await recA.recommend([`u${d}`], 10);
  const byDense = await recA.recommend([users[d]], 10);
  assert.notDeepEqual(byName.items, byDense.items);
});

test('cold start: an unknown user gets the training set\'s most popular items (ties to the lower index), minus exclusions; known users in the same POST get the runtime\'s answer', async () => {
  const s = await createServer(serveOptions(1, { coldStart: 'popular' }));
  try {
    const counts = new Map<number, number>();
    for (let u = 0; u < f.ds.numUsers; u++) for (const i of trainItemsOf(f.ds, u)) counts.set(i, (counts.get(i) ?? 0) + 1);
    const popular = Array.from({ length: f.ds.numItems }, (_v, i) => i)
      .sort((a, b) => (counts.get(b) ?? 0) - (counts.get(a) ?? 0) || a - b)
      .map((i) => f.ds.itemIds.rawId(i));
    const k = 12;
    const plain = await get(s, { user: 'u-newcomer', k, exclude: [], excludeSeen: true });
    assert.equal(plain.coldStart, true);
    assert.deepEqual(plain.items, popular.slice(0, k).map((item) => ({ item, score: null })));
    const exclude = [popular[0], popular[4], popular[30]];
    const known = [f.ds.userIds.rawId(5), f.ds.userIds.rawId(40)];
    const results = await post(s, [known[0], 'u99999', known[1], 'nobody'], k, exclude, true);
    const expectedCold = popular.filter((i) => !exclude.includes(i)).slice(0, k).map((item) => ({ item, score: null }));
    for (const c of [1, 3]) {
      assert.equal(results[c].coldStart, true);
      assert.deepEqual(results[c].items, expectedCold);
    }
    for (const [c, user] of [[0, known[0]], [2, known[1]]] as const) {
      assert.equal(results[c].coldStart, undefined);
      assertSameRanking(results[c].items, await reference(recA, { user, k, exclude, excludeSeen: true }), k, `cold-start POST known user ${user}`);
    }
  } finally {
    await s.close();
  }
});

for (const workers of [0, 1]) {
  test(`workers ${workers}: after a hot reload every answer equals the new model's recommend(); answers during the reload are one model's or the other's`, async () => {
    const s = await createServer(serveOptions(workers));
    try {
      await checkBurst(s, recA, 0, `workers ${workers} before reload`);
      // the two models rank differently, so the check below can tell them apart
      const probe = { user: f.ds.userIds.rawId(0), k: 10, exclude: [], excludeSeen: true };
      assert.notDeepEqual((await reference(recA, probe)).items.slice(0, 10), (await reference(recB, probe)).items.slice(0, 10));
      const asks = Array.from({ length: 24 }, (_v, r) => ({ user: f.ds.userIds.rawId((r * 7) % f.ds.numUsers), k: 8, exclude: [], excludeSeen: true }));
      const during = Promise.all(asks.map((ask) => get(s, ask)));
      const reloaded = await s.admin.inject({ method: 'POST', url: '/admin/reload', payload: { model: f.models[1] } });
      assert.equal(reloaded.statusCode, 200, reloaded.body);
      const answers = await during;
      for (let r = 0; r < asks.length; r++) {
        const [a, b] = [await reference(recA, asks[r]), await reference(recB, asks[r])];
        const ids = answers[r].items.map((i) => i.item);
        assert.ok(ids.join() === a.items.slice(0, 8).join() || ids.join() === b.items.slice(0, 8).join(), `answer ${r} during the reload is neither model's`);
      }
      for (let round = 0; round < 2; round++) await checkBurst(s, recB, round, `workers ${workers} after reload`);
    } finally {
      await s.close();
    }
  });
}
