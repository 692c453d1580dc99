// #/jobs/<id> : live loss curve (train + eval), sparsity ramp and learning rate, throughput,
// attempts and why each ended, checkpoints with download links, events and the log tail.

import {getJSON} from './api.js';
import {h, fill, kv, table, stateBadge, fmtBytes, fmtCount, fmtNum, fmtTime, progressBar,
        seriesColor} from './dom.js';
import {lineChart} from './chart.js';

export function mount(root, [id]) {
  const head = h('section');
  const xToggle = h('select', {'aria-label': 'x axis'},
    h('option', {value: 'step'}, 'x: step'), h('option', {value: 'tokens'}, 'x: tokens'));
  const yLog = h('input', {type: 'checkbox', id: 'job-ylog'});
  const charts = h('section', {class: 'charts'});
  const attempts = h('section');
  const ckpts = h('section');
  const events = h('section');
  const log = h('section');
  fill(root, head, h('div', {class: 'controls'}, xToggle,
                     h('label', {for: 'job-ylog'}, yLog, ' log loss axis')),
       charts, ckpts, attempts, events, log);

  const loss = lineChart({title: 'Loss', xLabel: 'step', yLabel: 'loss', series: [
    {label: 'train', color: seriesColor(0)},
    {label: 'eval', color: seriesColor(1), points: true, line: true, size: 5}]}, [[], [], []]);
  const ramp = lineChart({title: 'Sparsity and learning rate', xLabel: 'step', yLabel: 'sparsity',
    height: 180, series: [{label: 'sparsity', color: seriesColor(2)},
                          {label: 'lr / max lr', color: seriesColor(3), dash: [4, 3]}]},
    [[], [], []]);
  loss.el.dataset.chart = 'loss';
  ramp.el.dataset.chart = 'ramp';
  fill(charts, loss.el, ramp.el);
  let curveUrl = '';
  const axisChanged = () => {
    const x = xToggle.value;
    loss.rebuild({xLabel: x, yLog: yLog.checked});
    ramp.rebuild({xLabel: x});
    curveUrl = '';
    refreshCurve();
  };
  xToggle.addEventListener('change', axisChanged);
  yLog.addEventListener('change', axisChanged);

  const refreshCurve = async () => {
    const x = xToggle.value;
    const url = `/api/v1/jobs/${encodeURIComponent(id)}/curve?max_points=2000&x=${x}`;
    const {body: c, changed} = await getJSON(url);
    if (!changed && url === curveUrl) return;
    curveUrl = url;
    const xs = c[x] || c.step || [];
    const lr = c.lr || [];
    const maxLr = Math.max(1e-30, ...lr.filter((v) => v !== null));
    loss.setData([xs, c.train_loss || [], c.eval_loss || []]);
    ramp.setData([xs, c.sparsity || [], lr.map((v) => (v === null ? null : v / maxLr))]);
    loss.el.dataset.points = String(c.total_points ?? xs.length);
  };

  return {
    async refresh() {
      const {body: j, changed} = await getJSON(`/api/v1/jobs/${encodeURIComponent(id)}`);
      if (changed) {
        renderHead(head, j);
        renderAttempts(attempts, j.attempts || []);
        renderCheckpoints(ckpts, j.checkpoints || []);
        renderEvents(events, j.events || []);
        fill(log, h('h2', {}, 'Log tail ', h('a', {href: `/api/v1/jobs/${j.id}/log`,
                                                    class: 'small'}, '(whole log)')),
             h('pre', {class: 'log', tabindex: 0}, j.log_tail || '(empty)'));
      }
      await refreshCurve();
    },
    unmount() { loss.destroy(); ramp.destroy(); },
  };
}

function renderHead(el, j) {
  fill(el,
    h('p', {class: 'crumbs'}, h('a', {href: '#/sweeps'}, 'Sweeps'), ' / ',
      j.sweep_id ? h('a', {href: `#/sweeps/${j.sweep_id}`}, 'sweep') : 'no sweep', ' /'),
    h('h1', {}, `Job ${String(j.id).slice(0, 12)}`, ' ',
      h('span', {'data-job-state': j.state}, stateBadge(j.state))),
    j.name ? h('p', {class: 'muted'}, j.name) : null,
    progressBar(j.total_steps ? j.step / j.total_steps : 0, 'job progress'),
    kv([['Id', h('code', {}, j.id)],
        ['Cell', `N=${fmtCount(j.n_params)}, S=${j.sparsity}, D=${fmtCount(j.tokens)}, ${j.structure}`],
        ['Step', `${j.step} / ${j.total_steps}`],
        ['Throughput', j.tokens_per_second === null || j.tokens_per_second === undefined
          ? '–' : `${fmtCount(j.tokens_per_second)} tokens/s`],
        ['Final loss', `train ${fmtNum(j.final_train_loss, 4)}, eval ${fmtNum(j.final_eval_loss, 4)}`],
        ['Worker', j.worker || '–'],
        ['Attempts', String(Array.isArray(j.attempts) ? j.attempts.length : j.attempts ?? 0)],
        ['Priority', String(j.priority ?? 0)], ['Updated', fmtTime(j.updated_ms)]]),
    h('p', {}, h('a', {class: 'button', href: `#/compare?jobs=${j.id}`}, 'Open in Compare')));
}

function renderAttempts(el, list) {
  fill(el, h('h2', {}, 'Attempts'), list.length ? table(
    ['#', 'Worker', 'Started', 'Ended', 'Outcome', 'Why'],
    list.map((a) => h('tr', {}, h('td', {}, String(a.attempt)), h('td', {}, a.worker || '–'),
      h('td', {}, fmtTime(a.started_ms)), h('td', {}, fmtTime(a.ended_ms)),
      h('td', {}, a.outcome || (a.ended_ms ? '–' : 'running')), h('td', {}, a.reason || ''))))
    : h('p', {class: 'muted'}, 'Not leased yet.'));
}

function renderCheckpoints(el, list) {
  fill(el, h('h2', {}, 'Checkpoints'), list.length ? table(
    ['Step', 'Size', 'SHA-256', 'Download'],
    list.map((c) => h('tr', {}, h('td', {}, String(c.step), c.final ? ' (final)' : ''),
      h('td', {}, fmtBytes(c.bytes)), h('td', {}, h('code', {class: 'small'}, (c.sha256 || '').slice(0, 16))),
      h('td', {}, h('a', {href: c.url, download: '', 'data-checkpoint': String(c.step)},
                    'download')))))
    : h('p', {class: 'muted'}, 'No checkpoint stored yet.'));
}

function renderEvents(el, list) {
  const recent = list.slice(-20).reverse();
  fill(el, h('h2', {}, 'Events'), recent.length ? table(['Time', 'Event', 'Detail'],
    recent.map((e) => h('tr', {}, h('td', {}, fmtTime(e.time_ms)), h('td', {}, e.kind),
                        h('td', {}, e.detail || '')))) : h('p', {class: 'muted'}, 'None.'));
}
