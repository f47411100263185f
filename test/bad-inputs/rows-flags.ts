/** Command-line flags out of range, of the wrong type, contradicting each other or the data. */
import { lines, type Row } from './corpus.ts';

const data = { data: { fixture: 'data' } } as const;
const model = { 'model.onnx': { fixture: 'model.onnx' }, 'model.ids.json': { fixture: 'model.ids.json' } } as const;
const serve = (...flags: string[]) => ['serve', '--model', 'model.onnx', '--workers', '0', ...flags];
const withTeacher = { data: { fixture: 'data' }, teacher: { fixture: 'bpr' } } as const;
const users = { 'users.dat': lines('2 10 11', '3 10 12 13', '1 11') };
const prepare = (...flags: string[]) => ['data', 'prepare', '-i', 'users.dat', '-o', 'ds', '--candidates', '0', ...flags];
const train = (...flags: string[]) => ['train', '--data', 'data', '-o', 'm', '--dim', '4', '--epochs', '1', '--backend', 'wasm', ...flags];
const distill = (...flags: string[]) => ['distill', '--teacher', 'teacher', '--data', 'data', '-o', 'd', '--dim', '2', '--epochs', '1', '--backend', 'wasm', '--de-threads', '1', ...flags];

export const FLAG_ROWS: Row[] = [
  { name: 'data prepare --min-user -1', files: users, args: prepare('--min-user', '-1'), exit: 2, says: '--min-user must be an integer >= 0, got "-1"' },
  { name: 'data prepare --seed x', files: users, args: prepare('--seed', 'x'), exit: 2, says: '--seed must be an integer >= 0, got "x"' },
  { name: 'data prepare --split sideways', files: users, args: prepare('--split', 'sideways'), exit: 2, says: '--split must be one of random-loo|last-loo' },
  { name: 'data prepare --candidates 1.5', files: users, args: prepare('--candidates', '1.5'), exit: 2, says: '--candidates must be an integer >= 0, got "1.5"' },
  { name: 'data prepare --columns with an unknown name', files: users, args: prepare('--columns', 'user,thing'), exit: 2, says: '--columns must be a comma-separated list of user|item|rating|timestamp|skip' },
  { name: 'data prepare --columns without a user column', files: users, args: prepare('--columns', 'item,rating'), exit: 1, says: 'columns must include user and item, got "item,rating"' },
  { name: 'data prepare --format xml', files: users, args: prepare('--format', 'xml'), exit: 2, says: '--format must be one of auto|users.dat|delimited|split|synthetic' },
  { name: 'data prepare --min-rating abc', files: users, args: prepare('--min-rating', 'abc'), exit: 2, says: '--min-rating must be a number, got "abc"' },
  { name: 'data prepare --format users.dat without --input', args: ['data', 'prepare', '--format', 'users.dat', '-o', 'ds'], exit: 2, says: '--format users.dat needs --input' },
  { name: 'data synth --items 1', args: ['data', 'synth', '-o', 's.tsv', '--items', '1'], exit: 2, says: '--items must be an integer >= 2, got "1"' },
  { name: 'data synth --mean-interactions 0', args: ['data', 'synth', '-o', 's.tsv', '--mean-interactions', '0'], exit: 2, says: '--mean-interactions must be a number > 0, got "0"' },
  { name: 'an unknown flag', files: data, args: train('--dimm', '8'), exit: 2, says: "unknown option '--dimm'" },
  { name: 'a required flag missing', files: data, args: ['train', '--data', 'data'], exit: 2, says: "required option '-o, --out <dir>' not specified" },
  { name: 'train --dim 0', files: data, args: train('--dim', '0'), exit: 2, says: '--dim must be an integer >= 1, got "0"' },
  { name: 'train --dim 100000000: refused before allocating, with the memory it needs', files: data, args: train('--dim', '100000000'), exit: 1, says: /--dim 100000000 is too large: bpr on 60 users × 80 items has 14,000,000,000 parameters, and training at batch size 1024 needs about [\d.]+ TiB, but this machine has [\d.]+ GiB: lower --dim \(up to about [\d,]+ fits\)/ },
  { name: 'train --dim 200000: more than the wasm heap at batch size 1024', files: data, args: train('--dim', '200000', '--batch-size', '1024'), exit: 1, says: /--dim 200000 is too large: .*needs about [\d.]+ GiB, but (the wasm backend holds at most 4\.0 GiB|this machine has)/ },
  { name: 'train --lr 0', files: data, args: train('--lr', '0'), exit: 2, says: '--lr must be a number > 0, got "0"' },
  { name: 'train --lr abc', files: data, args: train('--lr', 'abc'), exit: 2, says: '--lr must be a number > 0, got "abc"' },
  { name: 'train --lr Infinity', files: data, args: train('--lr', 'Infinity'), exit: 2, says: '--lr must be a number > 0, got "Infinity"' },
  { name: 'train --epochs 0', files: data, args: train('--epochs', '0'), exit: 2, says: '--epochs must be an integer >= 1, got "0"' },
  { name: 'train --batch-size 0', files: data, args: train('--batch-size', '0'), exit: 2, says: '--batch-size must be an integer >= 1' },
  { name: 'train --weight-decay -1', files: data, args: train('--weight-decay', '-1'), exit: 2, says: '--weight-decay must be a number >= 0' },
  { name: 'train --patience 0', files: data, args: train('--patience', '0'), exit: 2, says: '--patience must be an integer >= 1' },
  { name: 'train --negatives 0', files: data, args: train('--negatives', '0'), exit: 2, says: '--negatives must be an integer >= 1' },
  { name: 'train --select-cutoff 7', files: data, args: train('--select-cutoff', '7'), exit: 2, says: '--select-cutoff must be one of 5|10|20, got "7"' },
  { name: 'train --model sasrec', files: data, args: train('--model', 'sasrec'), exit: 2, says: '--model must be one of bpr|neumf' },
  { name: 'train --backend tpu', files: data, args: train('--backend', 'tpu'), exit: 2, says: '--backend must be one of auto|tensorflow|wasm|cpu' },
  { name: 'train --resume --force together', files: { ...data, m: { fixture: 'bpr' } }, args: train('--resume', '--force'), exit: 2, says: '--resume and --force exclude each other' },
  { name: 'train --resume with nothing to resume', files: data, args: train('--resume'), exit: 1, says: 'm: nothing to resume (no checkpoint there)' },
  { name: 'train --resume with another configuration', files: { ...data, m: { fixture: 'bpr' } }, args: ['train', '--data', 'data', '-o', 'm', '--dim', '4', '--epochs', '2', '--batch-size', '256', '--backend', 'wasm', '--lr', '0.5', '--resume'], exit: 1, says: '--resume with a different configuration (changed: config.lr)' },
  { name: 'distill --tau-start -1', failure: 4, files: withTeacher, args: distill('--tau-start', '-1', '--rrd-top-n', '20', '--rrd-k', '10'), exit: 2, says: '--tau-start must be a number > 0, got "-1"' },
  { name: 'distill --rrd-temperature 0', failure: 4, files: withTeacher, args: distill('--rrd-temperature', '0', '--rrd-top-n', '20', '--rrd-k', '10'), exit: 2, says: '--rrd-temperature must be a number > 0, got "0"' },
  { name: 'distill --lambda-de -5', failure: 4, files: withTeacher, args: distill('--lambda-de', '-5', '--rrd-top-n', '20', '--rrd-k', '10'), exit: 2, says: '--lambda-de must be a number > 0, got "-5"' },
  { name: 'distill --experts 0', files: withTeacher, args: distill('--experts', '0'), exit: 2, says: '--experts must be an integer >= 1' },
  { name: 'distill --rrd-sampling often', files: withTeacher, args: distill('--rrd-sampling', 'often'), exit: 2, says: '--rrd-sampling must be one of sample|top' },
  { name: 'distill --method xyz', files: withTeacher, args: distill('--method', 'xyz'), exit: 2, says: '--method must be one of' },
  { name: 'distill --rrd-k above --rrd-top-n', files: withTeacher, args: distill('--method', 'rrd', '--rrd-k', '60', '--rrd-top-n', '50'), exit: 1, says: '--rrd-k 60 exceeds --rrd-top-n 50' },
  { name: 'distill --rrd-top-n not below the item count', files: withTeacher, args: distill('--method', 'rrd', '--rrd-top-n', '80', '--rrd-k', '10'), exit: 1, says: '--rrd-top-n 80 must be below the number of items (80)' },
  { name: 'distill --method de on 80 items is not refused over --rrd-top-n (DE does not use it)', files: withTeacher, args: distill('--method', 'de', '--experts', '2'), exit: 0, says: 'method de', output: ['d'] },
  { name: 'distill --method de with a student of another base model', files: withTeacher, args: distill('--method', 'de', '--model', 'neumf'), exit: 1, says: 'the student must be a bpr like the teacher' },
  { name: 'distill --de-threads 3', files: withTeacher, args: distill('--de-threads', '3'), exit: 2, says: '--de-threads must be one of 1|2|auto, got "3"' },
  { name: 'distill with DERRD_DE_THREADS=many', files: withTeacher, args: distill('--de-threads', 'auto'), env: { DERRD_DE_THREADS: 'many' }, exit: 1, says: 'DERRD_DE_THREADS must be 1 or 2 (got "many")' },
  { name: 'distill --resume --force together', files: withTeacher, args: distill('--resume', '--force'), exit: 2, says: '--resume and --force exclude each other' },
  { name: 'evaluate --protocol weird', files: { ...data, m: { fixture: 'bpr' } }, args: ['evaluate', 'm', '--data', 'data', '--protocol', 'weird'], exit: 2, says: '--protocol must be one of sampled|full' },
  { name: 'compare --metrics AUC', files: { ...data, m: { fixture: 'bpr' } }, args: ['compare', 'm', 'm', '--data', 'data', '--metrics', 'AUC'], exit: 2, says: '--metrics: unknown metric "AUC"' },
  { name: 'curves --metric AUC', files: { m: { fixture: 'bpr' } }, args: ['curves', 'm', '--metric', 'AUC'], exit: 2, says: '--metric: unknown quantity "AUC"' },
  { name: 'teacher import --top-n for a safetensors teacher', files: { ...data, m: { fixture: 'bpr' } }, args: ['teacher', 'import', 'm/model.safetensors', '--data', 'data', '-o', 't', '--top-n', '5'], exit: 2, says: '--top-n and --signature apply to ONNX teachers only' },
  { name: 'teacher import --map without =', files: { ...data, m: { fixture: 'bpr' } }, args: ['teacher', 'import', 'm/model.safetensors', '--data', 'data', '-o', 't', '--map', 'user'], exit: 2, says: '--map entries are derrd-name=file-name, got "user"' },
  { name: 'pipeline --teacher-dim 0', args: ['pipeline', '-o', 'run', '--teacher-dim', '0'], exit: 2, says: '--teacher-dim must be an integer >= 1, got "0"' },
  { name: 'pipeline --recipe fast', args: ['pipeline', '-o', 'run', '--recipe', 'fast'], exit: 2, says: '--recipe must be one of demo|paper, got "fast"' },
  { name: 'pipeline --distill-rrd-k 0', args: ['pipeline', '-o', 'run', '--distill-rrd-k', '0'], exit: 2, says: '--distill-rrd-k must be an integer >= 1' },
  { name: 'serve --port 99999: refused before the model is loaded', files: model, args: serve('--port', '99999'), exit: 2, says: '--port must be a port from 0 to 65535 (0: any free port), got "99999"' },
  { name: 'serve --port -1', files: model, args: serve('--port', '-1'), exit: 2, says: '--port must be a port from 0 to 65535' },
  { name: 'serve --admin-port 70000', files: model, args: serve('--admin-port', '70000'), exit: 2, says: '--admin-port must be a port from 0 to 65535' },
  { name: 'serve --port 65535 without --admin-port (no port + 1)', files: model, args: serve('--port', '65535'), exit: 2, says: '--port 65535 leaves no port + 1 for the admin API: give --admin-port' },
  { name: 'serve --host 999.1.1.1', files: model, args: serve('--host', '999.1.1.1'), exit: 2, says: '--host 999.1.1.1 is not an IPv4 address' },
  { name: 'serve --workers -1', files: model, args: serve('--workers', '-1'), exit: 2, says: '--workers must be >= 0, got -1' },
  { name: 'serve --cold-start sometimes', files: model, args: serve('--cold-start', 'sometimes'), exit: 2, says: '--cold-start must be one of error|popular' },
  { name: 'serve a model that does not exist', args: ['serve', '--model', 'gone.onnx', '--workers', '0', '--port', '0'], exit: 1, says: 'gone.onnx: model file not found' },
];
