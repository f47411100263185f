import { InputError } from './errors.js';
import { Rng } from './rng.js';
import type { RawInteractions } from './readers.js';

/**
 * Seeded synthetic implicit-feedback data from a latent-factor model with power-law item popularity and log-normal
 * user activity:
 *
 *   P(i | u) ∝ popularity_i · exp(affinity · ⟨x_u, c_{g(i)}⟩)
 *
 * x_u ~ N(0, I/dim) is the user's factor; items are dealt round-robin (in a seeded shuffled order) into `clusters`
 * groups g, each with a factor c_g ~ N(0, I/dim) that its items share; popularity_i = rank_i^(−popularityExponent)
 * over a seeded permutation of ranks. Each user draws n_u ~ LogNormal(mean meanInteractions, σ 0.7) items (clamped to
 * [minInteractions, numItems/4]) without replacement from P(· | u), i.e. by successive sampling, which is what a
 * Gumbel top-k over log P gives.
 *
 * Why groups: the choice distribution is then a mixture over groups, so a draw costs O(1) with one alias table per
 * group (by popularity) and one cumulative table per user over the groups, instead of scoring every item: the
 * generator costs O(users · clusters · dim + interactions), not O(users · items · dim). With clusters ≥ numItems
 * every item is its own group and the model is the plain one (each item its own factor).
 * Draws without replacement are exact: a draw is rejected when its item was taken already (the proposal is
 * rebuilt from the remaining mass when rejections pile up), and a group that is mostly taken is sampled by a scan of
 * its remaining items.
 */
export interface SynthOptions {
  numUsers?: number;
  numItems?: number;
  /** latent dimension of the generating factors */
  dim?: number;
  /** mean interactions per user */
  meanInteractions?: number;
  /** Zipf exponent of item popularity */
  popularityExponent?: number;
  /** strength of the latent preference relative to popularity */
  affinity?: number;
  minInteractions?: number;
  /** item groups sharing a latent factor (min(clusters, numItems) are used) */
  clusters?: number;
  seed?: number;
}

export const SYNTH_DEFAULTS: Required<SynthOptions> = {
  numUsers: 2000,
  numItems: 3000,
  // strong latent structure relative to popularity, so that model capacity matters (a d=64 model clearly beats d=8)
  dim: 32,
  meanInteractions: 25,
  popularityExponent: 0.3,
  affinity: 16,
  minInteractions: 5,
  // a user's cost is O(clusters · dim): 256 keeps 100k users at a few seconds
  clusters: 256,
  seed: 0,
};

/** σ of log activity */
const ACTIVITY_SIGMA = 0.7;
/** consecutive rejected draws after which a user's group table is rebuilt from the remaining mass */
const REBUILD_AFTER = 8;

export interface SyntheticData extends RawInteractions {
  timestamps: number[];
  settings: Required<SynthOptions>;
}

