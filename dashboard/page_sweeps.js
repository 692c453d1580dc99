// #/sweeps : every sweep with its progress bar and ETA, loaded a page at a time (the next page
// when the end of the list scrolls into view, or with the "Load more" button).

import {getJSON} from './api.js';
import {h, fill, table, stateBadge, fmtDuration, fmtTime, progressBar, STATES} from './dom.js';

const PAGE = 50;

export function mount(root) {
  const body = h('tbody');
  const more = h('button', {type: 'button', class: 'more', hidden: true}, 'Load more');
  const note = h('p', {class: 'muted'});
  let loaded = 0;
  let next = '';
  let loading = false;
  const wrap = h('div', {class: 'table-wrap'}, h('table', {class: 'sweeps'},
    h('thead', {}, h('tr', {}, ['Sweep', 'Created', 'Jobs', 'Progress', 'ETA', 'State']
      .map((x) => h('th', {scope: 'col'}, x)))), body));
  fill(root, h('h1', {}, 'Sweeps'), wrap, more, note);

  const loadMore = async () => {
    if (loading || !next) return;
    loading = true;
    try {
      const {body: r} = await getJSON(`/api/v1/sweeps?page_size=${PAGE}&page_token=${encodeURIComponent(next)}`);
      body.append(...r.sweeps.map(row));
      loaded += r.sweeps.length;
      next = r.next_page_token || '';
      more.hidden = !next;
    } finally {
      loading = false;
    }
  };
  more.addEventListener('click', loadMore);
  const io = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) loadMore();
  });
  io.observe(more);

  return {
    // Re-reads what is shown (as many rows as are loaded, at most 1000) in one request.
    async refresh() {
      const size = Math.min(1000, Math.max(PAGE, loaded));
      const {body: r, changed} = await getJSON(`/api/v1/sweeps?page_size=${size}`);
      if (!changed && loaded) return;
      fill(body, r.sweeps.map(row));
      loaded = r.sweeps.length;
      next = r.next_page_token || '';
      more.hidden = !next;
      note.textContent = loaded ? '' : 'No sweep yet: create one with `sparsescale sweep create FILE`.';
    },
    unmount() { io.disconnect(); },
  };
}

function row(s) {
  const by = s.jobs_by_state || {};
  return h('tr', {},
    h('td', {}, h('a', {href: `#/sweeps/${s.id}`}, s.name || s.id),
      h('div', {class: 'muted small'}, s.id)),
    h('td', {}, fmtTime(s.created_ms)),
    h('td', {}, String(s.jobs_total ?? 0), h('div', {class: 'state-counts small'},
      STATES.filter((x) => by[x]).map((x) => h('span', {class: 'state-count'},
        h('span', {class: `dot st-${x}`, title: x}), `${by[x]}`)))),
    h('td', {class: 'wide'}, progressBar(s.progress, `progress of ${s.name || s.id}`)),
    h('td', {}, s.eta_seconds === null || s.eta_seconds === undefined ? '–'
                : fmtDuration(s.eta_seconds)),
    h('td', {}, stateBadge(s.state)));
}
