/**
 * The pipeline report: report.json and one self-contained HTML file (Chart.js inlined, no network) with the accuracy
 * table in the paper's layout, model sizes, latency per runtime and batch size, accuracy-vs-latency and
 * accuracy-vs-size plots, training curves, and the settings and versions used.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { formatPValue, type EpochRecord, type Metrics } from '@derrd/core';

export interface ReportModel {
  name: string;
  role: 'teacher' | 'student' | 'distilled';
  kind: string;
  dim: number;
  method: string;
  parameters: number;
  /** the exported model, relative to the report */
  onnx: string;
  onnxBytes: number;
  /** the epoch whose weights were saved and exported */
  savedEpoch: number;
  /** the exported (saved) weights evaluated: every metric at the saved epoch */
  test: Metrics;
  valid: Metrics;
  /** the paper's reporting: for each N the test metrics of the epoch with the best validation HR@N (not one model) */
  bestEpochTest: Metrics;
  bestEpochs: Record<string, number>;
  history: Pick<EpochRecord, 'epoch' | 'loss' | 'valid' | 'test' | 'trainSeconds' | 'evalSeconds'>[];
  wallSeconds: number;
  latency: { runtime: string; provider: string; threads: number; batch: number; p50Us: number; p95Us: number }[];
}

/** A paired per-user test of `model` against `against` on the saved weights (derrd compare). */
export interface ReportComparison {
  model: string;
  against: string;
  metric: string;
  value: number;
  againstValue: number;
  diff: number;
  pValue: number;
}

export interface Report {
  title: string;
  createdAt: string;
  protocol: string;
  comparisons: ReportComparison[];
  dataset: { source: string; hash: string; counts: Record<string, number> };
  models: ReportModel[];
  settings: Record<string, unknown>;
  versions: Record<string, string>;
  seconds: Record<string, number>;
}

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
const fmt = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? '—' : x.toFixed(4));

