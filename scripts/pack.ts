/**
 * `npm run pack [-- <dir>] [--json]`: the publishable tarballs of every workspace (npm pack) in <dir>, default
 * dist-packages/; --json prints npm's description of each (files, sizes) instead of the table.
 * Refuses a build with outputs whose source is gone (tsc -b leaves them behind after a rename), which would ship stale
 * code: `npm run clean && npm run build` first.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const json = args.includes('--json');
const dest = resolve(args.find((a) => !a.startsWith('--')) ?? join(ROOT, 'dist-packages'));
const workspaces = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { workspaces: string[] }).workspaces;

const stale: string[] = [];
const walk = (dir: string, src: string) => {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path, join(src, entry.name));
    else if (entry.name.endsWith('.js') && !existsSync(join(src, entry.name.replace(/\.js$/, '.ts')))) stale.push(relative(ROOT, path));
  }
};
for (const ws of workspaces) if (existsSync(join(ROOT, ws, 'dist'))) walk(join(ROOT, ws, 'dist'), join(ROOT, ws, 'src'));
if (stale.length > 0) {
  process.stderr.write(`stale build outputs without a source (they would be published): ${stale.join(', ')}\nrun \`npm run clean && npm run build\`, then pack again\n`);
  process.exit(1);
}
mkdirSync(dest, { recursive: true });
const r = spawnSync('npm', ['pack', '--workspaces', '--json', '--pack-destination', dest], { cwd: ROOT, encoding: 'utf8' });
if (r.status !== 0) {
  process.stderr.write(r.stderr);
  process.exit(r.status ?? 1);
}
const packed = JSON.parse(r.stdout) as { name: string; filename: string; size: number; unpackedSize: number }[];
if (json) process.stdout.write(JSON.stringify(packed) + '\n');
else for (const p of packed) process.stdout.write(`${p.name.padEnd(22)} ${join(relative(process.cwd(), dest) || '.', p.filename)}  ${(p.size / 1e3).toFixed(1)} kB (${(p.unpackedSize / 1e3).toFixed(1)} kB unpacked)\n`);
