// #/sweeps/<id>/law : the fitted law against the measured final losses: loss against N per
// sparsity (log-log, one token budget at a time), measured against predicted with residuals,
// the coefficients with their intervals, held-out error, S_opt over (N, D); a Refit button.

import {getJSON, postJSON, ApiError} from './api.js';
import {h, fill, kv, table, fmtCount, fmtNum, rampColor, seriesColor, sparsityLabel} from './dom.js';
import {lineChart} from './chart.js';

export function mount(root, [id]) {
  const url = `/api/v1/sweeps/${encodeURIComponent(id)}/fit`;
  const status = h('p', {class: 'muted', 'aria-live': 'polite'});
  const refit = h('button', {type: 'button', class: 'button'}, 'Refit');
  const body = h('div');
  let charts = [];
  let fit = null;
  let tokens = null;
  fill(root, h('p', {class: 'crumbs'}, h('a', {href: '#/sweeps'}, 'Sweeps'), ' / ',
                h('a', {href: `#/sweeps/${id}`}, 'sweep'), ' /'),
       h('h1', {}, 'Scaling law fit'), h('div', {class: 'controls'}, refit, status), body);

  const render = () => {
    charts.forEach((c) => c.destroy());
    charts = [];
    const ds = [...new Set(fit.points.map((p) => p.tokens))].sort((a, b) => a - b);
    if (!ds.includes(tokens)) tokens = ds[ds.length - 1];
    const pick = h('select', {'aria-label': 'token budget',
      onchange: (e) => { tokens = Number(e.target.value); render(); }},
      ds.map((d) => h('option', {value: d, selected: d === tokens}, `D=${fmtCount(d)}`)));
    const perS = perSparsityChart(fit.points.filter((p) => p.tokens === tokens));
    const mvp = measuredVsPredicted(fit.points);
    charts.push(perS, ...mvp);
    fill(body,
      h('section', {}, h('h2', {}, 'Loss against size, per sparsity'),
        h('div', {class: 'controls'}, pick), perS.el),
      h('section', {}, h('h2', {}, 'Measured against fitted'), mvp.map((c) => c.el)),
      h('section', {class: 'two'}, coefficients(fit), heldOut(fit)),
      h('section', {}, h('h2', {}, 'Optimal sparsity S_opt over size and tokens'), contours(fit.contours)),
      h('section', {}, h('h2', {}, 'Points'), pointsTable(fit.points)));
  };

  refit.addEventListener('click', async () => {
    refit.disabled = true;
    status.textContent = 'fitting...';
    try {
      fit = await postJSON(url);
      status.textContent = 'refitted';
      render();
    } catch (err) {
      status.textContent = `refit failed: ${err.message}`;
    } finally {
      refit.disabled = false;
    }
  });

  return {
    async refresh() {
      try {
        const {body: f, changed} = await getJSON(url);
        if (!changed && fit) return;
        fit = f;
        render();
      } catch (err) {
        if (!(err instanceof ApiError) || err.status !== 404) throw err;
        fill(body, h('p', {class: 'muted'}, err.message));
      }
    },
    unmount() { charts.forEach((c) => c.destroy()); },
  };
}

function perSparsityChart(points) {
  const sps = [...new Set(points.map((p) => p.sparsity))].sort((a, b) => a - b);
  const ns = [...new Set(points.map((p) => p.n_params))].sort((a, b) => a - b);
  const series = [];
  const data = [ns];
  sps.forEach((s, i) => {
    const at = (k) => ns.map((n) => {
      const p = points.find((q) => q.sparsity === s && q.n_params === n);
      return p ? p[k] : null;
    });
    series.push({label: `${sparsityLabel(s)} measured`, color: seriesColor(i), points: true, size: 8});
    data.push(at('measured'));
    series.push({label: `${sparsityLabel(s)} law`, color: seriesColor(i), dash: [5, 3]});
    data.push(at('predicted'));
  });
  const c = lineChart({xLabel: 'N (parameters)', yLabel: 'final loss', xLog: true, yLog: true,
                       series}, data);
  c.el.dataset.chart = 'law';
  return c;
}

