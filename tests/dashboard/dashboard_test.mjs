// The dashboard in a real browser (Debian's chromium, headless, driven by puppeteer-core) against
// a real coordinator and worker running a real sweep and one longer job. Screenshots of every
// page go to SPARSESCALE_SCREENSHOT_DIR (default: dashboard-screenshots/ in the build folder;
// docs/dashboard/ holds the committed ones). Run by ctest `dashboard_browser` (run_test.sh).

import {test, before, after} from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import puppeteer from 'puppeteer-core';
import {Cluster, BINARY_DIR, tinySpec, waitFor} from './cluster.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = process.env.SPARSESCALE_SCREENSHOT_DIR || path.join(BINARY_DIR, 'dashboard-screenshots');
const STEPS = 200;         // a sweep cell: about 1-3 s on one CPU
const LONG_STEPS = 3000;   // the watched job (2 layers of width 32): about 15 s quiet, 40 s loaded

let cluster;
let browser;
let longJob;   // a LONG_STEPS-step job, watched while it runs
let sweep;     // 2 sizes x 2 sparsities x 2 token budgets
let sweepPage;
let initialColours;
const problems = [];  // console errors, page errors and failed requests, with the page

before(async () => {
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: run deploy/setup.sh (package chromium)`);
  cluster = new Cluster();
  await cluster.start();
  browser = await puppeteer.launch({executablePath: CHROMIUM, headless: true,
                                    args: ['--no-sandbox', '--disable-gpu']});
  fs.mkdirSync(SHOTS, {recursive: true});
  // Wider and deeper than the sweep's cells, so that it is still running when its page is
  // watched: at width 16 and one layer, 3,000 steps took 2 s on a quiet machine, and the page
  // opened after the job had ended.
  const long = tinySpec(cluster.shards, LONG_STEPS, 1000);
  long.model = {layers: 2, width: 32, heads: 2, context: 32};
  longJob = cluster.cli(['job', 'submit', cluster.writeJson('long.json', long),
                         '--priority', '10']).job.id;
  const axes = {nonzeros: ['3072', '6144'], sparsities: [0.0, 0.5],
                tokens: [String(STEPS * 4 * 32), String(2 * STEPS * 4 * 32)]};
  sweep = cluster.cli(['sweep', 'create', cluster.writeJson('sweep.json',
    {name: 'dashboard-e2e', base: tinySpec(cluster.shards, STEPS, 100), axes})]).sweep;
  // The grid is watched from the moment the sweep exists, while its cells still queue.
  sweepPage = await openPage(`#/sweeps/${sweep.id}`);
  initialColours = await cellColours(sweepPage);
});

after(async () => {
  if (browser) await browser.close();
  if (cluster) await cluster.stop();
});

async function openPage(hash, width = 1280) {
  const page = await browser.newPage();
  await page.setViewport({width, height: 860});
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`${hash}: console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`${hash}: page error: ${e.message}`));
  page.on('response', (r) => { if (r.status() >= 400) problems.push(`${hash}: HTTP ${r.status()} ${r.url()}`); });
  await page.goto(cluster.url + hash, {waitUntil: 'load'});
  await page.waitForSelector('.page[data-loaded]', {timeout: 20000});
  const loaded = await page.$eval('.page', (el) => el.dataset.loaded);
  const banner = await page.$eval('#banner', (el) => (el.hidden ? '' : el.textContent));
  assert.equal(loaded, 'ok', `${hash} did not load: ${banner}`);
  return page;
}

const curvePoints = (page) => page.$eval('[data-chart=loss]', (el) => Number(el.dataset.points || 0));
const cellColours = (page) => page.$$eval('a.cell', (els) => els.map((a) =>
  `${a.dataset.job}:${a.dataset.state}:${getComputedStyle(a).backgroundColor}`));

test('the job curve gains points while the job runs, without a reload', async () => {
  const page = await openPage(`#/jobs/${longJob}`);
  const first = await waitFor('the first points of the long job',
    async () => { const n = await curvePoints(page); return n > 0 && n < LONG_STEPS ? n : 0; }, 30000);
  const later = await waitFor('more points on the same page',
    async () => { const n = await curvePoints(page); return n > first ? n : 0; }, 30000);
  assert.ok(later > first);
  assert.ok(await page.$('[data-chart=loss] canvas'), 'the loss chart is drawn');
  await page.close();
});

