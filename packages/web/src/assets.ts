/**
 * Node-side helper for a web app's build: where onnxruntime-web's runtime files are in node_modules, and a copy of
 * them into a directory the app serves (the `wasmPaths` the browser library loads from). Not imported by the browser
 * library itself.
 */
import { copyFileSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';

/**
 * The files onnxruntime-web's WASM backend loads at run time: the module and, when onnxruntime-web is not bundled
 * (an import map, or esbuild's `onnxruntime-web-use-extern-wasm` condition), its loader. The JSEP/JSPI/asyncify
 * variants are for WebGPU/WebNN, which this library does not use.
 */
export const ORT_WASM_FILES = ['ort-wasm-simd-threaded.wasm', 'ort-wasm-simd-threaded.mjs'] as const;

/** onnxruntime-web's dist directory, as resolved from this package (the version @derrd/web depends on). */
export function ortDistDir(): string {
  const require = createRequire(import.meta.url);
  return dirname(require.resolve('onnxruntime-web/ort-wasm-simd-threaded.wasm'));
}

export interface CopiedAsset {
  file: string;
  bytes: number;
}

/** Copies ORT's runtime files into `dir` (created if missing) and returns what it wrote. */
export function copyOrtAssets(dir: string): CopiedAsset[] {
  const from = ortDistDir();
  const to = resolve(dir);
  if (existsSync(to) && !statSync(to).isDirectory()) throw Object.assign(new Error(`${dir} exists and is not a directory`), { derrdUserError: true });
  mkdirSync(to, { recursive: true });
  return ORT_WASM_FILES.map((name) => {
    const file = join(to, name);
    copyFileSync(join(from, name), file);
    return { file, bytes: statSync(file).size };
  });
}
