import { InputError } from './errors.js';

/**
 * Raw ids (any string) ↔ dense ids 0..n-1. Saved with the prepared data set so that a server can answer in raw ids.
 */
export class IdMap {
  private readonly toDense = new Map<string, number>();
  private readonly raw: string[] = [];

  static fromRaw(rawIds: readonly string[]): IdMap {
    const map = new IdMap();
    for (const id of rawIds) {
      if (map.toDense.has(id)) throw new InputError(`duplicate raw id "${id}" in id map`);
      map.add(id);
    }
    return map;
  }

  get size(): number {
    return this.raw.length;
  }

  /** Dense id of `rawId`, adding it when new. */
  add(rawId: string): number {
    let dense = this.toDense.get(rawId);
    if (dense === undefined) {
      dense = this.raw.length;
      this.toDense.set(rawId, dense);
      this.raw.push(rawId);
    }
    return dense;
  }

  dense(rawId: string): number | undefined {
    return this.toDense.get(rawId);
  }

  rawId(dense: number): string {
    const id = this.raw[dense];
    if (id === undefined) throw new RangeError(`dense id ${dense} outside 0..${this.raw.length - 1}`);
    return id;
  }

  rawIds(): readonly string[] {
    return this.raw;
  }
}

/** How raw ids become dense ids. */
export type IdOrder =
  /** in order of first appearance in the input (the DE-RRD authors' preprocessing) */
  | 'appearance'
  /** by numeric value when every id is an integer (keeps already-dense ids unchanged), else by appearance; preparing refuses a mix */
  | 'numeric';

/** Builds an id map over `rawIds` (with repeats) in the requested order. */
export function buildIdMap(rawIds: Iterable<string>, order: IdOrder): IdMap {
  const map = new IdMap();
  if (order === 'appearance') {
    for (const id of rawIds) map.add(id);
    return map;
  }
  const unique = [...new Set(rawIds)];
  if (unique.every((id) => /^-?\d+$/.test(id))) unique.sort((a, b) => Number(a) - Number(b));
  for (const id of unique) map.add(id);
  return map;
}
