/**
 * The helper's job kinds (parallel/helper.ts) and their chunk functions, run by the calling thread and the helper
 * alike on their own kernel instances over one shared memory. A chunk writes only its own rows of the outputs, so
 * results do not depend on which thread ran which chunk.
 */
import type { ThreadContext } from './context.js';
import { fullRanksChunk, sampledRanksChunk, type FullRanksArgs, type SampledRanksArgs } from './eval-ranks.js';
import { topKeysChunk, topKeysI16Chunk, type TopKeysArgs, type TopKeysI16Args } from './top-keys.js';

export type { ThreadContext } from './context.js';
export type JobKind = 'topKeys' | 'topKeysI16' | 'sampledRanks' | 'fullRanks';
export type JobArgs = TopKeysArgs | TopKeysI16Args | SampledRanksArgs | FullRanksArgs;

export function runChunk(kind: JobKind, context: ThreadContext, args: JobArgs, chunk: number): void {
  if (kind === 'topKeysI16') topKeysI16Chunk(context, args as TopKeysI16Args, chunk);
  else if (kind === 'topKeys') topKeysChunk(context, args as TopKeysArgs, chunk);
  else if (kind === 'sampledRanks') sampledRanksChunk(context, args as SampledRanksArgs, chunk);
  else if (kind === 'fullRanks') fullRanksChunk(context, args as FullRanksArgs, chunk);
  else throw new Error(`unknown job kind ${String(kind)}`);
}
