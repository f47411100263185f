/**
 * Timing an exported model's top-10 on each runtime at batch sizes 1 and 64, as `derrd pipeline` and `derrd sweep`
 * report it: p50 and p95 over the timed runs after 10 warm-up runs, on dense user ids spread over the data set.
 */
import { existsSync, readFileSync } from 'node:fs';
import { sha256, writeFileAtomic, type Dataset } from '@derrd/core';
import { createRecommender, type Provider } from '@derrd/runtime';
import type { StepRunner } from './steps.js';

export interface LatencySettings { repsB1: number; repsB64: number; threads: number; providers: Provider[] }

export interface LatencyRecord { runtime: string; provider: string; threads: number; batch: number; p50Us: number; p95Us: number }

export const BATCH_SIZES = [1, 64] as const;

const round1 = (x: number) => Math.round(x * 10) / 10;

/** The latency settings by setting name (reps-b1, reps-b64, threads, providers) as the timing's options. */
export function latencySettingsOf(v: Record<string, unknown>): LatencySettings {
  return { repsB1: v['reps-b1'] as number, repsB64: v['reps-b64'] as number, threads: v.threads as number, providers: v.providers as Provider[] };
}

/** Times one ONNX model on every provider in `s`, at B = 1 and B = 64. */
export async function timeModel(path: string, ds: Dataset, s: LatencySettings): Promise<LatencyRecord[]> {
  const out: LatencyRecord[] = [];
  for (const provider of s.providers) {
    const rec = await createRecommender(path, { provider, threads: s.threads });
    try {
      // timed on dense ids (recommend() takes raw ids and would add the id-map lookups to the timing)
      const topK = rec.recommendDense.bind(rec);
      for (const [batch, reps] of [[1, s.repsB1], [64, s.repsB64]] as const) {
        const times: number[] = [];
        for (let r = 0; r < reps + 10; r++) {
          const users = Array.from({ length: Math.min(batch, ds.numUsers) }, (_v, j) => (r * 131 + j * 17) % ds.numUsers);
          const t0 = process.hrtime.bigint();
          await topK(users, Math.min(10, ds.numItems));
          if (r >= 10) times.push(Number(process.hrtime.bigint() - t0) / 1000);
        }
        times.sort((a, b) => a - b);
        out.push({ runtime: provider === 'wasm' ? 'onnxruntime-web (Node)' : 'onnxruntime-node', provider, threads: rec.threads, batch, p50Us: round1(times[times.length >> 1]), p95Us: round1(times[Math.floor(times.length * 0.95)]) });
      }
    } finally {
      await rec.close();
    }
  }
  return out;
}

/** A latency step for one model: its timings in `jsonPath`, kept while the model's bytes and the settings are unchanged. */
export async function latencyStep(steps: StepRunner, name: string, onnxPath: string, ds: Dataset, s: LatencySettings, jsonPath: string): Promise<LatencyRecord[]> {
  await steps.run(name, { onnx: sha256(readFileSync(onnxPath)), latency: s }, () => existsSync(jsonPath), async () => {
    writeFileAtomic(jsonPath, JSON.stringify(await timeModel(onnxPath, ds, s), null, 2) + '\n');
  });
  return JSON.parse(readFileSync(jsonPath, 'utf8')) as LatencyRecord[];
}
