// The single-page app: routes on the URL hash, mounts one page at a time and refreshes it when
// the live feed reports a new state version (docs/DASHBOARD.md, "Pages").

import {startLive} from './api.js';
import {h, fill} from './dom.js';
import * as cluster from './page_cluster.js';
import * as sweeps from './page_sweeps.js';
import * as sweep from './page_sweep.js';
import * as job from './page_job.js';
import * as law from './page_law.js';
import * as compare from './page_compare.js';

const ROUTES = [
  [/^\/?$/, cluster, 'cluster'],
  [/^\/sweeps\/?$/, sweeps, 'sweeps'],
  [/^\/sweeps\/([^/]+)\/law\/?$/, law, 'sweeps'],
  [/^\/sweeps\/([^/]+)\/?$/, sweep, 'sweeps'],
  [/^\/jobs\/([^/]+)\/?$/, job, 'cluster'],
  [/^\/compare\/?$/, compare, 'compare'],
];

const main = document.getElementById('main');
const banner = document.getElementById('banner');
let page = null;       // {refresh(), unmount()}
let refreshing = null; // the refresh in flight
let again = false;     // another version arrived while refreshing

export function showError(err) {
  if (!err) { banner.hidden = true; return; }
  banner.hidden = false;
  fill(banner, err.parameter ? `${err.message} (parameter ${err.parameter})` : String(err.message || err));
  if (err.status === 401 || err.status === 403) banner.append(tokenForm());
}

// With tokens on (docs/SECURITY.md) the API answers 401 without a token and 403 for one without
// the role: the banner then asks for a token and keeps it in the `sparsescale_token` cookie,
// which the server reads when a request has no Authorization header (EventSource sends no
// headers of its own).
function tokenForm() {
  const input = h('input', {type: 'password', autocomplete: 'off', 'aria-label': 'API token',
                            placeholder: 'token (viewer or more)'});
  const form = h('form', {class: 'token-form'}, input, h('button', {type: 'submit'}, 'Use token'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const token = input.value.trim();
    if (!/^[A-Za-z0-9._~+\/=-]+$/.test(token)) {
      input.setCustomValidity('a token has no spaces or semicolons');
      input.reportValidity();
      return;
    }
    document.cookie = `sparsescale_token=${token}; path=/; SameSite=Strict`;
    location.reload();
  });
  return form;
}

function parseHash() {
  const raw = decodeURIComponent(location.hash.replace(/^#/, '')) || '/';
  const [path, query = ''] = raw.split('?');
  return {path, query: new URLSearchParams(query)};
}

async function route() {
  if (page) page.unmount();
  page = null;
  showError(null);
  const {path, query} = parseHash();
  const hit = ROUTES.find(([re]) => re.test(path));
  for (const a of document.querySelectorAll('[data-nav]')) {
    a.toggleAttribute('aria-current', !!hit && a.dataset.nav === hit[2]);
  }
  const root = h('div', {class: 'page'});
  fill(main, root);
  delete root.dataset.loaded;
  if (!hit) {
    fill(root, h('h1', {}, 'Not found'), h('p', {}, 'No page at ', h('code', {}, path), '. ',
         h('a', {href: '#/'}, 'Back to the cluster')));
    return;
  }
  const args = path.match(hit[0]).slice(1);
  page = hit[1].mount(root, args, query, {showError, navigate});
  await refresh();
  // For tests and tools: the page has answered once (data-loaded) or failed (the banner shows).
  root.dataset.loaded = banner.hidden ? 'ok' : 'error';
}

// Refreshes the current page; calls that arrive while one runs make it run once more, and they
// resolve when that last run is over.
async function refresh() {
  if (refreshing) { again = true; return refreshing; }
  refreshing = (async () => {
    do {
      again = false;
      const current = page;
      if (!current) break;
      try {
        await current.refresh();
        if (current === page) showError(null);
      } catch (err) {
        if (current === page) showError(err);
      }
    } while (again);
  })();
  try { await refreshing; } finally { refreshing = null; }
}

export function navigate(hash) { location.hash = hash; }

const live = document.getElementById('live');
startLive(refresh, (text) => { live.textContent = text; live.dataset.state = text; });
window.addEventListener('hashchange', () => { route().then(() => main.focus({preventScroll: true})); });
route();
