import { InputError } from '@derrd/core';
import type { ModelKind, RecModel } from './model.js';
import { BprMf } from './bpr.js';
import { NeuMf } from './neumf.js';

export const MODEL_KINDS: readonly ModelKind[] = ['bpr', 'neumf'];

export function createModel(kind: string, config: { numUsers: number; numItems: number; dim: number }, seed = 0): RecModel {
  switch (kind) {
    case 'bpr':
      return new BprMf(config, seed);
    case 'neumf':
      return new NeuMf(config, seed);
    default:
      throw new InputError(`unknown model "${kind}" (expected one of ${MODEL_KINDS.join('|')})`);
  }
}
