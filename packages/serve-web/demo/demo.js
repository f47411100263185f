// The demo page: loads teacher and student, shows both top-10 lists with their overlap, measures latency.
import { loadRecommender } from '/lib/browser.js';

const $ = (id) => document.getElementById(id);
const config = await (await fetch('/config.json')).json();
const [teacher, student] = [await loadRecommender(config.teacher, { numThreads: config.threads }), await loadRecommender(config.student, { numThreads: config.threads })];
$('status').textContent = `crossOriginIsolated: ${globalThis.crossOriginIsolated}; onnxruntime-web WASM threads: ${student.threads}; ${teacher.numUsers} users × ${teacher.numItems} items`;
const describe = (m) => { const c = m.card?.model ?? {}; return `${c.kind ?? ''} d=${c.dim ?? '?'} (${m.card?.method?.name ?? ''})`; };
$('teacher-title').textContent = `Teacher: ${describe(teacher)}`;
$('student-title').textContent = `Student: ${describe(student)}`;

const select = $('user');
for (const id of teacher.userIds.slice(0, 500)) select.add(new Option(id, id));

async function show(userId) {
  const [t, s] = await Promise.all([teacher.recommend(userId, 10), student.recommend(userId, 10)]);
  const inStudent = new Set(s.items.map((x) => x.item));
  const inTeacher = new Set(t.items.map((x) => x.item));
  const fill = (list, rows, other) => {
    list.replaceChildren(...rows.map((x) => {
      const li = document.createElement('li');
      li.textContent = `item ${x.item} (${x.score.toFixed(3)})`;
      if (other.has(x.item)) li.className = 'both';
      return li;
    }));
  };
  fill($('teacher-list'), t.items, inStudent);
  fill($('student-list'), s.items, inTeacher);
  $('overlap').textContent = `overlap ${t.items.filter((x) => inStudent.has(x.item)).length}/10`;
}
select.addEventListener('change', () => show(select.value));
await show(select.value);

async function latency(model, runs) {
  const times = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    await model.recommendDense([r % model.numUsers], 10);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { p50: times[Math.floor(times.length / 2)], p95: times[Math.floor(times.length * 0.95)] };
}
const body = $('latency').tBodies[0];
for (const [name, model] of [['teacher', teacher], ['student', student]]) {
  await latency(model, 10);
  const runs = 100;
  const { p50, p95 } = await latency(model, runs);
  const row = body.insertRow();
  for (const v of [name, model.bytes.toLocaleString('en-US'), runs, p50.toFixed(3), p95.toFixed(3)]) row.insertCell().textContent = String(v);
}
globalThis.derrdDemo = { teacher, student };
document.body.dataset.ready = 'true';