function measuredVsPredicted(points) {
  const sorted = [...points].sort((a, b) => a.predicted - b.predicted);
  const xs = sorted.map((p) => p.predicted);
  const fitted = lineChart({xLabel: 'predicted loss', yLabel: 'measured loss', xLog: true,
    yLog: true, series: [
      {label: 'fitted points', color: seriesColor(0), points: true, size: 7},
      {label: 'held out', color: seriesColor(1), points: true, size: 9, fill: 'transparent'},
      {label: 'measured = predicted', color: '#888', dash: [4, 4]}]},
    [xs, sorted.map((p) => (p.held_out ? null : p.measured)),
     sorted.map((p) => (p.held_out ? p.measured : null)), xs]);
  const resid = lineChart({xLabel: 'predicted loss', yLabel: 'residual', xLog: true, height: 170,
    series: [{label: 'residual', color: seriesColor(2), points: true, size: 6},
             {label: 'zero', color: '#888', dash: [4, 4]}]},
    [xs, sorted.map((p) => p.residual), xs.map(() => 0)]);
  return [fitted, resid];
}

function coefficients(fit) {
  const iv = fit.intervals || {};
  const rows = Object.entries(fit.coefficients || {}).map(([k, v]) => h('tr', {},
    h('th', {scope: 'row'}, k), h('td', {}, fmtNum(v, 4)),
    h('td', {}, iv[k] ? `[${fmtNum(iv[k][0], 4)}, ${fmtNum(iv[k][1], 4)}]` : '–')));
  return h('div', {}, h('h2', {}, 'Coefficients'),
    table(['Name', 'Value', fit.intervals ? 'Interval' : 'Interval (none computed)'], rows),
    kv([['Objective', fmtNum(fit.objective, 4)]]));
}

function heldOut(fit) {
  const ho = fit.held_out;
  return h('div', {}, h('h2', {}, 'Held-out error'), ho
    ? kv([['Mean |rel. error|', `${fmtNum(100 * ho.mean_abs_rel_error, 3)} %`],
          ['Max |rel. error|', `${fmtNum(100 * ho.max_abs_rel_error, 3)} %`]])
    : h('p', {class: 'muted'}, 'No point was held out.'));
}

function contours(c) {
  if (!c || !c.sizes || !c.sizes.length) return h('p', {class: 'muted'}, 'Not computed.');
  const flat = c.s_opt.flat().filter((v) => v !== null);
  const lo = Math.min(...flat);
  const hi = Math.max(...flat);
  const t = (v) => (hi > lo ? (v - lo) / (hi - lo) : 0.5);
  const rows = c.sizes.map((n, i) => h('tr', {}, h('th', {scope: 'row'}, `N=${fmtCount(n)}`),
    c.tokens.map((d, j) => {
      const v = c.s_opt[i] ? c.s_opt[i][j] : null;
      return h('td', {class: 'heat', style: {background: v === null ? '' : rampColor(t(v)),
                                             color: t(v) > 0.6 ? '#000' : '#fff'},
                      title: `N=${fmtCount(n)} D=${fmtCount(d)} S_opt=${fmtNum(v, 3)}`},
               fmtNum(v, 2));
    })));
  return h('div', {}, h('div', {class: 'table-wrap'}, h('table', {class: 'heatmap'},
      h('thead', {}, h('tr', {}, h('th', {scope: 'col'}, 'N \\ D'),
        c.tokens.map((d) => h('th', {scope: 'col'}, fmtCount(d))))), h('tbody', {}, rows))),
    h('div', {class: 'legend'}, h('span', {}, fmtNum(lo, 2)), h('span', {class: 'ramp'}),
      h('span', {}, fmtNum(hi, 2)), h('span', {class: 'muted'}, ' S_opt (colour bands = contours)')));
}

function pointsTable(points) {
  return table(['N', 'S', 'D', 'Measured', 'Predicted', 'Residual', 'Held out'],
    points.map((p) => h('tr', {class: p.held_out ? 'held' : ''}, h('td', {}, fmtCount(p.n_params)),
      h('td', {}, String(p.sparsity)), h('td', {}, fmtCount(p.tokens)), h('td', {}, fmtNum(p.measured, 4)),
      h('td', {}, fmtNum(p.predicted, 4)), h('td', {}, fmtNum(p.residual, 3)),
      h('td', {}, p.held_out ? 'yes' : ''))));
}
