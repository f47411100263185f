import type { Command } from 'commander';
import { InputError, loadDataset, readCard } from '@derrd/core';
import { DEFAULT_OPSET, MAX_OPSET, MIN_OPSET, exportCheckpoint, exportTriton, verifyParity } from '@derrd/export';
import { initBackend, loadCheckpoint } from '@derrd/train';
import { UsageError, emit, info, parseInteger } from '../output.js';

export function registerExportCommand(program: Command): void {
  program
    .command('export')
    .description('export a checkpoint to a self-describing ONNX model that returns the top-k items for users (inputs user_ids, k, exclude)')
    .argument('<checkpoint>', 'checkpoint directory (from `derrd train` or `derrd distill`)')
    .option('-o, --out <file>', 'output .onnx file; the raw-id maps go next to it as <name>.ids.json')
    .option('--triton <repository>', 'also (or only) write a Triton Inference Server model repository entry: <repository>/<name>/config.pbtxt and 1/model.onnx (onnxruntime backend, dynamic batching, k fixed at --k); see docs/serving.md')
    .option('--triton-name <name>', 'model name in the Triton repository (default: the checkpoint\'s name)')
    .option('--triton-max-batch <n>', 'Triton max_batch_size', '64')
    .option('--triton-instances <n>', 'Triton CPU instances (instance_group count)', '1')
    .option('--opset <n>', `ONNX opset (${MIN_OPSET}-${MAX_OPSET})`, String(DEFAULT_OPSET))
    .option('--k <n>', 'default k recorded in the model (k is an input of the graph; the --triton model always returns its top k)', '10')
    .option('--int8', 'store embedding tables as int8 with a per-row scale, dequantised in the graph', false)
    .option('--data <dir>', 'prepared data set for the id maps and --verify (default: the one in the model card)')
    .option('--verify', 'check parity with the trainer: same scores (atol 1e-5) and top-k ids for --verify-users users, with and without exclusions', false)
    .option('--verify-users <n>', 'users checked by --verify', '200')
    .option('--force', 'replace an existing output file', false)
    .option('--json', 'print the result as JSON', false)
    .action(async (checkpoint: string, opts: Record<string, string | boolean | undefined>) => {
      const k = parseInteger('--k', String(opts.k), 1);
      if (!opts.out && !opts.triton) throw new UsageError('give -o <file.onnx>, --triton <repository>, or both');
      if (opts.verify && !opts.out) throw new UsageError('--verify checks the -o model: give -o <file.onnx>');
      const started = performance.now();
      let triton: Awaited<ReturnType<typeof exportTriton>> | null = null;
      if (opts.triton) {
        triton = await exportTriton({
          checkpoint, repository: String(opts.triton), name: opts.tritonName as string | undefined, k, opset: parseInteger('--opset', String(opts.opset), 1),
          maxBatch: parseInteger('--triton-max-batch', String(opts.tritonMaxBatch), 1), instances: parseInteger('--triton-instances', String(opts.tritonInstances), 1),
          int8: Boolean(opts.int8), data: opts.data as string | undefined, force: Boolean(opts.force),
        });
        info(`Triton model repository entry ${triton.dir} (config.pbtxt, 1/model.onnx with k = ${k}, 1/model.ids.json); serve it with: tritonserver --model-repository=${String(opts.triton)}`);
      }
      if (!opts.out) {
        const tritonOutput = { triton: { dir: triton!.dir, name: triton!.name, model: triton!.modelPath, config: triton!.configPath, idMaps: triton!.idMapsPath, bytes: triton!.bytes, sha256: triton!.sha256, k } };
        emit({ json: Boolean(opts.json) }, tritonOutput, () => `exported ${triton!.modelPath} (${(triton!.bytes / 1e6).toFixed(2)} MB) for Triton in ${((performance.now() - started) / 1000).toFixed(1)} s`);
        return;
      }
      const result = await exportCheckpoint({
        checkpoint, out: String(opts.out), opset: parseInteger('--opset', String(opts.opset), 1), int8: Boolean(opts.int8),
        data: opts.data as string | undefined, defaultK: k, force: Boolean(opts.force),
      });
      const seconds = (performance.now() - started) / 1000;
      const parity: unknown[] = [];
      if (opts.verify) {
        await initBackend('auto');
        const ds = loadDataset((opts.data as string | undefined) ?? readCard(checkpoint).dataset.path);
        const { model } = loadCheckpoint(checkpoint, ds);
        const scorer = model.createScorer();
        const n = Math.min(ds.numUsers, parseInteger('--verify-users', String(opts.verifyUsers), 1));
        const users = Int32Array.from({ length: n }, (_v, r) => Math.floor((r * ds.numUsers) / n));
        const exclude = Array.from(users, (u) => Array.from(ds.trainItems.subarray(ds.trainIndptr[u], ds.trainIndptr[u + 1])));
        for (const ex of [undefined, exclude]) {
          const report = await verifyParity(result.path, (u) => scorer.scoreAll(u), ds.numItems, users, Math.min(k, ds.numItems), { exclude: ex, atol: result.int8 ? Infinity : 1e-5 });
          parity.push(report);
          info(`parity ${ex ? 'with' : 'without'} exclusions: ${n} users, max |score diff| ${report.maxScoreDiff.toExponential(2)}, top-${k} id mismatches ${report.idMismatches}${report.tiedMismatches ? ` (${report.tiedMismatches} at float ties)` : ''}${result.int8 ? ' (int8: scores differ by design)' : ''}`);
        }
        scorer.dispose();
        model.dispose();
        const failed = (parity as { ok: boolean; idMismatches: number }[]).some((p) => (result.int8 ? false : !p.ok));
        if (failed) throw new InputError(`parity check failed for ${result.path}`);
      }
      const output = {
        path: result.path, idMaps: result.idMapsPath, bytes: result.bytes, sha256: result.sha256, opset: result.opset, int8: result.int8, seconds, parity,
        ...(triton ? { triton: { dir: triton.dir, name: triton.name, model: triton.modelPath, config: triton.configPath, idMaps: triton.idMapsPath, k } } : {}),
      };
      emit({ json: Boolean(opts.json) }, output, () => `exported ${result.path} (${(result.bytes / 1e6).toFixed(2)} MB, opset ${result.opset}${result.int8 ? ', int8 tables' : ''}) in ${seconds.toFixed(1)} s; id maps ${result.idMapsPath}`);
    });
}