/** onProgress(users done, users) is called every 1024 users. */
export function generateSynthetic(options: SynthOptions = {}, onProgress?: (done: number, total: number) => void): SyntheticData {
  const o = { ...SYNTH_DEFAULTS, ...options };
  for (const key of ['numUsers', 'numItems', 'dim', 'clusters', 'minInteractions'] as const) {
    if (!Number.isInteger(o[key]) || o[key] < 1) throw new InputError(`synthetic data: ${key} must be a positive integer, got ${o[key]}`);
  }
  if (!(o.meanInteractions > 0)) throw new InputError(`synthetic data: meanInteractions must be > 0, got ${o.meanInteractions}`);
  if (!Number.isFinite(o.affinity) || !Number.isFinite(o.popularityExponent)) throw new InputError('synthetic data: affinity and popularityExponent must be finite numbers');
  const { numUsers: U, numItems: I, dim: d } = o;
  const K = Math.max(1, Math.min(o.clusters, I));
  const rng = new Rng(o.seed);
  const scale = 1 / Math.sqrt(d);
  const groupF = new Float64Array(K * d);
  for (let k = 0; k < groupF.length; k++) groupF[k] = rng.normal() * scale;
  const popRank = rng.shuffle(Array.from({ length: I }, (_v, i) => i + 1));
  const pop = Float64Array.from(popRank, (r) => Math.pow(r, -o.popularityExponent));
  const groups = itemGroups(rng.shuffle(Int32Array.from({ length: I }, (_v, i) => i)), K);
  const sampler = new GroupSampler(groups.start, groups.items, pop);
  const maxPerUser = Math.max(o.minInteractions, Math.floor(I / 4));
  const logMean = Math.log(o.meanInteractions) - (ACTIVITY_SIGMA * ACTIVITY_SIGMA) / 2;
  const userF = new Float64Array(d);
  const weight = new Float64Array(K);
  const itemName = Array.from({ length: I }, (_v, i) => String(i));
  const out: SyntheticData = { source: 'synthetic', users: [], items: [], timestamps: [], lines: [], settings: o };
  let clock = 0;
  for (let u = 0; u < U; u++) {
    for (let k = 0; k < d; k++) userF[k] = rng.normal() * scale;
    const activity = Math.exp(logMean + ACTIVITY_SIGMA * rng.normal());
    const n = Math.min(maxPerUser, Math.max(o.minInteractions, Math.round(activity)));
    groupLogits(userF, groupF, o.affinity, weight);
    let maxLogit = -Infinity;
    for (let k = 0; k < K; k++) if (weight[k] > maxLogit) maxLogit = weight[k];
    for (let k = 0; k < K; k++) weight[k] = Math.exp(weight[k] - maxLogit);
    const chosen = sampler.draw(rng, weight, n);
    // random interaction order gives timestamps for the leave-last-out split
    rng.shuffle(chosen);
    const user = String(u);
    for (const i of chosen) {
      out.users.push(user);
      out.items.push(itemName[i]);
      out.timestamps.push(clock++);
      out.lines.push(out.users.length);
    }
    if (onProgress && (u & 1023) === 1023) onProgress(u + 1, U);
  }
  onProgress?.(U, U);
  return out;
}

/** logits_k = affinity · ⟨x, c_k⟩ (four partial sums: the dot products are most of the generator's time). */
function groupLogits(x: Float64Array, groupF: Float64Array, affinity: number, logits: Float64Array): void {
  const d = x.length;
  const d4 = d - (d % 4);
  for (let k = 0, row = 0; k < logits.length; k++, row += d) {
    let a = 0;
    let b = 0;
    let c = 0;
    let e = 0;
    let j = 0;
    for (; j < d4; j += 4) {
      a += x[j] * groupF[row + j];
      b += x[j + 1] * groupF[row + j + 1];
      c += x[j + 2] * groupF[row + j + 2];
      e += x[j + 3] * groupF[row + j + 3];
    }
    for (; j < d; j++) a += x[j] * groupF[row + j];
    logits[k] = affinity * (a + b + c + e);
  }
}

/**
 * Draws n distinct items with P(i) ∝ groupWeight_{g(i)} · itemWeight_i by successive sampling (each draw ∝ the weights
 * of the items not yet drawn), exactly and in O(1) per draw in the common case: a group from a cumulative table over
 * the groups' weight × mass (a group is accepted with its remaining / tabled mass, the table is rebuilt from the
 * remaining mass after a few rejections), then an item from the group's alias table (retried when taken), or by a scan
 * of the group's remaining items once half its mass is taken.
 */
export class GroupSampler {
  private readonly start: Int32Array;
  private readonly items: Int32Array;
  private readonly itemWeight: Float64Array;
  private readonly alias: GroupAlias;
  private readonly mass: Float64Array;
  private readonly base: Float64Array;
  private readonly rem: Float64Array;
  private readonly remCount: Int32Array;
  private readonly cdf: Float64Array;
  private readonly takenBy: Int32Array;
  private call = 0;

  /** group k holds items[start[k] .. start[k+1]); itemWeight is indexed by item id */
  constructor(start: Int32Array, items: Int32Array, itemWeight: Float64Array) {
    const K = start.length - 1;
    this.start = start;
    this.items = items;
    this.itemWeight = itemWeight;
    this.alias = buildGroupAlias({ start, items }, itemWeight);
    this.mass = new Float64Array(K);
    for (let k = 0; k < K; k++) for (let j = start[k]; j < start[k + 1]; j++) this.mass[k] += itemWeight[items[j]];
    this.base = new Float64Array(K);
    this.rem = new Float64Array(K);
    this.remCount = new Int32Array(K);
    this.cdf = new Float64Array(K);
    this.takenBy = new Int32Array(itemWeight.length).fill(-1);
  }

