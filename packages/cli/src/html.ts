/**
 * The self-contained HTML page of derrd's reports (the pipeline's and the sweep's): one file with its styles and
 * Chart.js inlined, so it opens anywhere without a network.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
export const fmt4 = (x: number | undefined | null) => (x === undefined || x === null || Number.isNaN(x) ? '—' : x.toFixed(4));
export const headRow = (cols: string[]) => `<tr>${cols.map((c) => `<th>${esc(c)}</th>`).join('')}</tr>`;

/** JSON for a <script> block (no "</script>" can end it early). */
export const scriptJson = (value: unknown) => JSON.stringify(value).replace(/</g, '\\u003c');

function chartJsSource(): string {
  const require = createRequire(import.meta.url);
  // the UMD build is not in chart.js's exports map: find it next to the package's main file
  return readFileSync(join(dirname(require.resolve('chart.js')), 'chart.umd.js'), 'utf8');
}

/** A page: `body` (HTML), then Chart.js, then `scripts` (each may draw charts); the body's data-charts-ready is set last. */
export function renderPage(title: string, body: string, scripts: string[]): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:0.5rem 0 1.5rem;font-size:0.9rem}th,td{border:1px solid #ccc;padding:0.25rem 0.5rem;text-align:right}
th:first-child,td:first-child,td:nth-child(2){text-align:left}th{background:#f3f3f3}
.charts{display:grid;grid-template-columns:1fr 1fr;gap:1.5rem}.chart{height:320px}
pre{background:#f7f7f7;padding:0.75rem;overflow:auto;font-size:0.8rem}
</style></head><body>
<h1>${esc(title)}</h1>
${body}
<script>${chartJsSource()}</script>
${scripts.map((s) => `<script>\n${s}\n</script>`).join('\n')}
<script>document.body.dataset.chartsReady = 'true';</script>
</body></html>
`;
}
