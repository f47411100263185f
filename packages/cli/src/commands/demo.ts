import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { InputError, loadDataset, type Dataset } from '@derrd/core';
import { readMetadataProps } from '@derrd/runtime';
import { serveDemo } from '@derrd/serve-web';
import { addSettingOptions, layer, readFlags } from '../flags.js';
import { info } from '../output.js';
import { DEMO_SETTINGS, defaultsOf } from '../settings.js';

/** The data set a model was trained on, from its card in the ONNX metadata, when that directory is still there. */
function cardDataset(model: string): { path: string; hash: string } | null {
  try {
    const card = JSON.parse(readMetadataProps(new Uint8Array(readFileSync(model))).metadata['derrd.card'] ?? 'null') as { dataset?: { path?: string; hash?: string } } | null;
    return card?.dataset?.path && card.dataset.hash ? { path: card.dataset.path, hash: card.dataset.hash } : null;
  } catch {
    return null;
  }
}

/** A user's training items in raw ids. */
function seenOf(ds: Dataset): (rawUserId: string) => string[] | undefined {
  return (raw) => {
    const u = ds.userIds.dense(raw);
    if (u === undefined) return undefined;
    return Array.from(ds.trainItems.subarray(ds.trainIndptr[u], ds.trainIndptr[u + 1]), (i) => ds.itemIds.rawId(i));
  };
}

export function registerDemoCommand(program: Command): void {
  const cmd = program
    .command('demo')
    .description('serve the browser demo (teacher vs student top-10 for any user, their seen items, in-browser latency; onnxruntime-web WASM) with COOP/COEP headers')
    .requiredOption('--teacher <file>', 'exported teacher .onnx (its id map next to it, as named in its metadata)')
    .requiredOption('--student <file>', 'exported student .onnx, e.g. the pipeline\'s onnx/de-rrd.onnx')
    .option('--data <dir>', 'prepared data set for the users\' seen items (default: the one in the student\'s model card, if it is still there)');
  addSettingOptions(cmd, DEMO_SETTINGS);
  cmd.action(async (opts: { teacher: string; student: string; data?: string }) => {
    const v = layer(defaultsOf(DEMO_SETTINGS), readFlags(cmd, DEMO_SETTINGS));
    const recorded = cardDataset(opts.student);
    let dataDir = opts.data ?? (recorded && existsSync(join(recorded.path, 'manifest.json')) ? recorded.path : undefined);
    let seen: Parameters<typeof serveDemo>[0]['seen'];
    if (dataDir) {
      const ds = loadDataset(dataDir);
      if (recorded && ds.manifest.hash !== recorded.hash) {
        if (opts.data) throw new InputError(`--data ${opts.data} is not the data set the student was trained on (hash ${ds.manifest.hash.slice(0, 12)}…, the model card says ${recorded.hash.slice(0, 12)}…)`);
        dataDir = undefined;
      } else {
        seen = { items: seenOf(ds), source: dataDir };
      }
    }
    info(dataDir ? `seen items from ${dataDir}` : 'no data set for seen items (pass --data <prepared dir>): the page shows recommendations without excluding them');
    const demo = await serveDemo({ models: { teacher: opts.teacher, student: opts.student }, host: String(v.host), port: v.port as number, threads: v.threads as number, seen });
    info(`demo on ${demo.url} (Ctrl-C to stop)`);
    process.stdout.write(JSON.stringify({ url: demo.url }) + '\n');
    process.on('SIGINT', () => void demo.close().then(() => process.exit(0)));
    process.on('SIGTERM', () => void demo.close().then(() => process.exit(0)));
  });
}
