/** Config files (--config): missing, not JSON, unknown or renamed keys, values out of range, keys in the wrong section. */
import { lines, type Row } from './corpus.ts';

const data = { data: { fixture: 'data' } } as const;
const withTeacher = { data: { fixture: 'data' }, teacher: { fixture: 'bpr' } } as const;
const json = (v: unknown) => JSON.stringify(v);
const train = ['train', '--data', 'data', '-o', 'm', '--config', 'c.json', '--backend', 'wasm'];
const distill = ['distill', '--teacher', 'teacher', '--data', 'data', '-o', 'd', '--config', 'c.json', '--backend', 'wasm'];
const pipeline = ['pipeline', '-o', 'run', '--config', 'c.json'];
const users = { 'users.dat': lines('2 10 11', '3 10 12 13', '1 11') };

export const CONFIG_ROWS: Row[] = [
  { name: 'a config file that does not exist', files: data, args: train, exit: 1, says: 'c.json: config file not found' },
  { name: 'a directory as the config file', files: { ...data, 'c.json/x': 'x' }, args: train, exit: 1, says: 'c.json: config file is a directory' },
  { name: 'a config file that is not JSON', files: { ...data, 'c.json': 'dim: 8\n' }, args: train, exit: 1, says: 'c.json: config is not valid JSON' },
  { name: 'a config file that is a JSON array', files: { ...data, 'c.json': '[1, 2]' }, args: train, exit: 1, says: 'the config file must be a JSON object' },
  { name: 'a misspelled key', files: { ...data, 'c.json': json({ dimm: 8 }) }, args: train, exit: 1, says: 'unknown config key "dimm" (did you mean "dim"?' },
  { name: 'a renamed key', files: { ...data, 'c.json': json({ weightDecay: 0.01 }) }, args: train, exit: 1, says: 'unknown config key "weightDecay" (renamed: use "weight-decay"' },
  { name: 'lr 0', files: { ...data, 'c.json': json({ lr: 0 }) }, args: train, exit: 1, says: 'config key "lr" must be a number > 0, got 0' },
  { name: 'lr as a string', files: { ...data, 'c.json': json({ lr: '0.1' }) }, args: train, exit: 1, says: 'config key "lr" must be a number > 0, got "0.1"' },
  { name: 'dim 1.5', files: { ...data, 'c.json': json({ dim: 1.5 }) }, args: train, exit: 1, says: 'config key "dim" must be an integer >= 1, got 1.5' },
  { name: 'dim null (not optional)', files: { ...data, 'c.json': json({ dim: null }) }, args: train, exit: 1, says: 'config key "dim" must be an integer >= 1, got null' },
  { name: 'epochs as a boolean', files: { ...data, 'c.json': json({ epochs: true }) }, args: train, exit: 1, says: 'config key "epochs" must be an integer >= 1, got true' },
  { name: 'model not a choice', files: { ...data, 'c.json': json({ model: 'gru4rec' }) }, args: train, exit: 1, says: 'config key "model" must be one of bpr|neumf, got "gru4rec"' },
  { name: 'dim 100000000 in a config file', files: { ...data, 'c.json': json({ dim: 100000000, epochs: 1 }) }, args: train, exit: 1, says: '--dim 100000000 is too large' },
  { name: 'tau-start -1', files: { ...withTeacher, 'c.json': json({ 'tau-start': -1 }) }, args: distill, exit: 1, says: 'config key "tau-start" must be a number > 0, got -1' },
  { name: 'rrd-temperature 0', files: { ...withTeacher, 'c.json': json({ 'rrd-temperature': 0 }) }, args: distill, exit: 1, says: 'config key "rrd-temperature" must be a number > 0, got 0' },
  { name: 'lambda-de -5', files: { ...withTeacher, 'c.json': json({ 'lambda-de': -5 }) }, args: distill, exit: 1, says: 'config key "lambda-de" must be a number > 0, got -5' },
  { name: 'de-threads as a number', files: { ...withTeacher, 'c.json': json({ 'de-threads': 2 }) }, args: distill, exit: 1, says: 'config key "de-threads" must be one of 1|2|auto, got 2' },
  { name: 'pipeline: lazy-adam for the distilled student is refused before any training', files: { ...data, 'c.json': json({ distill: { optimizer: 'lazy-adam' } }) }, args: [...pipeline, '--data', 'data'], exit: 1, says: '--distill-optimizer lazy-adam updates only the batch\'s rows of a BPR model trained alone; --method de-rrd adds distillation terms' },
  { name: 'pipeline: a misspelled key in a section', files: { 'c.json': json({ teacher: { dimm: 16 } }) }, args: pipeline, exit: 1, says: 'unknown config key "teacher.dimm" (did you mean "teacher.dim"?' },
  { name: 'pipeline: a key of another section', files: { 'c.json': json({ 'tau-start': 1 }) }, args: pipeline, exit: 1, says: '"tau-start" is a setting of "distill"' },
  { name: 'pipeline: a section that is not an object', files: { 'c.json': json({ teacher: 16 }) }, args: pipeline, exit: 1, says: 'config section "teacher" must be a JSON object' },
  { name: 'pipeline: an out-of-range value in a section', files: { 'c.json': json({ distill: { 'rrd-temperature': 0 } }) }, args: pipeline, exit: 1, says: 'config key "distill.rrd-temperature" must be a number > 0, got 0' },
  { name: 'pipeline: an unknown recipe', files: { 'c.json': json({ recipe: 'fast' }) }, args: pipeline, exit: 1, says: 'config key "recipe" must be one of demo|paper, got "fast"' },
  { name: 'pipeline: a teacher checkpoint that is not there', files: { ...data, 'c.json': json({ teacher: { checkpoint: 'nowhere' } }) }, args: [...pipeline, '--data', 'data'], exit: 1, says: '--teacher-checkpoint: no model card (card.json) in' },
  { name: 'data prepare: min-user -1', files: { ...users, 'c.json': json({ 'min-user': -1 }) }, args: ['data', 'prepare', '-i', 'users.dat', '-o', 'ds', '--config', 'c.json'], exit: 1, says: 'config key "min-user" must be an integer >= 0, got -1' },
  { name: 'data prepare: columns without an item', files: { ...users, 'c.json': json({ columns: ['user', 'rating'] }) }, args: ['data', 'prepare', '-i', 'users.dat', '-o', 'ds', '--config', 'c.json'], exit: 1, says: 'columns must include user and item' },
  { name: 'data prepare: a train key', files: { ...users, 'c.json': json({ dim: 8 }) }, args: ['data', 'prepare', '-i', 'users.dat', '-o', 'ds', '--config', 'c.json'], exit: 1, says: 'unknown config key "dim"' },
];
