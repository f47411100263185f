/**
 * The accuracy frontier of `derrd sweep` (and `derrd pipeline --sweep-dims`): students of several sizes from one
 * teacher, each row the exported weights' test metrics against their ONNX size and latency, with the H@5 ratio to the
 * teacher of the DE-RRD paper's Table 3 beside the paper's own. Pure: the rows in, JSON, Markdown and HTML out.
 */
import { formatPValue, type Metrics } from '@derrd/core';
import { esc, fmt4, headRow, scriptJson } from './html.js';
import type { LatencyRecord } from './latency.js';

/** One model of the frontier as measured: the teacher or a student at one size. */
export interface MeasuredModel {
  name: string;
  role: 'teacher' | 'student' | 'distilled';
  method: string;
  kind: string;
  dim: number;
  parameters: number;
  /** the checkpoint, relative to the report */
  checkpoint: string;
  /** trained elsewhere and found by its model card (--reuse), not trained by this sweep */
  reused: boolean;
  onnx: string;
  onnxBytes: number;
  savedEpoch: number;
  epochsRun: number;
  status: string;
  /** the exported (saved) weights evaluated: every metric at the saved epoch */
  test: Metrics;
  valid: Metrics;
  wallSeconds: number;
  /** median seconds of one epoch (training and evaluation) */
  secondsPerEpoch: number;
  latency: LatencyRecord[];
  /** a distilled student: the paired per-user test of its test HR@5 against the undistilled student of the same d */
  vsStudent?: { diff: number; pValue: number };
}

export interface FrontierRow extends MeasuredModel {
  /** d / the teacher's d */
  phi: number;
  /** test HR@5 / the teacher's test HR@5 */
  h5Ratio: number;
  /** the DE-RRD paper's Table 3 ratio for this base model and φ (DE-RRD rows at φ = 1, 0.5, 0.1 only) */
  paperH5Ratio: number | null;
}

export interface Frontier {
  protocol: string;
  teacher: { name: string; kind: string; dim: number };
  dims: number[];
  methods: string[];
  paper: { source: string; ratios: Record<string, Record<string, number>> };
  rows: FrontierRow[];
}

/**
 * The DE-RRD paper's Table 3 (Kang et al., CIKM 2020), CiteULike: the DE-RRD student's H@5 over the teacher's at
 * φ = 1.0 / 0.5 / 0.1, per base model (transcribed, see the method doc §8.1).
 */
export const PAPER_TABLE3: Frontier['paper'] = {
  source: 'DE-RRD paper, Table 3, CiteULike, DE-RRD student',
  ratios: { bpr: { '1': 1.03, '0.5': 1.01, '0.1': 0.94 }, neumf: { '1': 1.01, '0.5': 1.01, '0.1': 0.99 } },
};

function paperRatio(kind: string, method: string, phi: number): number | null {
  if (method !== 'de-rrd') return null;
  const entry = Object.entries(PAPER_TABLE3.ratios[kind] ?? {}).find(([p]) => Math.abs(Number(p) - phi) < 1e-9);
  return entry ? entry[1] : null;
}

/** The frontier's rows: the teacher first, then the runs in the order given, each with φ and its H@5 ratio. */
export function buildFrontier(protocol: string, teacher: MeasuredModel, runs: MeasuredModel[], dims: number[], methods: string[]): Frontier {
  const teacherH5 = teacher.test['HR@5'];
  const row = (m: MeasuredModel): FrontierRow => {
    const phi = m.dim / teacher.dim;
    return { ...m, phi, h5Ratio: m.test['HR@5'] / teacherH5, paperH5Ratio: m.role === 'teacher' ? null : paperRatio(m.kind, m.method, phi) };
  };
  return { protocol, teacher: { name: teacher.name, kind: teacher.kind, dim: teacher.dim }, dims, methods, paper: PAPER_TABLE3, rows: [row(teacher), ...runs.map(row)] };
}

const METRICS = [['H@5', 'HR@5'], ['N@5', 'NDCG@5'], ['H@10', 'HR@10'], ['N@10', 'NDCG@10'], ['H@20', 'HR@20'], ['N@20', 'NDCG@20']] as const;

