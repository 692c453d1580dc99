// #/ : workers (device, slots, running jobs, heartbeat age), the queue by state, ingestion rate,
// store health, and the running jobs.

import {getJSON} from './api.js';
import {h, fill, kv, table, stateBadge, fmtCount, fmtBytes, fmtDuration, fmtTime, STATES,
        progressBar} from './dom.js';

export function mount(root) {
  const summary = h('section', {class: 'cards', 'aria-label': 'summary'});
  const store = h('section', {'aria-label': 'store health'});
  const workers = h('section', {'aria-label': 'workers'});
  const running = h('section', {'aria-label': 'running jobs'});
  fill(root, h('h1', {}, 'Cluster'), summary, store, workers, running);
  return {
    async refresh() {
      const [{body: c, changed}, {body: r}] = await Promise.all([
        getJSON('/api/v1/cluster'), getJSON('/api/v1/jobs?state=RUNNING&page_size=50')]);
      if (changed) {
        renderSummary(summary, c);
        renderStore(store, c.store);
        renderWorkers(workers, c.workers || []);
      }
      renderRunning(running, r.jobs || [], r.next_page_token);
    },
    unmount() {},
  };
}

function card(label, value, extra) {
  return h('div', {class: 'card'}, h('div', {class: 'card-label'}, label),
           h('div', {class: 'card-value'}, value), extra || null);
}

function renderSummary(el, c) {
  const by = c.jobs_by_state || {};
  const total = STATES.reduce((n, s) => n + (by[s] || 0), 0);
  fill(el,
       card('Slots busy', `${c.slots_busy ?? 0} / ${c.slots_total ?? 0}`,
            progressBar(c.slots_total ? c.slots_busy / c.slots_total : 0, 'slots busy')),
       card('GPUs busy', `${c.gpus_busy ?? 0} / ${c.gpus_total ?? 0}`),
       card('Points / s', fmtCount(c.points_per_second ?? 0)),
       card('Jobs', String(total), h('div', {class: 'state-counts'},
            STATES.map((s) => h('span', {class: 'state-count'}, stateBadge(s), ' ', by[s] || 0)))));
}

function renderStore(el, s) {
  if (!s) { fill(el); return; }
  const pairs = [['State', h('span', {class: s.ok === false ? 'bad' : 'good'},
                             s.ok === false ? 'write errors' : 'ok')]];
  if (s.disk_free_bytes !== undefined) pairs.push(['Disk free', fmtBytes(s.disk_free_bytes)]);
  if (s.db_bytes !== undefined) pairs.push(['Database', fmtBytes(s.db_bytes)]);
  if (s.wal_bytes !== undefined) pairs.push(['WAL', fmtBytes(s.wal_bytes)]);
  if (s.error_count !== undefined) pairs.push(['Write errors', String(s.error_count)]);
  if (s.last_error) {
    pairs.push(['Last error', h('span', {class: 'bad'}, s.last_error)]);
    if (s.last_error_since_ms) pairs.push(['Since', fmtTime(s.last_error_since_ms)]);
  }
  fill(el, h('h2', {}, 'Store'), kv(pairs));
}

function renderWorkers(el, workers) {
  const rows = workers.map((w) => h('tr', {},
    h('td', {}, w.name || w.id, w.draining ? h('span', {class: 'badge st-CANCELLED'}, 'draining') : null,
      w.alive === false ? h('span', {class: 'badge st-FAILED'}, 'lost') : null),
    h('td', {}, `${w.device_kind || '?'}${w.gpus ? ` × ${w.gpus}` : ''}`),
    h('td', {}, `${w.busy_slots ?? 0} / ${w.slots ?? 0}`),
    h('td', {}, (w.running_jobs || []).map((id) =>
      h('a', {href: `#/jobs/${id}`, class: 'job-link'}, short(id)))),
    h('td', {class: (w.heartbeat_age_ms || 0) > 30000 ? 'bad' : ''},
      fmtDuration((w.heartbeat_age_ms || 0) / 1000)),
    h('td', {}, w.version || '')));
  fill(el, h('h2', {}, `Workers (${workers.length})`),
       workers.length ? table(['Worker', 'Device', 'Slots busy', 'Running jobs', 'Heartbeat age',
                               'Version'], rows)
                      : h('p', {class: 'muted'}, 'No worker is connected.'));
}

function renderRunning(el, jobs, more) {
  const rows = jobs.map((j) => h('tr', {},
    h('td', {}, h('a', {href: `#/jobs/${j.id}`}, j.name || short(j.id))),
    h('td', {}, j.sweep_id ? h('a', {href: `#/sweeps/${j.sweep_id}`}, short(j.sweep_id)) : '–'),
    h('td', {}, progressBar(j.total_steps ? j.step / j.total_steps : 0, 'job progress')),
    h('td', {}, `${j.step} / ${j.total_steps}`),
    h('td', {}, j.worker || '–')));
  fill(el, h('h2', {}, 'Running jobs'),
       jobs.length ? table(['Job', 'Sweep', 'Progress', 'Step', 'Worker'], rows)
                   : h('p', {class: 'muted'}, 'Nothing is running.'),
       more ? h('p', {class: 'muted'}, 'Showing the first 50.') : null);
}

export function short(id) { return String(id).slice(0, 10); }
