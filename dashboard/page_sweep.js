// #/sweeps/<id> : the sweep's cell grid, one table per structure, rows = model size N, columns =
// sparsity S x tokens D; each cell is a link to its job, coloured by state or by final loss
// (toggle), with a legend. Row and column headers open the compare page for that slice.

import {getJSON} from './api.js';
import {h, fill, kv, stateBadge, fmtCount, fmtDuration, fmtNum, fmtTime, progressBar, rampColor,
        STATES} from './dom.js';

export function mount(root, [id]) {
  const head = h('section');
  const controls = h('div', {class: 'controls', role: 'group', 'aria-label': 'colour cells by'});
  const legend = h('div', {class: 'legend', 'aria-label': 'legend'});
  const grid = h('section', {class: 'grid-area', 'aria-label': 'cell grid'});
  let mode = 'state';
  let sweep = null;
  let gridKey = '';
  const cells = new Map();  // job_id -> element
  const buttons = ['state', 'loss'].map((m) => h('button', {
    type: 'button', 'aria-pressed': String(m === mode), 'data-mode': m,
    onclick: () => { mode = m; buttons.forEach((b) => b.setAttribute('aria-pressed', String(b.dataset.mode === m))); paint(); },
  }, m === 'state' ? 'State' : 'Final loss'));
  fill(controls, h('span', {class: 'muted'}, 'Colour by '), buttons);
  fill(root, head, controls, legend, grid);

  const paint = () => {
    if (!sweep) return;
    const losses = sweep.cells.map(finalLoss).filter((x) => x !== null && x > 0);
    const lo = Math.min(...losses);
    const hi = Math.max(...losses);
    const scale = (x) => (hi > lo ? (Math.log(x) - Math.log(lo)) / (Math.log(hi) - Math.log(lo)) : 0.5);
    for (const c of sweep.cells) {
      const el = cells.get(c.job_id);
      if (!el) continue;
      const loss = finalLoss(c);
      el.dataset.state = c.state;
      el.className = `cell st-${c.state}` + (mode === 'loss' ? ' by-loss' : '');
      el.style.background = mode === 'loss' && loss !== null ? rampColor(scale(loss)) : '';
      el.title = `N=${fmtCount(c.n_params)} S=${c.sparsity} D=${fmtCount(c.tokens)} ` +
        `${c.structure}: ${c.state}, step ${c.step}/${c.total_steps}` +
        (loss !== null ? `, final loss ${fmtNum(loss, 4)}` : '');
      el.setAttribute('aria-label', el.title);
      el.textContent = mode === 'loss' ? (loss !== null ? fmtNum(loss, 2) : '') :
        c.state === 'RUNNING' && c.total_steps ? `${Math.floor(100 * c.step / c.total_steps)}%` : '';
    }
    fill(legend, mode === 'state'
      ? STATES.map((s) => h('span', {class: 'legend-item'}, h('span', {class: `swatch st-${s}`}), s))
      : losses.length ? [h('span', {}, fmtNum(lo, 3)),
                         h('span', {class: 'ramp', 'aria-hidden': 'true'}),
                         h('span', {}, fmtNum(hi, 3)),
                         h('span', {class: 'muted'}, ' final loss (eval, else train; log colour scale); blank: not finished')]
                      : h('span', {class: 'muted'}, 'No cell has a final loss yet.'));
  };

  return {
    async refresh() {
      const {body, changed} = await getJSON(`/api/v1/sweeps/${encodeURIComponent(id)}`);
      if (!changed && sweep) return;
      sweep = body;
      renderHead(head, sweep);
      const key = JSON.stringify(sweep.axes) + sweep.cells.length;
      if (key !== gridKey) {
        gridKey = key;
        cells.clear();
        renderGrid(grid, sweep, cells);
      }
      paint();
    },
    unmount() {},
  };
}

function finalLoss(c) {
  const v = c.final_eval_loss ?? c.final_train_loss;
  return v === undefined ? null : v;
}

function renderHead(el, s) {
  const by = s.jobs_by_state || {};
  fill(el,
    h('p', {class: 'crumbs'}, h('a', {href: '#/sweeps'}, 'Sweeps'), ' / '),
    h('h1', {}, s.name || s.id, ' ', stateBadge(s.state)),
    progressBar(s.progress, 'sweep progress'),
    kv([['Id', h('code', {}, s.id)], ['Created', fmtTime(s.created_ms)],
        ['Jobs', `${s.jobs_total ?? s.cells.length}: ` +
                 STATES.filter((x) => by[x]).map((x) => `${by[x]} ${x.toLowerCase()}`).join(', ')],
        ['ETA', s.eta_seconds === null || s.eta_seconds === undefined ? '–' : fmtDuration(s.eta_seconds)]]),
    h('p', {}, h('a', {href: `#/sweeps/${s.id}/law`, class: 'button'}, 'Scaling law fit'), ' ',
      h('a', {href: `#/compare?jobs=${s.cells.map((c) => c.job_id).slice(0, 24).join(',')}`,
              class: 'button'}, 'Compare curves')));
}

function renderGrid(el, s, cells) {
  const ax = s.axes || {};
  const uniq = (k) => [...new Set(s.cells.map((c) => c[k]))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  // An axis from the server is used when it covers every cell, else the cells' own values.
  const axis = (list, k) => (list && list.length && s.cells.every((c) => list.includes(c[k]))
    ? list : uniq(k));
  const sizes = axis(ax.sizes, 'n_params');
  const sps = axis(ax.sparsities, 'sparsity');
  const toks = axis(ax.tokens, 'tokens');
  const structs = axis(ax.structures, 'structure');
  const at = new Map();
  for (const c of s.cells) {
    const k = `${c.n_params}|${c.sparsity}|${c.tokens}|${c.structure}`;
    if (!at.has(k)) at.set(k, []);
    at.get(k).push(c);
  }
  const compareLink = (list, label) => h('a', {class: 'slice', title: `compare ${label}`,
    href: `#/compare?jobs=${list.map((c) => c.job_id).join(',')}`}, label);
  const tables = structs.map((st) => {
    const pick = (f) => s.cells.filter((c) => c.structure === st && f(c));
    const top = h('tr', {}, h('th', {scope: 'col', rowspan: 2}, 'N \\ S'),
      sps.map((sp) => h('th', {scope: 'colgroup', colspan: toks.length}, `S=${sp}`)));
    const sub = h('tr', {}, sps.flatMap((sp) => toks.map((d) => h('th', {scope: 'col'},
      compareLink(pick((c) => c.sparsity === sp && c.tokens === d), `D=${fmtCount(d)}`)))));
    const rows = sizes.map((n) => h('tr', {},
      h('th', {scope: 'row'}, compareLink(pick((c) => c.n_params === n), `N=${fmtCount(n)}`)),
      sps.flatMap((sp) => toks.map((d) => {
        const list = at.get(`${n}|${sp}|${d}|${st}`) || [];
        return h('td', {}, list.map((c) => {
          const a = h('a', {href: `#/jobs/${c.job_id}`, 'data-job': c.job_id, class: 'cell'});
          cells.set(c.job_id, a);
          return a;
        }));
      }))));
    return h('div', {class: 'grid-block'}, h('h2', {}, `Structure ${st}`),
      h('div', {class: 'table-wrap'}, h('table', {class: 'grid'}, h('thead', {}, top, sub),
        h('tbody', {}, rows))));
  });
  fill(el, tables, h('p', {class: 'muted small'},
    'Rows: model size N; columns: sparsity S, then tokens D. A header opens that row or column in Compare.'));
}