  /** n ≤ number of items distinct item ids, in draw order */
  draw(rng: Rng, groupWeight: Float64Array, n: number): number[] {
    const { start, mass, base, rem, remCount, cdf, takenBy } = this;
    const K = mass.length;
    const mark = this.call++;
    for (let k = 0; k < K; k++) {
      rem[k] = mass[k];
      remCount[k] = start[k + 1] - start[k];
    }
    let total = buildCdf(groupWeight, rem, base, cdf);
    const chosen: number[] = [];
    let rejected = 0;
    while (chosen.length < n) {
      if (rejected >= REBUILD_AFTER) {
        total = buildCdf(groupWeight, rem, base, cdf);
        rejected = 0;
      }
      let item: number;
      if (total > 0) {
        const k = searchCdf(cdf, rng.float() * total);
        // the table holds base_k ≥ rem_k: accepting with rem_k / base_k makes the group ∝ weight_k · rem_k
        if (remCount[k] === 0 || rng.float() * base[k] >= rem[k]) {
          rejected++;
          continue;
        }
        item = this.drawInGroup(rng, k, rem[k] >= mass[k] / 2, mark);
        rem[k] = --remCount[k] === 0 ? 0 : Math.max(0, rem[k] - this.itemWeight[item]);
      } else {
        // no group with a representable weight is left: the rest is uniform over the remaining items
        item = uniformRemaining(rng, takenBy, mark);
      }
      takenBy[item] = mark;
      chosen.push(item);
      rejected = 0;
    }
    return chosen;
  }

  /** An item of group k not taken in this call, ∝ its weight: alias draws with retry, or a scan when most is taken. */
  private drawInGroup(rng: Rng, k: number, mostlyFree: boolean, mark: number): number {
    const { items, takenBy, itemWeight, alias } = this;
    const s = this.start[k];
    const size = this.start[k + 1] - s;
    if (mostlyFree) {
      for (;;) {
        const x = rng.float() * size;
        const j = Math.min(size - 1, Math.floor(x));
        const item = items[s + (x - j < alias.prob[s + j] ? j : alias.alias[s + j])];
        if (takenBy[item] !== mark) return item;
      }
    }
    let free = 0;
    for (let j = 0; j < size; j++) if (takenBy[items[s + j]] !== mark) free += itemWeight[items[s + j]];
    let x = rng.float() * free;
    let last = -1;
    for (let j = 0; j < size; j++) {
      const item = items[s + j];
      if (takenBy[item] === mark) continue;
      last = item;
      x -= itemWeight[item];
      if (x < 0) return item;
    }
    return last;
  }
}

interface ItemGroups {
  /** items of group k: items[start[k] .. start[k+1]) */
  start: Int32Array;
  items: Int32Array;
}

/** Deals the (shuffled) items round-robin into K groups, so that sizes differ by at most one. */
function itemGroups(order: Int32Array, K: number): ItemGroups {
  const start = new Int32Array(K + 1);
  for (let j = 0; j < order.length; j++) start[(j % K) + 1]++;
  for (let k = 0; k < K; k++) start[k + 1] += start[k];
  const fill = start.slice(0, K);
  const items = new Int32Array(order.length);
  for (let j = 0; j < order.length; j++) items[fill[j % K]++] = order[j];
  return { start, items };
}

/** Walker/Vose alias tables, one per group over its items' weights: a draw is one uniform. */
interface GroupAlias {
  prob: Float64Array;
  alias: Int32Array;
}