export function renderReportHtml(report: Report): string {
  const require = createRequire(import.meta.url);
  // the UMD build is not in chart.js's exports map: find it next to the package's main file
  const chartJs = readFileSync(join(dirname(require.resolve('chart.js')), 'chart.umd.js'), 'utf8');
  const metricCols = [5, 10, 20].flatMap((n) => ['HR', 'MRR', 'NDCG'].map((m) => `${m}@${n}`));
  const head = (cols: string[]) => `<tr>${cols.map((c) => `<th>${esc(c)}</th>`).join('')}</tr>`;
  const accuracy = report.models.map((m) => `<tr><td>${esc(m.name)}</td><td>${esc(m.method)}</td><td>${m.savedEpoch}</td>${metricCols.map((c) => `<td>${fmt(m.test[c])}</td>`).join('')}</tr>`).join('');
  const bestEpoch = report.models.map((m) => `<tr><td>${esc(m.name)}</td><td>${esc(m.method)}</td>${metricCols.map((c) => `<td>${fmt(m.bestEpochTest[c])}</td>`).join('')}<td>${[5, 10, 20].map((n) => m.bestEpochs[`@${n}`] ?? '—').join(' / ')}</td></tr>`).join('');
  const sizes = report.models.map((m) => `<tr><td>${esc(m.name)}</td><td>${m.kind} d=${m.dim}</td><td>${m.parameters.toLocaleString('en-US')}</td><td>${m.onnxBytes.toLocaleString('en-US')}</td><td>${(m.wallSeconds / 60).toFixed(1)}</td><td>${m.history.length}</td></tr>`).join('');
  const comparisonRows = report.comparisons.map((c) => `<tr><td>${esc(c.model)}</td><td>${esc(c.against)}</td><td>${esc(c.metric)}</td><td>${fmt(c.value)}</td><td>${fmt(c.againstValue)}</td><td>${c.diff >= 0 ? '+' : ''}${c.diff.toFixed(4)}</td><td>${esc(formatPValue(c.pValue))}</td></tr>`).join('');
  const latencyRows = report.models.flatMap((m) => m.latency.map((l) => `<tr><td>${esc(m.name)}</td><td>${esc(l.runtime)}</td><td>${esc(l.provider)}</td><td>${l.threads}</td><td>${l.batch}</td><td>${l.p50Us.toFixed(0)}</td><td>${l.p95Us.toFixed(0)}</td></tr>`)).join('');
  const data = JSON.stringify({
    models: report.models.map((m) => ({
      name: m.name, hr5: m.test['HR@5'], bytes: m.onnxBytes, p50: m.latency.find((l) => l.batch === 1)?.p50Us ?? null,
      curve: m.history.map((h) => ({ x: h.epoch, y: h.valid['HR@5'] })),
    })),
  }).replace(/</g, '\\u003c');
  const counts = Object.entries(report.dataset.counts).map(([k, v]) => `${k} ${v.toLocaleString('en-US')}`).join(', ');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(report.title)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:0.5rem 0 1.5rem;font-size:0.9rem}th,td{border:1px solid #ccc;padding:0.25rem 0.5rem;text-align:right}
th:first-child,td:first-child,td:nth-child(2){text-align:left}th{background:#f3f3f3}
.charts{display:grid;grid-template-columns:1fr 1fr;gap:1.5rem}.chart{height:320px}
pre{background:#f7f7f7;padding:0.75rem;overflow:auto;font-size:0.8rem}
</style></head><body>
<h1>${esc(report.title)}</h1>
<p>Created ${esc(report.createdAt)}. Data: ${esc(report.dataset.source)} (${esc(counts)}; hash ${esc(report.dataset.hash.slice(0, 16))}…).</p>
<h2>Accuracy of the exported models (${esc(report.protocol)})</h2>
<p>Test metrics of the weights that were exported to ONNX (the epoch with the best validation HR@5), every metric at that epoch: what <code>derrd evaluate</code> gives for the shipped model.</p>
<table id="accuracy">${head(['model', 'method', 'epoch', ...metricCols])}${accuracy}</table>
<h2>The paper's reporting: best epoch per N</h2>
<p>For each N, the test metrics of the epoch with the best validation HR@N (the DE-RRD authors' reporting). The columns of one row can come from different epochs, so a row describes no single model.</p>
<table id="best-epoch">${head(['model', 'method', ...metricCols, 'epochs @5 / @10 / @20'])}${bestEpoch}</table>
<h2>Is the difference real?</h2>
<p>Paired test per evaluation user (two-sided, normal approximation) on each model's saved weights (best validation HR@5). It covers these users only, not other splits or training seeds.</p>
<table id="comparisons">${head(['model', 'against', 'metric', 'model value', 'against value', 'difference', 'p'])}${comparisonRows}</table>
<h2>Size and training</h2>
<table id="sizes">${head(['model', 'architecture', 'parameters', 'ONNX bytes', 'training min', 'epochs'])}${sizes}</table>
<h2>Latency (top-10)</h2>
<table id="latency">${head(['model', 'runtime', 'provider', 'threads', 'batch', 'p50 µs', 'p95 µs'])}${latencyRows}</table>
<div class="charts">
<div><h3>Accuracy vs latency (B = 1)</h3><div class="chart"><canvas id="accLat"></canvas></div></div>
<div><h3>Accuracy vs model size</h3><div class="chart"><canvas id="accSize"></canvas></div></div>
<div><h3>Training curves (validation HR@5)</h3><div class="chart"><canvas id="curves"></canvas></div></div>
</div>
<h2>Settings and versions</h2>
<pre>${esc(JSON.stringify({ settings: report.settings, versions: report.versions, seconds: report.seconds }, null, 2))}</pre>
<script>${chartJs}</script>
<script>
const report = ${data};
const colors = ['#d62728', '#1f77b4', '#2ca02c', '#9467bd', '#ff7f0e'];
const scatter = (id, key, label) => new Chart(document.getElementById(id), {
  type: 'scatter',
  data: { datasets: report.models.map((m, k) => ({ label: m.name, data: [{ x: m[key], y: m.hr5 }], backgroundColor: colors[k % colors.length], pointRadius: 7 })) },
  options: { animation: false, maintainAspectRatio: false, scales: { x: { type: 'logarithmic', title: { display: true, text: label } }, y: { title: { display: true, text: 'test HR@5' } } } },
});
scatter('accLat', 'p50', 'p50 latency at B = 1 (µs, onnxruntime-node CPU)');
scatter('accSize', 'bytes', 'ONNX model bytes');
new Chart(document.getElementById('curves'), {
  type: 'line',
  data: { datasets: report.models.map((m, k) => ({ label: m.name, data: m.curve, borderColor: colors[k % colors.length], pointRadius: 0, borderWidth: 2 })) },
  options: { animation: false, maintainAspectRatio: false, parsing: true, scales: { x: { type: 'linear', title: { display: true, text: 'epoch' } }, y: { title: { display: true, text: 'validation HR@5' } } } },
});
document.body.dataset.chartsReady = 'true';
</script>
</body></html>
`;
}
