// The demo page: loads any two exported models (id maps by the names in their metadata, labels from their model
// cards), finds a user among all of them, shows the user's seen items beside both top-10 lists (excluded from them by
// default) with the lists' overlap, and measures in-browser latency.
import { loadRecommender } from '/lib/browser.js';

const $ = (id) => document.getElementById(id);
const config = await (await fetch('/config.json')).json();
const [teacher, student] = [await loadRecommender(config.teacher, { numThreads: config.threads }), await loadRecommender(config.student, { numThreads: config.threads })];
$('status').textContent = `crossOriginIsolated: ${globalThis.crossOriginIsolated}; onnxruntime-web WASM threads: ${student.threads}; ${teacher.numUsers} users × ${teacher.numItems} items`;

/** "bpr d=8, distilled from the teacher with de-rrd" from the model card; "not distilled" for method none */
function describe(model) {
  const card = model.card ?? {};
  const m = card.model ?? {};
  const method = card.method?.name;
  const how = !method ? 'method unknown' : method === 'none' ? 'not distilled' : `distilled with ${method}`;
  return `${m.kind ?? 'unknown model'} d=${m.dim ?? '?'}, ${how}`;
}
$('teacher-title').textContent = `Teacher: ${describe(teacher)}`;
$('student-title').textContent = `Student: ${describe(student)}`;
const distilled = student.card?.method?.name && student.card.method.name !== 'none';
$('heading').textContent = `Teacher vs ${distilled ? 'distilled ' : ''}student, computed in this browser`;

// a user box over all users: type to filter, pick from the matches
const users = teacher.userIds;
const search = $('user-search');
const select = $('user');
const MAX_MATCHES = 200;
function filterUsers() {
  const q = search.value.trim().toLowerCase();
  const matches = [];
  for (const id of users) {
    if (q === '' || id.toLowerCase().includes(q)) matches.push(id);
    if (matches.length === MAX_MATCHES) break;
  }
  const exact = users.find((id) => id.toLowerCase() === q);
  if (exact && !matches.includes(exact)) matches.unshift(exact);
  select.replaceChildren(...matches.map((id) => new Option(id, id)));
  $('matches').textContent = `${matches.length}${matches.length === MAX_MATCHES ? '+' : ''} of ${users.length} users`;
  return matches;
}

const excludeBox = $('exclude-seen');
if (!config.seen) {
  excludeBox.checked = false;
  excludeBox.disabled = true;
}

async function seenItems(userId) {
  if (!config.seen) return null;
  const r = await fetch(`/seen?user=${encodeURIComponent(userId)}`);
  return r.ok ? (await r.json()).items : [];
}

async function show(userId) {
  const seen = await seenItems(userId);
  const exclude = excludeBox.checked && seen ? seen : [];
  const [t, s] = await Promise.all([teacher.recommend(userId, 10, exclude), student.recommend(userId, 10, exclude)]);
  const inStudent = new Set(s.items.map((x) => x.item));
  const inTeacher = new Set(t.items.map((x) => x.item));
  const seenSet = new Set(seen ?? []);
  const fill = (list, rows, other) => {
    list.replaceChildren(...rows.map((x) => {
      const li = document.createElement('li');
      li.textContent = `item ${x.item} (${x.score.toFixed(3)})`;
      li.className = [other.has(x.item) ? 'both' : '', seenSet.has(x.item) ? 'seen' : ''].join(' ').trim();
      return li;
    }));
  };
  fill($('teacher-list'), t.items, inStudent);
  fill($('student-list'), s.items, inTeacher);
  $('seen-list').replaceChildren(...(seen ?? []).map((item) => Object.assign(document.createElement('li'), { textContent: `item ${item}` })));
  $('seen-title').textContent = seen ? `Seen in training (${seen.length})` : 'Seen in training';
  $('seen-note').textContent = seen ? (excludeBox.checked ? 'excluded from both lists' : 'not excluded: marked where they appear') : 'not available: start the demo with --data <prepared data set>';
  $('overlap').textContent = `overlap ${t.items.filter((x) => inStudent.has(x.item)).length}/10`;
  document.body.dataset.user = userId;
}

search.addEventListener('input', () => {
  const matches = filterUsers();
  if (matches.length > 0) { select.value = matches[0]; void show(matches[0]); }
});
select.addEventListener('change', () => show(select.value));
excludeBox.addEventListener('change', () => show(select.value));
filterUsers();
select.value = users[0];
await show(users[0]);

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
globalThis.derrdDemo = { teacher, student, show };
document.body.dataset.ready = 'true';
