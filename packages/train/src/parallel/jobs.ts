/**
 * The helper's job kinds (parallel/helper.ts) and their chunk functions, run by the calling thread and the helper
 * alike on their own kernel instances over one shared memory. A chunk writes only its own rows of the outputs, so
 * results do not depend on which thread ran which chunk.
 */
import { rankingLossRows } from '../distill/ranking-loss-rows.js';
import { bprOf, floatsOf, type ThreadContext } from './context.js';
import { fullRanksChunk, sampledRanksChunk, type FullRanksArgs, type SampledRanksArgs } from './eval-ranks.js';
import { topKeysChunk, topKeysI16Chunk, type TopKeysArgs, type TopKeysI16Args } from './top-keys.js';

export type { ThreadContext } from './context.js';
export type JobKind = 'topKeys' | 'topKeysI16' | 'sampledRanks' | 'fullRanks' | 'adamRows' | 'rankingLoss';
export type JobArgs = TopKeysArgs | TopKeysI16Args | SampledRanksArgs | FullRanksArgs | AdamRowsArgs | RankingLossArgs;

/** Adam over rows of d floats (wasm/bpr-simd.ts adamRows): only the rows flagged in `touched` read a gradient. */
export interface AdamRowsArgs {
  p: number;
  g: number;
  m: number;
  v: number;
  touched: number;
  d: number;
  rows: number;
  rowsPerChunk: number;
  hyper: number[];
}

function adamRowsChunk(context: ThreadContext, a: AdamRowsArgs, chunk: number): void {
  const r0 = chunk * a.rowsPerChunk;
  const r1 = Math.min(a.rows, r0 + a.rowsPerChunk);
  const [s, inv, eps, b1, ob1, b2, ob2, wd] = a.hyper;
  bprOf(context).adamRows(a.p, a.g, a.m, a.v, a.touched, r0, r1, a.d, s, inv, eps, b1, ob1, b2, ob2, wd);
}

/** The lean relaxed ranking loss (distill/ranking-loss-rows.ts) of rows of a [rows × k] and b [rows × l]; offsets in floats. */
export interface RankingLossArgs {
  a: number;
  b: number;
  loss: number;
  ga: number;
  gb: number;
  k: number;
  l: number;
  rows: number;
  rowsPerChunk: number;
}

function rankingLossChunk(context: ThreadContext, a: RankingLossArgs, chunk: number): void {
  const r0 = chunk * a.rowsPerChunk;
  rankingLossRows(floatsOf(context), a, a.k, a.l, r0, Math.min(a.rows, r0 + a.rowsPerChunk));
}

export function runChunk(kind: JobKind, context: ThreadContext, args: JobArgs, chunk: number): void {
  if (kind === 'topKeysI16') topKeysI16Chunk(context, args as TopKeysI16Args, chunk);
  else if (kind === 'topKeys') topKeysChunk(context, args as TopKeysArgs, chunk);
  else if (kind === 'sampledRanks') sampledRanksChunk(context, args as SampledRanksArgs, chunk);
  else if (kind === 'fullRanks') fullRanksChunk(context, args as FullRanksArgs, chunk);
  else if (kind === 'adamRows') adamRowsChunk(context, args as AdamRowsArgs, chunk);
  else if (kind === 'rankingLoss') rankingLossChunk(context, args as RankingLossArgs, chunk);
  else throw new Error(`unknown job kind ${String(kind)}`);
}
