/**
 * The raw-id maps written next to a model (`<name>.ids.json`: dense index → raw id for users and items, and the hash
 * of the data set they come from). A map is bound to its model by that hash: a map from another data set of the same
 * size would silently hand users other users' lists, so it is refused. Browser-safe (no Node imports).
 */
import { RuntimeError } from './feeds.js';

export interface IdMaps {
  datasetHash: string;
  users: string[];
  items: string[];
  userIndex: Map<string, number>;
  itemIndex: Map<string, number>;
}

/** What the model says the map must match (from its derrd metadata). */
export interface IdMapExpectation {
  numUsers: number;
  numItems: number;
  /** the data set hash in the model card; null when the card has none (such a model cannot be bound to a map) */
  datasetHash: string | null;
}

/** The id-map file name from a model's metadata must name a file next to the model, never a path elsewhere. */
export function checkIdMapsName(name: string, source: string): string {
  if (name.length === 0 || name.length > 255 || /[\\/\0]/.test(name) || name === '.' || name === '..' || !name.endsWith('.json')) {
    throw new RuntimeError(`${source}: the model's id-map name ${JSON.stringify(name)} is not a plain .json file name next to the model`);
  }
  return name;
}

const indexOf = (ids: string[], what: string, source: string): Map<string, number> => {
  const index = new Map<string, number>();
  for (let k = 0; k < ids.length; k++) {
    if (typeof ids[k] !== 'string') throw new RuntimeError(`${source}: ${what} id at index ${k} is not a string`);
    if (index.has(ids[k])) throw new RuntimeError(`${source}: ${what} id "${ids[k]}" appears twice`);
    index.set(ids[k], k);
  }
  return index;
};

/** Validates parsed id maps against the model; `source` names the file in messages. */
export function checkIdMaps(value: unknown, expect: IdMapExpectation, source: string): IdMaps {
  const maps = value as { datasetHash?: unknown; users?: unknown; items?: unknown } | null;
  if (!maps || typeof maps !== 'object' || !Array.isArray(maps.users) || !Array.isArray(maps.items)) {
    throw new RuntimeError(`${source}: not a derrd id map (expected {"datasetHash", "users": [...], "items": [...]}, written by \`derrd export\`)`);
  }
  if (typeof maps.datasetHash !== 'string' || maps.datasetHash.length === 0) {
    throw new RuntimeError(`${source}: the id map carries no data set hash, so it cannot be matched to the model; re-export the model with \`derrd export\``);
  }
  if (expect.datasetHash === null) {
    throw new RuntimeError(`${source}: the model card records no data set hash, so its id map cannot be checked; re-export the model with \`derrd export\``);
  }
  if (maps.datasetHash !== expect.datasetHash) {
    throw new RuntimeError(
      `${source}: the id map is for data set ${maps.datasetHash.slice(0, 12)}…, but the model was trained on ${expect.datasetHash.slice(0, 12)}…; ` +
      'it belongs to another export: re-export the model (`derrd export`) so the model and its id map come together',
    );
  }
  if (maps.users.length !== expect.numUsers || maps.items.length !== expect.numItems) {
    throw new RuntimeError(`${source}: ${maps.users.length} users × ${maps.items.length} items, but the model has ${expect.numUsers} × ${expect.numItems}`);
  }
  const users = maps.users as string[];
  const items = maps.items as string[];
  return { datasetHash: maps.datasetHash, users, items, userIndex: indexOf(users, 'user', source), itemIndex: indexOf(items, 'item', source) };
}

/** A raw id as given by a caller (a string, or a non-negative integer for numeric ids) as the map's string. */
export function rawIdOf(raw: unknown, what: 'user' | 'item'): string {
  if (typeof raw === 'string' && raw.length > 0) return raw;
  if (typeof raw === 'number' && Number.isSafeInteger(raw) && raw >= 0) return String(raw);
  throw new RuntimeError(`${what} id ${JSON.stringify(raw)} is not a raw id (a non-empty string, or a non-negative integer)`);
}
