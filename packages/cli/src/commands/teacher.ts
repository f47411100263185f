/**
 * `derrd teacher import`: a teacher trained elsewhere as a checkpoint the distillers accept. safetensors tables
 * (BPR-MF, NeuMF) become an ordinary checkpoint; an ONNX model becomes a ranking teacher for RRD, RD and CD.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { InputError, decodeSafetensors, loadDataset, round4, sha256 } from '@derrd/core';
import { openScoringModel, type ScoringSignature } from '@derrd/runtime';
import { importRankingTeacher, importTensorTeacher, initBackend, readTeacherIds, type BackendRequest, type ImportResult, type ModelKind } from '@derrd/train';
import { addSettingOptions, layer } from '../flags.js';
import { emit, info, UsageError } from '../output.js';
import { Progress } from '../progress.js';
import { BACKEND_SETTING, TEACHER_IMPORT_SETTINGS, defaultsOf, type Setting } from '../settings.js';
import { givenSettings } from './train.js';

const SETTINGS: readonly Setting[] = [...TEACHER_IMPORT_SETTINGS, BACKEND_SETTING];

/** "user=a,item=b" → {user: "a", item: "b"} */
function parseMap(entries: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of entries ?? []) {
    const eq = e.indexOf('=');
    if (eq <= 0 || eq === e.length - 1) throw new UsageError(`--map entries are derrd-name=file-name, got "${e}"`);
    out[e.slice(0, eq).trim()] = e.slice(eq + 1).trim();
  }
  return out;
}