/** The (provider, batch) pairs timed, in the order first seen: one latency column each. */
function latencyColumns(f: Frontier): { provider: string; batch: number; label: string }[] {
  const seen = new Map<string, { provider: string; batch: number; label: string }>();
  for (const r of f.rows) for (const l of r.latency) seen.set(`${l.provider} ${l.batch}`, { provider: l.provider, batch: l.batch, label: `${l.provider} B=${l.batch} p50 µs` });
  return [...seen.values()];
}

const p50 = (r: FrontierRow, provider: string, batch: number) => r.latency.find((l) => l.provider === provider && l.batch === batch)?.p50Us;
const phiText = (phi: number) => (Math.round(phi * 1000) / 1000).toString();
const ratioText = (x: number | null) => (x === null || Number.isNaN(x) ? '—' : x.toFixed(3));
const paperText = (x: number | null) => (x === null ? '—' : x.toFixed(2));
const vsText = (r: FrontierRow) => (r.vsStudent ? `${r.vsStudent.diff >= 0 ? '+' : ''}${r.vsStudent.diff.toFixed(4)} (p ${formatPValue(r.vsStudent.pValue)})` : '—');

/** The table's header and cells, shared by Markdown and HTML. */
function tableOf(f: Frontier): { head: string[]; rows: string[][] } {
  const lat = latencyColumns(f);
  const head = ['model', 'method', 'd', 'φ', 'parameters', 'ONNX bytes', 'epoch', ...METRICS.map(([label]) => label), 'H@5 / teacher', 'paper', 'H@5 vs student (same d)', ...lat.map((c) => c.label)];
  const rows = f.rows.map((r) => [
    r.name, r.role === 'teacher' ? 'teacher' : r.method, String(r.dim), phiText(r.phi), r.parameters.toLocaleString('en-US'), r.onnxBytes.toLocaleString('en-US'), String(r.savedEpoch),
    ...METRICS.map(([, key]) => fmt4(r.test[key])), ratioText(r.h5Ratio), paperText(r.paperH5Ratio), vsText(r),
    ...lat.map((c) => p50(r, c.provider, c.batch)?.toFixed(0) ?? '—'),
  ]);
  return { head, rows };
}

function trainingTable(f: Frontier): { head: string[]; rows: string[][] } {
  return {
    head: ['model', 'status', 'epochs', 'saved epoch', 's/epoch', 'training min', 'checkpoint'],
    rows: f.rows.map((r) => [r.name, r.status, String(r.epochsRun), String(r.savedEpoch), r.secondsPerEpoch.toFixed(1), (r.wallSeconds / 60).toFixed(1), `${r.checkpoint}${r.reused ? ' (reused)' : ''}`]),
  };
}

const explanation = (f: Frontier) => [
  `Test metrics of the exported weights (each run's epoch with the best validation HR@5; ${f.protocol}), every metric at that epoch.`,
  `φ = d / the teacher's d (${f.teacher.dim}); "H@5 / teacher" is the row's test H@5 over the teacher's; "paper" is the same ratio in the ${f.paper.source}`,
  `(${Object.entries(f.paper.ratios).map(([kind, r]) => `${kind}: ${Object.entries(r).map(([p, x]) => `${x} at φ = ${p}`).join(', ')}`).join('; ')}), shown beside the DE-RRD rows of the same base model and φ.`,
  '"H@5 vs student": the difference to the undistilled student of the same d with a paired per-user test (these users only, one training seed).',
  'Latency: p50 of top-10 per call on dense user ids after 10 warm-up runs (cpu: onnxruntime-node; wasm: onnxruntime-web in Node).',
].join(' ');

