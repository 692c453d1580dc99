// A real coordinator (gRPC and HTTP on 127.0.0.1, port 0) and a real worker as child processes,
// with shards of the corpus' first 200 KB in a temporary directory; the CLI submits work.
// Needs SPARSESCALE_BINARY_DIR (the built binaries) and SPARSESCALE_SOURCE_DIR (data/corpus).

import {spawn, execFileSync} from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const BINARY_DIR = process.env.SPARSESCALE_BINARY_DIR || 'build';
export const SOURCE_DIR = process.env.SPARSESCALE_SOURCE_DIR || '.';

export function binary(name) {
  for (const sub of ['coordinator', 'worker', 'client', '']) {
    const p = path.join(BINARY_DIR, sub, name);
    if (fs.existsSync(p)) return p;
  }
  throw new Error(`${name} is not built under ${BINARY_DIR}`);
}

// Polls check() (sync or async) every interval_ms until it returns a truthy value; throws with
// `what` after timeout_ms.
export async function waitFor(what, check, timeoutMs = 30000, intervalMs = 100) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

// A job of `steps` steps of a one-layer width-16 model (about 16 steps a second on one CPU).
export function tinySpec(shards, steps, checkpointEvery) {
  return {
    name: 'dashboard test',
    model: {layers: 1, width: 16, heads: 2, context: 32},
    data: {trainShards: [`${shards}/train_*.bin`], evalShards: [`${shards}/val_000000.bin`],
           batchSize: 4, tokens: String(steps * 4 * 32), evalIntervalSteps: 4, evalBatches: 2},
    checkpoint: {intervalSteps: checkpointEvery},
    logIntervalSteps: 1, seed: '1', device: 'cpu', threads: 1,
  };
}

export class Cluster {
  constructor() {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sparsescale-dashboard-'));
    this.children = [];
  }

  async start() {
    this.shards = this.prepareShards();
    const portFile = path.join(this.dir, 'http.port');
    const log = fs.openSync(path.join(this.dir, 'coordinator.log'), 'w');
    const coordinator = spawn(binary('sparsescale-coordinator'), [
      '--db', path.join(this.dir, 'coordinator.db'), '--listen', '127.0.0.1:0',
      '--http-listen', '127.0.0.1:0', '--http-port-file', portFile], {stdio: ['ignore', 'pipe', log]});
    this.children.push(coordinator);
    let out = '';
    coordinator.stdout.on('data', (d) => { out += d; });
    const m = await waitFor('the coordinator to listen', () => {
      if (coordinator.exitCode !== null) throw new Error(`coordinator exited: ${this.log('coordinator')}`);
      return out.match(/listening on (\S+)/);
    });
    this.address = m[1];
    const port = await waitFor('the HTTP port file', () =>
      fs.existsSync(portFile) && fs.readFileSync(portFile, 'utf8').trim());
    this.url = `http://127.0.0.1:${port}/`;
    const wlog = fs.openSync(path.join(this.dir, 'worker.log'), 'w');
    this.children.push(spawn(binary('sparsescale-worker'), [
      '--coordinator', this.address, '--name', 'worker-0', '--slots', '2', '--device', 'cpu',
      '--threads', '1', '--work-dir', path.join(this.dir, 'worker-0')],
    {stdio: ['ignore', wlog, wlog]}));
  }

  prepareShards() {
    const text = fs.readFileSync(path.join(SOURCE_DIR, 'data/corpus/web.txt')).subarray(0, 200000);
    const slice = path.join(this.dir, 'corpus.txt');
    fs.writeFileSync(slice, text);
    const out = path.join(this.dir, 'shards');
    this.cli(['prepare', '--input', slice, '--out', out, '--eval-fraction', '0.1'], false);
    return out;
  }

  // Runs the CLI against this coordinator; returns stdout (parsed when json).
  cli(args, json = true) {
    const full = [...args];
    if (this.address) full.push('--coordinator', this.address);
    if (json) full.push('--json');
    const out = execFileSync(binary('sparsescale'), full, {encoding: 'utf8', timeout: 60000});
    return json ? JSON.parse(out) : out;
  }

  writeJson(name, value) {
    const p = path.join(this.dir, name);
    fs.writeFileSync(p, JSON.stringify(value));
    return p;
  }

  log(name) {
    try { return fs.readFileSync(path.join(this.dir, `${name}.log`), 'utf8').slice(-4000); } catch (_) { return ''; }
  }

  async stop() {
    for (const c of this.children.reverse()) {
      if (c.exitCode !== null) continue;
      c.kill('SIGTERM');
      const done = new Promise((r) => c.once('exit', r));
      const timer = setTimeout(() => c.kill('SIGKILL'), 5000);
      await done;
      clearTimeout(timer);
    }
    fs.rmSync(this.dir, {recursive: true, force: true});
  }
}
