/** `derrd-web-assets <dir>`: copies onnxruntime-web's runtime files into the directory a web app serves as wasmPaths. */
import { ORT_WASM_FILES, copyOrtAssets } from './assets.js';

const USAGE = `Usage: derrd-web-assets <dir>

Copies onnxruntime-web's runtime files (${ORT_WASM_FILES.join(', ')}) into <dir>,
e.g. public/ort, so the page can load them from its own origin: loadRecommender(url, { wasmPaths: '/ort/' }).
Run it after each install or upgrade (e.g. in your build script).`;

const args = process.argv.slice(2);
if (args.includes('-h') || args.includes('--help')) {
  process.stdout.write(USAGE + '\n');
} else if (args.length !== 1 || args[0].startsWith('-')) {
  process.stderr.write(`derrd-web-assets: give one target directory\n\n${USAGE}\n`);
  process.exitCode = 2;
} else {
  try {
    for (const { file, bytes } of copyOrtAssets(args[0])) process.stdout.write(`${file} (${(bytes / 1e6).toFixed(2)} MB)\n`);
  } catch (err) {
    process.stderr.write(`derrd-web-assets: ${(err as Error).message}\n`);
    process.exitCode = 1;
  }
}