export function renderFrontierMarkdown(f: Frontier, title?: string): string {
  const md = (t: { head: string[]; rows: string[][] }) => [`| ${t.head.join(' | ')} |`, `|${t.head.map(() => '---').join('|')}|`, ...t.rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
  return [...(title ? [`# ${title}`, ''] : []), explanation(f), '', md(tableOf(f)), '', '## Training', '', md(trainingTable(f)), ''].join('\n');
}

/** The frontier as an HTML section (tables and charts) and the script that draws its charts (run after Chart.js). */
export function renderFrontierSection(f: Frontier): { html: string; script: string } {
  const table = (id: string, t: { head: string[]; rows: string[][] }) => `<table id="${id}">${headRow(t.head)}${t.rows.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('')}</table>`;
  const lat = latencyColumns(f);
  const charts = [{ id: 'frontier-bytes', title: 'Test HR@5 vs ONNX bytes' }, ...lat.map((c) => ({ id: `frontier-${c.provider}-b${c.batch}`, title: `Test HR@5 vs p50 latency, ${c.provider === 'wasm' ? 'onnxruntime-web (wasm)' : `onnxruntime-node (${c.provider})`}, B = ${c.batch}` }))];
  const latencyRows = f.rows.flatMap((r) => r.latency.map((l) => [r.name, l.runtime, l.provider, String(l.threads), String(l.batch), l.p50Us.toFixed(0), l.p95Us.toFixed(0)]));
  const html = `<h2 id="frontier-title">Accuracy frontier: students of ${f.dims.length} sizes from the ${esc(f.teacher.kind)} d=${f.teacher.dim} teacher</h2>
<p>${esc(explanation(f))}</p>
${table('frontier', tableOf(f))}
<div class="charts">
${charts.map((c) => `<div><h3>${esc(c.title)}</h3><div class="chart"><canvas id="${c.id}"></canvas></div></div>`).join('\n')}
</div>
<h3>Training of each size</h3>
${table('frontier-training', trainingTable(f))}
<h3>Latency of each size (top-10)</h3>
${table('frontier-latency', { head: ['model', 'runtime', 'provider', 'threads', 'batch', 'p50 µs', 'p95 µs'], rows: latencyRows })}`;
  const data = scriptJson({
    methods: f.methods,
    lat: lat.map((c) => ({ id: `frontier-${c.provider}-b${c.batch}`, provider: c.provider, batch: c.batch, label: `p50 latency (µs) at B = ${c.batch}` })),
    rows: f.rows.map((r) => ({ name: r.name, role: r.role, method: r.method, dim: r.dim, hr5: r.test['HR@5'], bytes: r.onnxBytes, latency: r.latency.map((l) => ({ provider: l.provider, batch: l.batch, p50: l.p50Us })) })),
  });
  // in a block: the pipeline's own chart script declares names of its own at the top level
  const script = `{
const frontier = ${data};
const colors = ['#1f77b4', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf', '#bcbd22'];
const xOf = (r, provider, batch) => provider === undefined ? r.bytes : (r.latency.find((l) => l.provider === provider && l.batch === batch) || {}).p50;
const draw = (id, label, provider, batch) => {
  const series = frontier.methods.map((method, k) => ({
    label: method === 'none' ? 'student (none)' : method, showLine: true, borderColor: colors[k % colors.length], backgroundColor: colors[k % colors.length], pointRadius: 5,
    data: frontier.rows.filter((r) => r.role !== 'teacher' && r.method === method).sort((a, b) => a.dim - b.dim).map((r) => ({ x: xOf(r, provider, batch), y: r.hr5, d: r.dim })),
  }));
  const teacher = frontier.rows.filter((r) => r.role === 'teacher').map((r) => ({ x: xOf(r, provider, batch), y: r.hr5, d: r.dim }));
  series.push({ label: 'teacher', data: teacher, backgroundColor: '#d62728', borderColor: '#d62728', pointStyle: 'star', pointRadius: 11 });
  new Chart(document.getElementById(id), {
    type: 'scatter',
    data: { datasets: series },
    options: {
      animation: false, maintainAspectRatio: false,
      plugins: { tooltip: { callbacks: { label: (c) => c.dataset.label + ' d=' + c.raw.d + ': HR@5 ' + c.raw.y.toFixed(4) } } },
      scales: { x: { type: 'logarithmic', title: { display: true, text: label } }, y: { title: { display: true, text: 'test HR@5' } } },
    },
  });
};
draw('frontier-bytes', 'ONNX model bytes');
for (const c of frontier.lat) draw(c.id, c.label, c.provider, c.batch);
}`;
  return { html, script };
}
