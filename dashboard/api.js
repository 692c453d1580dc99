// The JSON API client (docs/DASHBOARD.md): GET with If-None-Match per URL, so an unchanged
// answer is a 304 and costs no redraw; the live feed (EventSource on /api/v1/events, polling
// every 2 s when that fails) tells the current page to refresh.

const cache = new Map();  // url -> {etag, body}

export class ApiError extends Error {
  constructor(status, message, parameter) {
    super(message);
    this.status = status;
    this.parameter = parameter;
  }
}

// Returns {body, changed}; changed is false when the server answered 304 for the cached ETag.
export async function getJSON(url) {
  const cached = cache.get(url);
  const headers = {Accept: 'application/json'};
  if (cached) headers['If-None-Match'] = cached.etag;
  const res = await fetch(url, {headers, cache: 'no-store'});
  if (res.status === 304 && cached) return {body: cached.body, changed: false};
  if (!res.ok) throw await toError(res);
  const body = await res.json();
  const etag = res.headers.get('ETag');
  if (etag) cache.set(url, {etag, body});
  if (cache.size > 200) cache.delete(cache.keys().next().value);
  return {body, changed: true};
}

export async function postJSON(url) {
  const res = await fetch(url, {method: 'POST', headers: {Accept: 'application/json'}});
  if (!res.ok) throw await toError(res);
  return res.json();
}

async function toError(res) {
  let message = `${res.status} ${res.statusText}`;
  let parameter;
  try {
    const j = await res.json();
    if (j && j.error) {
      message = j.error.message || message;
      parameter = j.error.parameter;
    }
  } catch (_) { /* not JSON */ }
  return new ApiError(res.status, message, parameter);
}

// Calls onChange() whenever the coordinator's state version moves (at most once in flight).
// setStatus(text) reports the feed's state for the header. Returns a stop function.
export function startLive(onChange, setStatus) {
  let source = null;
  let pollTimer = null;
  let lastVersion = null;
  const fire = (v) => {
    if (v !== undefined && v === lastVersion) return;
    lastVersion = v;
    onChange();
  };
  const poll = async () => {
    try {
      const {body, changed} = await getJSON('/api/v1/cluster');
      setStatus('polling');
      if (changed) fire(body.version);
    } catch (_) {
      setStatus('offline');
    }
    pollTimer = setTimeout(poll, 2000);
  };
  if (typeof EventSource === 'function') {
    source = new EventSource('/api/v1/events');
    source.addEventListener('open', () => setStatus('live'));
    source.addEventListener('version', (e) => {
      try { fire(JSON.parse(e.data).version); } catch (_) { fire(); }
    });
    source.addEventListener('error', () => {
      if (source.readyState === EventSource.CLOSED && pollTimer === null) {
        setStatus('polling');
        poll();
      } else {
        setStatus('reconnecting');
      }
    });
  } else {
    poll();
  }
  return () => {
    if (source) source.close();
    if (pollTimer !== null) clearTimeout(pollTimer);
  };
}
