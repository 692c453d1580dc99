// Line and scatter charts on uPlot (dashboard/vendor/uplot, loaded as the global `uPlot`).
// A chart follows its container's width and keeps its scales when new data arrives.

import {h} from './dom.js';

// opts: {title, xLabel, yLabel, xLog, yLog, series: [{label, color, points, dash, width}],
//        height}. data: [xs, ys1, ys2, ...] (null = no value). Returns {el, setData, destroy}.
export function lineChart(opts, data) {
  const el = h('figure', {class: 'chart', 'aria-label': opts.title || 'chart'});
  if (opts.title) el.append(h('figcaption', {}, opts.title));
  const host = h('div', {class: 'chart-host'});
  el.append(host);
  let plot = null;
  let current = data;
  const width = () => Math.max(260, Math.floor(host.clientWidth || el.clientWidth || 600));
  const build = () => {
    if (plot) plot.destroy();
    plot = new uPlot(uplotOptions(opts, width()), current, host);
    el.dataset.drawn = String(current[0] ? current[0].length : 0);
  };
  const observer = new ResizeObserver(() => {
    if (!plot) { if (host.clientWidth > 0) build(); return; }
    const w = width();
    if (Math.abs(w - plot.width) > 2) plot.setSize({width: w, height: opts.height || 260});
  });
  observer.observe(host);
  queueMicrotask(() => { if (!plot && el.isConnected) build(); });
  return {
    el,
    setData(d) {
      current = d;
      if (plot) { plot.setData(d); el.dataset.drawn = String(d[0] ? d[0].length : 0); }
    },
    rebuild(newOpts) { Object.assign(opts, newOpts); if (el.isConnected) build(); },
    destroy() { observer.disconnect(); if (plot) plot.destroy(); plot = null; },
  };
}

function uplotOptions(opts, width) {
  const scatter = (s) => s.points && !s.line;
  return {
    width,
    height: opts.height || 260,
    legend: {live: true},
    cursor: {drag: {x: true, y: false}},
    scales: {
      x: opts.xLog ? {time: false, distr: 3, range: logRange} : {time: false},
      y: opts.yLog ? {distr: 3, range: logRange} : {},
    },
    axes: [
      {label: opts.xLabel, stroke: 'currentColor', grid: {stroke: 'rgba(128,128,128,.2)'},
       values: (u, splits) => splits.map(tick)},
      {label: opts.yLabel, stroke: 'currentColor', grid: {stroke: 'rgba(128,128,128,.2)'},
       size: 56, values: (u, splits) => splits.map(tick)},
    ],
    series: [{label: opts.xLabel || 'x', value: (u, v) => compact(v)}].concat(
      opts.series.map((s) => ({
        label: s.label,
        stroke: s.color,
        width: s.width || 1.5,
        dash: s.dash,
        spanGaps: true,
        value: (u, v) => compact(v),
        paths: scatter(s) ? () => null : undefined,
        points: s.points ? {show: true, size: s.size || 7, stroke: s.color,
                            fill: s.fill || s.color} : {show: false},
      }))),
  };
}

// A log axis spans the data with a small margin instead of whole decades, so that curves that
// differ by a few percent stay apart.
function logRange(u, min, max) {
  if (min === null || max === null || !(min > 0)) return [1, 10];
  if (min === max) return [min / 1.5, max * 1.5];
  return [min / 1.06, max * 1.06];
}

function tick(v) { return v === null || v === undefined ? '' : compact(v); }

function compact(v) {
  if (v === null || v === undefined) return '–';
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 1e5 || a < 1e-3) return v.toExponential(1);
  return Number(v.toPrecision(4)).toString();
}