function buildGroupAlias(groups: ItemGroups, weight: Float64Array): GroupAlias {
  const n = groups.items.length;
  const prob = new Float64Array(n);
  const alias = new Int32Array(n);
  const small: number[] = [];
  const large: number[] = [];
  for (let k = 0; k + 1 < groups.start.length; k++) {
    const s = groups.start[k];
    const size = groups.start[k + 1] - s;
    let mass = 0;
    for (let j = 0; j < size; j++) mass += weight[groups.items[s + j]];
    small.length = 0;
    large.length = 0;
    for (let j = 0; j < size; j++) {
      prob[s + j] = (weight[groups.items[s + j]] * size) / mass;
      alias[s + j] = j;
      (prob[s + j] < 1 ? small : large).push(j);
    }
    while (small.length > 0 && large.length > 0) {
      const a = small.pop()!;
      const b = large[large.length - 1];
      alias[s + a] = b;
      prob[s + b] -= 1 - prob[s + a];
      if (prob[s + b] < 1) small.push(large.pop()!);
    }
    for (const j of [...small, ...large]) prob[s + j] = 1;
  }
  return { prob, alias };
}

/** cdf_k = Σ_{j≤k} weight_j · rem_j (base := rem); returns the total. */
function buildCdf(weight: Float64Array, rem: Float64Array, base: Float64Array, cdf: Float64Array): number {
  let acc = 0;
  for (let k = 0; k < weight.length; k++) {
    base[k] = rem[k];
    acc += weight[k] * rem[k];
    cdf[k] = acc;
  }
  return acc;
}

/** The first k with cdf[k] > x (x < cdf[last]). */
function searchCdf(cdf: Float64Array, x: number): number {
  let lo = 0;
  let hi = cdf.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cdf[mid] > x) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

function uniformRemaining(rng: Rng, takenBy: Int32Array, mark: number): number {
  let free = 0;
  for (let i = 0; i < takenBy.length; i++) if (takenBy[i] !== mark) free++;
  let pick = rng.int(free);
  for (let i = 0; i < takenBy.length; i++) {
    if (takenBy[i] === mark) continue;
    if (pick-- === 0) return i;
  }
  throw new Error('no item left to draw');
}

/**
 * The interactions as TSV (header, then user, item[, timestamp] per line). Written as bytes: building a string per
 * line cost ~5 s for 2.5M lines. Ids outside ASCII go through the string path.
 */
export function toTsv(raw: Pick<RawInteractions, 'users' | 'items' | 'timestamps'>): string {
  const ts = raw.timestamps;
  const writer = new AsciiWriter(raw.users.length * 16 + 64);
  if (!writer.text(ts ? 'user\titem\ttimestamp\n' : 'user\titem\n')) return toTsvStrings(raw);
  for (let r = 0; r < raw.users.length; r++) {
    if (!writer.text(raw.users[r])) return toTsvStrings(raw);
    writer.byte(9);
    if (!writer.text(raw.items[r])) return toTsvStrings(raw);
    if (ts) {
      writer.byte(9);
      if (!writer.text(String(ts[r]))) return toTsvStrings(raw);
    }
    writer.byte(10);
  }
  return writer.toString();
}

function toTsvStrings(raw: Pick<RawInteractions, 'users' | 'items' | 'timestamps'>): string {
  const rows: string[] = [raw.timestamps ? 'user\titem\ttimestamp' : 'user\titem'];
  for (let r = 0; r < raw.users.length; r++) {
    rows.push(raw.timestamps ? `${raw.users[r]}\t${raw.items[r]}\t${raw.timestamps[r]}` : `${raw.users[r]}\t${raw.items[r]}`);
  }
  return rows.join('\n') + '\n';
}

class AsciiWriter {
  private buf: Uint8Array;
  private at = 0;

  constructor(capacity: number) {
    this.buf = new Uint8Array(capacity);
  }

  /** false when `s` has a non-ASCII character */
  text(s: string): boolean {
    this.reserve(s.length);
    for (let k = 0; k < s.length; k++) {
      const c = s.charCodeAt(k);
      if (c > 127) return false;
      this.buf[this.at++] = c;
    }
    return true;
  }

  byte(b: number): void {
    this.reserve(1);
    this.buf[this.at++] = b;
  }

  toString(): string {
    return Buffer.from(this.buf.buffer, this.buf.byteOffset, this.at).toString('latin1');
  }

  private reserve(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const grown = new Uint8Array(Math.max(this.buf.length * 2, this.at + n));
    grown.set(this.buf.subarray(0, this.at));
    this.buf = grown;
  }
}