export function registerTeacherCommands(program: Command): void {
  const teacher = program.command('teacher').description('bring your own teacher: import one trained elsewhere (PyTorch, a GPU cluster) for `derrd distill`');
  const cmd = teacher
    .command('import')
    .description('turn a safetensors teacher (BPR-MF or NeuMF tables, rows in raw-id order) or an ONNX scoring model into a checkpoint `derrd distill` accepts; evaluates it on the data set')
    .argument('<file>', 'model.safetensors (BPR-MF: user, item; NeuMF: user_gmf, item_gmf, user_mlp, item_mlp, mlp_w, mlp_b, out_w, out_b) or model.onnx')
    .requiredOption('--data <dir>', 'prepared data set the teacher will teach (from `derrd data prepare`)')
    .requiredOption('-o, --out <dir>', 'checkpoint directory to write, e.g. models/my-teacher')
    .option('--ids <file>', 'JSON {"users": [...], "items": [...]}: the raw id of each table row / model index, in order (default for a derrd ONNX model: its <name>.ids.json)')
    .option('--user-ids <file>', 'instead of --ids: one raw user id per line, in row order')
    .option('--item-ids <file>', 'instead of --ids: one raw item id per line, in row order')
    .option('--force', 'replace the output directory if it exists', false)
    .option('--json', 'print the model card as JSON', false);
  addSettingOptions(cmd, SETTINGS);
  cmd.action(async (file: string, opts: Record<string, string | boolean | undefined>, command: Command) => {
    const v = layer(defaultsOf(SETTINGS), givenSettings(command, SETTINGS));
    if (!existsSync(file) || statSync(file).isDirectory()) throw new InputError('teacher file not found', { file });
    const ext = extname(file).toLowerCase();
    if (ext !== '.safetensors' && ext !== '.onnx') throw new InputError('expected a .safetensors file (tensor teacher) or an .onnx model (scoring teacher)', { file });
    const dataset = loadDataset(String(opts.data));
    const out = String(opts.out);
    if (existsSync(out) && !opts.force) throw new InputError('output directory exists (use --force to replace it)', { file: out });
    const map = parseMap(v.map as string[] | undefined);
    const bytes = readFileSync(file);
    const origin = { file, sha256: sha256(bytes) };
    let result: ImportResult;
    if (ext === '.safetensors') {
      if (v['top-n'] !== defaultsOf(SETTINGS)['top-n'] || v.signature !== 'auto') throw new UsageError('--top-n and --signature apply to ONNX teachers only');
      const backend = await initBackend(v.backend as BackendRequest);
      const ids = readTeacherIds({ ids: opts.ids as string | undefined, userIds: opts.userIds as string | undefined, itemIds: opts.itemIds as string | undefined });
      const { tensors } = decodeSafetensors(new Uint8Array(bytes), file);
      result = await importTensorTeacher({
        dataset, datasetPath: resolve(String(opts.data)), tensors, ids, kind: v.model as ModelKind | undefined, map, origin, out, force: Boolean(opts.force),
        backend: { name: backend.name, tfjsVersion: backend.tfjsVersion, simd: backend.simd, threads: backend.threads },
      });
    } else {
      if (v.model !== undefined) throw new UsageError('--model applies to safetensors teachers (an ONNX teacher is used through its ranking)');
      const unknown = Object.keys(map).filter((k) => !['user', 'item', 'score'].includes(k));
      if (unknown.length > 0) throw new UsageError(`--map for an ONNX teacher names its inputs and output: user=…, item=…, score=… (not ${unknown.join(', ')})`);
      const model = await openScoringModel(file, { signature: v.signature === 'auto' ? undefined : v.signature as ScoringSignature, names: map, threads: v.threads as number });
      try {
        let idsPath = opts.ids as string | undefined;
        if (!idsPath && !opts.userIds && model.metadata['derrd.id_maps']) idsPath = join(dirname(file), basename(model.metadata['derrd.id_maps']));
        const ids = readTeacherIds({ ids: idsPath, userIds: opts.userIds as string | undefined, itemIds: opts.itemIds as string | undefined });
        info(`ONNX teacher ${file}: ${model.signature} (${Object.entries(model.names).map(([k, n]) => `${k} ${n}`).join(', ')}), ${ids.users.length} users × ${ids.items.length} items in ${ids.source}`);
        const bar = new Progress('scoring', dataset.numUsers);
        const dim = Number(model.metadata['derrd.dim']);
        result = await importRankingTeacher({
          dataset, datasetPath: resolve(String(opts.data)), ids, topN: v['top-n'] as number, out, force: Boolean(opts.force),
          score: (users, numItems) => model.scoreAll(users, numItems),
          dim: Number.isInteger(dim) && dim > 0 ? dim : undefined,
          origin: { ...origin, signature: model.signature, names: model.names },
          backend: { name: 'onnxruntime-node', tfjsVersion: 'none', threads: v.threads as number },
          onProgress: (done, total, phase) => bar.update(phase === 'ranking' ? done : Math.round(done * dataset.numUsers / total), phase),
        });
        bar.done();
      } finally {
        await model.close();
      }
    }
    const { card, evaluation } = result;
    emit({ json: Boolean(opts.json) }, card, () => [
      `imported ${file} → ${out}: ${card.model.kind}${card.model.dim ? ` d=${card.model.dim}` : ''}${card.origin?.topN ? `, its top-${card.origin.topN} ranking per user (for RRD, RD, CD)` : `, ${card.model.parameters.toLocaleString('en-US')} parameters`}`,
      ...(card.origin?.extra && (card.origin.extra.users > 0 || card.origin.extra.items > 0) ? [`the teacher's ${card.origin.extra.users} users and ${card.origin.extra.items} items outside the data set are left out`] : []),
      ...(card.origin?.transposed?.length ? [`transposed from PyTorch's [out, in]: ${card.origin.transposed.join(', ')}`] : []),
      `evaluated on ${evaluation.users} users (${evaluation.protocol} protocol): test HR@5 ${round4(evaluation.test['HR@5'])}  NDCG@10 ${round4(evaluation.test['NDCG@10'])}  HR@10 ${round4(evaluation.test['HR@10'])}`,
      `distil from it: derrd distill --teacher ${out} --data ${String(opts.data)} --method ${card.origin?.topN ? 'rrd' : 'de-rrd'} --out <dir>`,
    ].join('\n'));
  });
}