test('the sweep grid changes colour as cells finish', async () => {
  const page = sweepPage;
  const before = initialColours;
  assert.equal(before.length, 8);
  assert.ok(before.some((c) => !c.includes(':SUCCEEDED:')), `all cells already done: ${before}`);
  await waitFor('every cell to succeed', async () =>
    (await cellColours(page)).every((c) => c.includes(':SUCCEEDED:')), 90000, 250);
  const afterDone = await cellColours(page);
  const changed = afterDone.filter((c, i) => c !== before[i]);
  assert.ok(changed.length > 0);
  const colour = (list, i) => list[i].split(':').slice(2).join(':');
  assert.ok(changed.length && afterDone.some((c, i) => colour(afterDone, i) !== colour(before, i)),
            'a finished cell is drawn in another colour');
  await page.click('button[data-mode=loss]');
  const lossColours = await cellColours(page);
  assert.notDeepEqual(lossColours, afterDone, 'the final-loss colouring differs from the state one');
  await page.close();
});

test('a checkpoint downloads byte for byte as the CLI fetches it', async () => {
  await waitFor('the long job to succeed', () =>
    cluster.cli(['job', 'get', longJob]).state === 'JOB_STATE_SUCCEEDED', 150000, 500);
  const page = await openPage(`#/jobs/${longJob}`);
  const link = await page.waitForSelector('a[data-checkpoint]');
  const step = await link.evaluate((a) => a.dataset.checkpoint);
  const downloads = path.join(cluster.dir, 'downloads');
  fs.mkdirSync(downloads);
  const cdp = await browser.target().createCDPSession();
  await cdp.send('Browser.setDownloadBehavior', {behavior: 'allow', downloadPath: downloads});
  // The live refresh may redraw the table (a new element) between finding the link and
  // clicking it, so click whatever link for that step the page shows now.
  await page.$eval(`a[data-checkpoint="${step}"]`, (a) => a.click());
  const file = await waitFor('the downloaded file', () => {
    const names = fs.readdirSync(downloads).filter((n) => !n.endsWith('.crdownload'));
    return names.length ? path.join(downloads, names[0]) : null;
  }, 20000);
  const viaCli = path.join(cluster.dir, 'cli.ckpt');
  cluster.cli(['checkpoint', 'get', longJob, '--step', step, '--out', viaCli], false);
  const a = fs.readFileSync(file);
  const b = fs.readFileSync(viaCli);
  assert.ok(b.length > 0);
  assert.equal(a.length, b.length);
  assert.ok(a.equals(b), 'the browser download equals `sparsescale checkpoint get`');
  await page.close();
});

const PAGES = () => [
  ['cluster', '#/'],
  ['sweeps', '#/sweeps'],
  ['sweep', `#/sweeps/${sweep.id}`],
  ['job', `#/jobs/${longJob}`],
  ['law', `#/sweeps/${sweep.id}/law`],
  ['compare', `#/compare?jobs=${sweep.job_ids.slice(0, 4).join(',')}`],
];

test('every page loads with its content, and screenshots are saved', async () => {
  for (const [name, hash] of PAGES()) {
    const page = await openPage(hash);
    if (name === 'law' || name === 'compare' || name === 'job') {
      await page.waitForSelector('figure.chart canvas', {timeout: 10000});
    }
    if (name === 'cluster') assert.match(await page.$eval('main', (m) => m.textContent), /worker-0/);
    if (name === 'sweeps') assert.match(await page.$eval('main', (m) => m.textContent), /dashboard-e2e/);
    await page.screenshot({path: path.join(SHOTS, `${name}.png`)});
    await page.close();
  }
});

test('at phone width (390 px) no page overflows horizontally', async () => {
  for (const [name, hash] of PAGES()) {
    const page = await openPage(hash, 390);
    const overflow = await page.evaluate(() =>
      document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `${name} overflows by ${overflow} px at 390 px`);
    if (name === 'sweep' || name === 'job') {
      await page.screenshot({path: path.join(SHOTS, `${name}-phone.png`)});
    }
    await page.close();
  }
});

test('the keyboard reaches the grid cells and opens a job', async () => {
  const page = await openPage(`#/sweeps/${sweep.id}`);
  let focused = '';
  for (let i = 0; i < 40 && !focused.startsWith('cell'); i++) {
    await page.keyboard.press('Tab');
    focused = await page.evaluate(() => document.activeElement.className || '');
  }
  assert.ok(focused.startsWith('cell'), 'Tab reaches a cell');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => location.hash.startsWith('#/jobs/'));
  await page.waitForSelector('.page[data-loaded=ok]');
  await page.close();
});

test('no page logged a console error or got a failed request', () => {
  assert.deepEqual(problems, []);
});
