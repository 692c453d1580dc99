// Dashboard page-load benchmark: time from navigation to a drawn chart in headless Chromium, for
// the sweep page (the cell grid painted) and a job page (the loss curve drawn), against a
// coordinator serving a filled SQLite file (no worker). Baseline in the same run: the cluster
// page (the app shell and one small JSON answer), so the ratio says what the data costs.
//
//   node bench/dashboard/page_load_bench.mjs --db FILE [--runs 9] [--binary-dir build]
//
// FILE is copied first (the coordinator migrates and writes it). puppeteer-core comes from
// tests/dashboard/node_modules (run `npm ci` there first). Prints one JSON line per page.

import {spawn} from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {createRequire} from 'node:module';
import {fileURLToPath} from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '../../tests/dashboard/package.json'));
const puppeteer = require('puppeteer-core');

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) =>
  (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const runs = Number(args.runs || 9);
const binaryDir = args['binary-dir'] || 'build';
if (!args.db) throw new Error('--db FILE (a filled store) is required');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sparsescale-dash-bench-'));
const db = path.join(dir, 'bench.db');
fs.copyFileSync(args.db, db);
const portFile = path.join(dir, 'http.port');
const coordinator = spawn(path.join(binaryDir, 'coordinator', 'sparsescale-coordinator'),
  ['--db', db, '--listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0',
   '--http-port-file', portFile], {stdio: ['ignore', 'ignore', fs.openSync(path.join(dir, 'c.log'), 'w')]});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let port = '';
for (let i = 0; i < 600 && !port; i++) {
  if (coordinator.exitCode !== null) throw new Error(fs.readFileSync(path.join(dir, 'c.log'), 'utf8'));
  if (fs.existsSync(portFile)) port = fs.readFileSync(portFile, 'utf8').trim();
  await sleep(100);
}
const base = `http://127.0.0.1:${port}`;
const get = async (p) => (await fetch(base + p)).json();
const {sweeps} = await get('/api/v1/sweeps?page_size=1');
const sweep = await get(`/api/v1/sweeps/${sweeps[0].id}`);
const jobId = sweep.cells.reduce((a, c) => (c.step > a.step ? c : a), sweep.cells[0]).job_id;
const curve = await get(`/api/v1/jobs/${jobId}/curve?max_points=2`);

// Resolves, inside the page, when cond() holds: performance.now() at the next animation frame
// (the frame that shows it), i.e. milliseconds since the navigation started.
const READY = {
  cluster: () => document.querySelector('.page[data-loaded=ok]'),
  sweep: () => document.querySelector('.page[data-loaded=ok]') &&
    document.querySelectorAll('a.cell[data-state]').length > 0,
  job: () => Number((document.querySelector('[data-chart=loss]') || {dataset: {}}).dataset.drawn) > 1 &&
    document.querySelector('[data-chart=loss] canvas'),
};

const browser = await puppeteer.launch({executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
                                        headless: true, args: ['--no-sandbox', '--disable-gpu']});
const results = {};
for (const [name, hash] of [['cluster', '#/'], ['sweep', `#/sweeps/${sweep.id}`], ['job', `#/jobs/${jobId}`]]) {
  const times = [];
  for (let r = 0; r < runs + 1; r++) {
    const page = await browser.newPage();
    await page.setViewport({width: 1280, height: 860});
    await page.goto(`${base}/${hash}`, {waitUntil: 'domcontentloaded'});
    const ms = await page.evaluate(`new Promise((resolve) => {
      const cond = ${READY[name].toString()};
      const tick = () => (cond() ? requestAnimationFrame(() => resolve(performance.now()))
                                 : requestAnimationFrame(tick));
      tick();
    })`);
    if (r > 0) times.push(ms);  // the first run warms the coordinator's caches
    await page.close();
  }
  times.sort((a, b) => a - b);
  results[name] = {median_ms: times[Math.floor(times.length / 2)], max_ms: times[times.length - 1]};
}
await browser.close();
coordinator.kill('SIGTERM');
for (const name of ['sweep', 'job']) {
  console.log(JSON.stringify({page: name, ...results[name],
    ratio_to_cluster_page: Number((results[name].median_ms / results.cluster.median_ms).toFixed(2)),
    cells: sweep.cells.length, job_points: curve.total_points, runs}));
}
console.log(JSON.stringify({page: 'cluster (baseline)', ...results.cluster, runs}));
await new Promise((r) => coordinator.once('exit', r));
fs.rmSync(dir, {recursive: true, force: true});
