// Small DOM and formatting helpers shared by the pages. No framework: h() builds elements.

// h('a', {href: '#/'}, 'text', child...) -> HTMLElement. Attributes starting with "on" become
// listeners; `class`, `text`, `style` (object) and boolean attributes are handled.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'style' && typeof v === 'object') Object.assign(el.style, v);
    else if (k === 'text') el.textContent = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// Replaces the children of el.
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export const STATES = ['QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED'];

export function stateBadge(state) {
  return h('span', {class: `badge st-${state}`}, state || '?');
}

export function fmtNum(x, digits = 3) {
  if (x === null || x === undefined || Number.isNaN(x)) return '–';
  if (typeof x !== 'number') return String(x);
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1e4 || a < 1e-3) return x.toExponential(2);
  return Number(x.toPrecision(digits + 1)).toString();
}

// 1234567 -> "1.23M"
export function fmtCount(x) {
  if (x === null || x === undefined) return '–';
  const units = [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']];
  for (const [u, s] of units) if (Math.abs(x) >= u) return `${Number((x / u).toPrecision(3))}${s}`;
  return String(Math.round(x * 100) / 100);
}

export function fmtBytes(b) {
  if (b === null || b === undefined) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (b >= 1024 && i < units.length - 1) { b /= 1024; i++; }
  return `${i ? b.toFixed(1) : b} ${units[i]}`;
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '–';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

export function fmtTime(ms) {
  if (!ms) return '–';
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19) + 'Z';
}

export function progressBar(fraction, label) {
  const pct = Math.max(0, Math.min(1, fraction || 0)) * 100;
  return h('div', {class: 'progress', role: 'progressbar', 'aria-valuemin': 0,
                   'aria-valuemax': 100, 'aria-valuenow': pct.toFixed(0),
                   'aria-label': label || 'progress'},
           h('div', {class: 'progress-fill', style: {width: `${pct.toFixed(1)}%`}}),
           h('span', {class: 'progress-text'}, `${pct.toFixed(0)}%`));
}

// A key/value list: [[label, value], ...]
export function kv(pairs) {
  return h('dl', {class: 'kv'}, pairs.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

export function table(headers, rows, attrs = {}) {
  return h('div', {class: 'table-wrap'},
           h('table', attrs,
             h('thead', {}, h('tr', {}, headers.map((x) => h('th', {scope: 'col'}, x)))),
             h('tbody', {}, rows)));
}

// Viridis-like colour ramp, t in [0, 1].
const RAMP = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
export function rampColor(t) {
  const x = Math.max(0, Math.min(1, t)) * (RAMP.length - 1);
  const i = Math.min(RAMP.length - 2, Math.floor(x));
  const f = x - i;
  const c = RAMP[i].map((v, k) => Math.round(v + (RAMP[i + 1][k] - v) * f));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

// Distinct line colours for series.
const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b',
                 '#e377c2', '#7f7f7f', '#bcbd22'];
export function seriesColor(i) { return PALETTE[i % PALETTE.length]; }

export function sparsityLabel(s) { return `S=${fmtNum(s, 2)}`; }
