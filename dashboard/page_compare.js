// #/compare?jobs=a,b,c : several jobs' curves overlaid, one line per job; the x axis (step or
// tokens), linear or log axes, train or eval loss; jobs added by id or as a whole row (one N) or
// column (one S x D) of a sweep's grid.

import {getJSON} from './api.js';
import {h, fill, fmtCount, seriesColor} from './dom.js';
import {lineChart} from './chart.js';

const MAX_JOBS = 40;

export function mount(root, args, query, {navigate}) {
  const ids = (query.get('jobs') || '').split(',').map((s) => s.trim()).filter(Boolean)
    .slice(0, MAX_JOBS);
  const x = h('select', {'aria-label': 'x axis'}, h('option', {value: 'step'}, 'x: step'),
              h('option', {value: 'tokens'}, 'x: tokens'));
  const y = h('select', {'aria-label': 'loss'}, h('option', {value: 'train_loss'}, 'train loss'),
              h('option', {value: 'eval_loss'}, 'eval loss'));
  const logX = h('input', {type: 'checkbox', id: 'cmp-logx'});
  const logY = h('input', {type: 'checkbox', id: 'cmp-logy', checked: true});
  const chartHost = h('section', {class: 'charts'});
  const legend = h('ul', {class: 'job-list'});
  const picker = h('section', {class: 'picker'});
  fill(root, h('h1', {}, 'Compare'),
       h('div', {class: 'controls'}, x, y, h('label', {for: 'cmp-logx'}, logX, ' log x'),
         h('label', {for: 'cmp-logy'}, logY, ' log y')),
       chartHost, legend, picker);

  let chart = null;
  let curves = new Map();  // id -> curve body
  let jobs = new Map();    // id -> job summary
  const draw = () => {
    if (chart) chart.destroy();
    chart = null;
    if (!ids.length) { fill(chartHost, h('p', {class: 'muted'}, 'Pick jobs below.')); return; }
    const xs = [...new Set(ids.flatMap((id) => (curves.get(id) || {})[x.value] || []))]
      .sort((a, b) => a - b);
    const index = new Map(xs.map((v, i) => [v, i]));
    const data = [xs];
    const series = ids.map((id, i) => {
      const c = curves.get(id) || {};
      const col = new Array(xs.length).fill(null);
      (c[x.value] || []).forEach((v, k) => { col[index.get(v)] = (c[y.value] || [])[k] ?? null; });
      data.push(col);
      return {label: label(jobs.get(id), id), color: seriesColor(i)};
    });
    chart = lineChart({xLabel: x.value, yLabel: y.value.replace('_', ' '), xLog: logX.checked,
                       yLog: logY.checked, height: 340, series}, data);
    chart.el.dataset.chart = 'compare';
    fill(chartHost, chart.el);
    fill(legend, ids.map((id, i) => h('li', {},
      h('span', {class: 'swatch', style: {background: seriesColor(i)}}),
      h('a', {href: `#/jobs/${id}`}, label(jobs.get(id), id)), ' ',
      h('button', {type: 'button', class: 'link', 'aria-label': `remove ${id}`,
                   onclick: () => navigate(hashFor(ids.filter((j) => j !== id)))}, 'remove'))));
  };
  for (const el of [x, y, logX, logY]) el.addEventListener('change', draw);
  buildPicker(picker, ids, navigate);

  return {
    async refresh() {
      const answers = await Promise.all(ids.map(async (id) => {
        const e = encodeURIComponent(id);
        const [j, c] = await Promise.all([getJSON(`/api/v1/jobs/${e}`),
                                          getJSON(`/api/v1/jobs/${e}/curve?max_points=1000`)]);
        jobs.set(id, j.body);
        curves.set(id, c.body);
        return c.changed || j.changed;
      }));
      if (answers.some(Boolean) || (!chart && ids.length === 0)) draw();
    },
    unmount() { if (chart) chart.destroy(); },
  };
}

function label(j, id) {
  if (!j) return id.slice(0, 10);
  return `N=${fmtCount(j.n_params)} S=${j.sparsity} D=${fmtCount(j.tokens)}` +
    (j.structure && j.structure !== 'unstructured' ? ` ${j.structure}` : '');
}

function hashFor(list) { return `#/compare?jobs=${list.join(',')}`; }

// Adds jobs by id, or a row/column of a sweep's grid (sweeps listed lazily, first page).
function buildPicker(el, ids, navigate) {
  const input = h('input', {type: 'text', id: 'cmp-add', placeholder: 'job id, job id...',
                            size: 30});
  const add = h('form', {class: 'controls', onsubmit: (e) => {
    e.preventDefault();
    const more = input.value.split(/[\s,]+/).filter(Boolean);
    navigate(hashFor([...new Set([...ids, ...more])].slice(0, MAX_JOBS)));
  }}, h('label', {for: 'cmp-add'}, 'Add jobs '), input, h('button', {type: 'submit'}, 'Add'));
  const sweepSel = h('select', {'aria-label': 'sweep'}, h('option', {value: ''}, 'sweep...'));
  const sliceSel = h('select', {'aria-label': 'row or column', disabled: true});
  const use = h('button', {type: 'button', disabled: true}, 'Show this slice');
  let cells = [];
  sweepSel.addEventListener('focus', async () => {
    if (sweepSel.options.length > 1) return;
    const {body} = await getJSON('/api/v1/sweeps?page_size=100');
    sweepSel.append(...body.sweeps.map((s) => h('option', {value: s.id}, s.name || s.id)));
  }, {once: true});
  sweepSel.addEventListener('change', async () => {
    if (!sweepSel.value) return;
    const {body} = await getJSON(`/api/v1/sweeps/${encodeURIComponent(sweepSel.value)}`);
    cells = body.cells || [];
    const uniq = (f) => [...new Set(cells.map(f))];
    fill(sliceSel,
      h('optgroup', {label: 'row (one size N)'}, uniq((c) => c.n_params).sort((a, b) => a - b)
        .map((n) => h('option', {value: `n|${n}`}, `N=${fmtCount(n)}`))),
      h('optgroup', {label: 'column (one S and D)'}, uniq((c) => `${c.sparsity}|${c.tokens}`)
        .map((k) => { const [s, d] = k.split('|'); return h('option', {value: `c|${k}`}, `S=${s} D=${fmtCount(Number(d))}`); })));
    sliceSel.disabled = false;
    use.disabled = false;
  });
  use.addEventListener('click', () => {
    const [kind, a, b] = sliceSel.value.split('|');
    const picked = cells.filter((c) => (kind === 'n' ? String(c.n_params) === a
      : String(c.sparsity) === a && String(c.tokens) === b)).map((c) => c.job_id);
    navigate(hashFor(picked.slice(0, MAX_JOBS)));
  });
  fill(el, h('h2', {}, 'Pick jobs'), add,
       h('div', {class: 'controls'}, sweepSel, sliceSel, use),
       ids.length ? h('p', {}, h('button', {type: 'button', class: 'link',
                                            onclick: () => navigate('#/compare')}, 'Clear all')) : null);
}
