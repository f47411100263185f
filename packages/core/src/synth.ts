import { Rng } from './rng.js';
import type { RawInteractions } from './readers.js';

/**
 * Seeded synthetic implicit-feedback data: users and items with latent factors, power-law item popularity and
 * log-normal user activity. Each user's items are drawn without replacement with probability ∝
 * popularity_i · exp(affinity · ⟨u, v_i⟩) (Gumbel top-k). Used as the embedded default data set and as test data.
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
  seed: 0,
};

export function generateSynthetic(options: SynthOptions = {}): RawInteractions & { timestamps: number[]; settings: Required<SynthOptions> } {
  const o = { ...SYNTH_DEFAULTS, ...options };
  const rng = new Rng(o.seed);
  const factor = (n: number): Float64Array => {
    const f = new Float64Array(n * o.dim);
    for (let k = 0; k < f.length; k++) f[k] = rng.normal() / Math.sqrt(o.dim);
    return f;
  };
  const userF = factor(o.numUsers);
  const itemF = factor(o.numItems);
  const popRank = rng.shuffle(Array.from({ length: o.numItems }, (_v, i) => i + 1));
  const logPop = Float64Array.from(popRank, (r) => -o.popularityExponent * Math.log(r));
  const sigma = 0.7;
  const maxPerUser = Math.max(o.minInteractions, Math.floor(o.numItems / 4));
  const out = { source: 'synthetic', users: [] as string[], items: [] as string[], timestamps: [] as number[], lines: [] as number[], settings: o };
  const keys = new Float64Array(o.numItems);
  const sorted = new Float64Array(o.numItems);
  let clock = 0;
  for (let u = 0; u < o.numUsers; u++) {
    const activity = Math.exp(Math.log(o.meanInteractions) - (sigma * sigma) / 2 + sigma * rng.normal());
    const n = Math.min(maxPerUser, Math.max(o.minInteractions, Math.round(activity)));
    for (let i = 0; i < o.numItems; i++) {
      let dot = 0;
      for (let k = 0; k < o.dim; k++) dot += userF[u * o.dim + k] * itemF[i * o.dim + k];
      keys[i] = logPop[i] + o.affinity * dot + rng.gumbel();
    }
    sorted.set(keys);
    sorted.sort();
    const threshold = sorted[o.numItems - n];
    const chosen: number[] = [];
    for (let i = 0; i < o.numItems && chosen.length < n; i++) if (keys[i] >= threshold) chosen.push(i);
    // random interaction order gives timestamps for the leave-last-out split
    rng.shuffle(chosen);
    for (const i of chosen) {
      out.users.push(String(u));
      out.items.push(String(i));
      out.timestamps.push(clock++);
      out.lines.push(out.users.length);
    }
  }
  return out;
}

export function toTsv(raw: Pick<RawInteractions, 'users' | 'items' | 'timestamps'>): string {
  const rows: string[] = [raw.timestamps ? 'user\titem\ttimestamp' : 'user\titem'];
  for (let r = 0; r < raw.users.length; r++) {
    rows.push(raw.timestamps ? `${raw.users[r]}\t${raw.items[r]}\t${raw.timestamps[r]}` : `${raw.users[r]}\t${raw.items[r]}`);
  }
  return rows.join('\n') + '\n';
}
