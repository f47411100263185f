/**
 * Evaluation of dot-product models (BPR) without a users × items matrix: the held-out items' ranks under the sampled
 * protocol (item-major, see parallel/eval-ranks.ts) or the full one (blocked gemm), summed in dimension order as
 * tfjs-wasm's matMul sums, so the ranks equal the tfjs scorer's. On both cores, or in the background on the helper.
 */
import { InputError, evalUsers, type Dataset } from '@derrd/core';
import { helper, type Helper, type PendingJob } from './helper.js';
import { sampledBuckets, slotBits, type FullRanksArgs, type SampledRanksArgs } from './eval-ranks.js';
import { colBlockFor, transposeInto } from './layouts.js';
import { SharedArena, roundUp, sharedCopy, sharedInts } from './shared-arena.js';

/** A dot-product model's tables, row-major. */
export interface DotTables {
  users: Float32Array;
  items: Float32Array;
}

export interface Ranks {
  valid: Int32Array;
  test: Int32Array;
}

/** A background evaluation; finish() joins in and returns its ranks (copies, safe after the next run). */
export interface PendingRanks {
  finish(): Ranks;
}

/**
 * Ranks of each evaluated user's validation and test items under the sampled or the full protocol, for the tables
 * of a dot-product model, with evaluate.ts's rules. Holds shared copies of the data set's arrays and a memory sized
 * for the tables; load() then run() (both cores) or start() (in the background on the helper thread).
 */
export class DotEvaluator {
  readonly protocol: 'sampled' | 'full';
  private readonly helper: Helper;
  private readonly arena: SharedArena;
  private readonly users: number;
  private readonly items: number;
  private readonly numUsers: number;
  private readonly numItems: number;
  private readonly d: number;
  private readonly kind: 'sampledRanks' | 'fullRanks';
  private readonly args: SampledRanksArgs | FullRanksArgs;
  private readonly chunks: number;
  private pending: PendingJob | null = null;

  constructor(ds: Dataset, dim: number, protocol: 'sampled' | 'full') {
    this.protocol = protocol === 'full' || ds.numCandidates === 0 ? 'full' : 'sampled';
    this.helper = helper();
    this.numUsers = ds.numUsers;
    this.numItems = ds.numItems;
    this.d = dim;
    const arena = (this.arena = new SharedArena(this.helper));
    const order = sharedCopy(evalUsers(ds));
    this.users = arena.alloc(ds.numUsers * dim * 4);
    const base = {
      d: dim, users: this.users, evalUsers: order, testItem: sharedCopy(ds.testItem), validItem: sharedCopy(ds.validItem),
      outTest: sharedInts(order.length), outValid: sharedInts(order.length),
    };
    if (this.protocol === 'sampled') {
      const C = ds.numCandidates;
      for (const u of order) {
        for (let k = u * C; k < (u + 1) * C; k++) {
          if (!(ds.candidates[k] >= 0 && ds.candidates[k] < ds.numItems)) throw new InputError(`user ${u} has candidate item ${ds.candidates[k]} outside [0, ${ds.numItems}) (a corrupt data set)`);
        }
      }
      this.items = arena.alloc(ds.numItems * dim * 4);
      // a chunk's user rows stay in L2 while the item table streams past them
      const usersPerChunk = Math.max(16, Math.min(1024, Math.floor((256 * 1024) / (dim * 4))));
      const shift = slotBits(C);
      const grouped = sampledBuckets(order, ds.testItem, ds.validItem, ds.candidates, C, ds.numItems, usersPerChunk);
      const place = (arrays: Int32Array[]): Int32Array => {
        const offsets = sharedInts(arrays.length);
        arrays.forEach((x, c) => {
          offsets[c] = arena.alloc(x.byteLength);
          new Int32Array(arena.memory.buffer, offsets[c], x.length).set(x);
        });
        return offsets;
      };
      const chunkEntries = place(grouped.entries);
      const chunkBuckets = place(grouped.buckets);
      const chunkNumBuckets = sharedInts(grouped.buckets.length);
      grouped.buckets.forEach((x, c) => (chunkNumBuckets[c] = x.length / 2));
      const per = (bytes: number): [number, number] => [arena.alloc(bytes), arena.alloc(bytes)];
      this.kind = 'sampledRanks';
      this.args = {
        ...base, items: this.items, numCandidates: C, candidates: sharedCopy(ds.candidates), usersPerChunk, shift, chunkEntries, chunkBuckets, chunkNumBuckets,
        userBlock: per((usersPerChunk + 4) * dim * 4), userIds: per((usersPerChunk + 4) * 4),
        targets: per((2 * usersPerChunk + 4) * 4), targetIds: per((2 * usersPerChunk + 4) * 4), counts: per((2 * usersPerChunk + 4) * 4),
      } satisfies SampledRanksArgs;
      this.chunks = Math.ceil(order.length / usersPerChunk);
    } else {
      const keysPad = roundUp(ds.numItems, 8);
      const usersPerChunk = 32;
      this.items = arena.alloc(dim * keysPad * 4);
      this.kind = 'fullRanks';
      this.args = {
        ...base, kt: this.items, numItems: ds.numItems, keysPad, colBlock: colBlockFor(dim, keysPad), usersPerChunk,
        trainIndptr: sharedCopy(ds.trainIndptr), trainItems: sharedCopy(ds.trainItems),
        q4: [arena.alloc(usersPerChunk * dim * 4), arena.alloc(usersPerChunk * dim * 4)],
        rows: [arena.alloc(usersPerChunk * keysPad * 4), arena.alloc(usersPerChunk * keysPad * 4)],
      } satisfies FullRanksArgs;
      this.chunks = Math.ceil(order.length / usersPerChunk);
    }
  }

  /** Copies a model's tables in (the previous background run must have finished). */
  load(tables: DotTables): void {
    if (this.pending) throw new Error('DotEvaluator.load while an evaluation is running');
    if (tables.users.length !== this.numUsers * this.d || tables.items.length !== this.numItems * this.d) {
      throw new Error(`tables of ${tables.users.length} and ${tables.items.length} floats for ${this.numUsers} users, ${this.numItems} items, dim ${this.d}`);
    }
    this.arena.floats(this.users, tables.users.length).set(tables.users);
    if (this.kind === 'sampledRanks') this.arena.floats(this.items, tables.items.length).set(tables.items);
    else {
      const keysPad = (this.args as FullRanksArgs).keysPad;
      transposeInto(tables.items, this.numItems, this.d, keysPad, this.arena.floats(this.items, this.d * keysPad));
    }
  }

  /** The loaded tables' ranks, on both cores. */
  run(): Ranks {
    return this.start(false).finish();
  }

  /** Starts ranking the loaded tables on the helper thread (on this one at once when there is no helper). */
  start(background = true): PendingRanks {
    if (this.pending) throw new Error('DotEvaluator.start while an evaluation is running');
    const job = this.helper.start({ kind: this.kind, arena: this.arena.id, chunks: this.chunks, args: this.args }, background);
    this.pending = job;
    return {
      finish: () => {
        if (this.pending === job) {
          this.pending = null;
          job.finish();
        }
        return { valid: Int32Array.from(this.args.outValid), test: Int32Array.from(this.args.outTest) };
      },
    };
  }

  dispose(): void {
    this.pending?.finish();
    this.pending = null;
    this.arena.dispose();
  }
}
