// The API: JSON calls with the session token, uploads with progress (XMLHttpRequest), and the
// Server-Sent Events stream with its own reconnection (a visible state: connecting, live,
// reconnecting).

import { errorText, t } from './i18n.js';

let token = '';

/** Sets the session token every call carries. */
export function setToken(tok) {
  token = tok;
}

/** A URL with `?access_token=` for what cannot send a header (media, EventSource). */
export function withToken(url) {
  return url + (url.includes('?') ? '&' : '?') + 'access_token=' + encodeURIComponent(token);
}

/**
 * An API refusal: HTTP status, the stable code, and as `message` the text for people in the
 * viewer's language (the server's own words are in `serverMessage`).
 */
export class ApiError extends Error {
  constructor(status, code, message, body) {
    const c = code || 'http_' + status;
    const details = body && body.error && typeof body.error === 'object' ? body.error : {};
    super(errorText(c, message || `HTTP ${status}`, details));
    this.status = status;
    this.code = c;
    this.serverMessage = message;
    this.body = body;
  }
}

/** Turns the server's message for codes the panel explains itself into the user's language. */
const EXPLAINED = { trial_expired: 'error.trial_expired' };

function errorFrom(status, text) {
  let body = null;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  const e = body && typeof body.error === 'object' ? body.error : null;
  const code = e ? e.code : body && typeof body.error === 'string' ? body.error : null;
  const message = e ? e.message : body && body.message ? body.message : text || `HTTP ${status}`;
  if (code && EXPLAINED[code]) {
    // The panel shows the plan page for this (app.js listens).
    window.dispatchEvent(new CustomEvent('wab24:' + code));
    return new ApiError(status, code, t(EXPLAINED[code]), body);
  }
  return new ApiError(status, code, message, body);
}

/** Calls the API: api('GET', '/api/lines'); a JSON body when `body` is given. */
export async function api(method, path, body) {
  const headers = { Authorization: 'Bearer ' + token, Accept: 'application/json' };
  const init = { method, headers };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, 'network', e.message || 'network error');
  }
  const text = await res.text();
  if (!res.ok) throw errorFrom(res.status, text);
  if (!text) return null;
  const type = res.headers.get('content-type') || '';
  return type.includes('json') ? JSON.parse(text) : text;
}

/** A query string from an object, leaving out empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== null && v !== undefined && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? '?' + s : '';
}

/**
 * Uploads `blob` as the request body with its type; `onProgress(fraction)` while it goes.
 * Answers a promise of the parsed JSON and has `abort()`.
 */
export function upload(path, blob, type, onProgress) {
  const xhr = new XMLHttpRequest();
  const done = new Promise((resolve, reject) => {
    xhr.open('POST', path);
    xhr.setRequestHeader('Authorization', 'Bearer ' + token);
    xhr.setRequestHeader('Content-Type', type || 'application/octet-stream');
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable && onProgress) onProgress(e.loaded / e.total);
    };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        if (onProgress) onProgress(1);
        try {
          resolve(xhr.responseText ? JSON.parse(xhr.responseText) : null);
        } catch (e) {
          reject(e);
        }
      } else {
        reject(errorFrom(xhr.status, xhr.responseText));
      }
    };
    xhr.onerror = () => reject(new ApiError(0, 'network', 'network error'));
    xhr.onabort = () => reject(new ApiError(0, 'aborted', 'aborted'));
    xhr.send(blob);
  });
  done.abort = () => xhr.abort();
  return done;
}

const EVENT_NAMES = [
  'hello', 'line.created', 'line.assigned', 'line.updated', 'line.unassigned', 'line.deleted',
  'line.status', 'message.stored', 'message.status', 'message.send_failed', 'conversation.read',
  'conversation.opened', 'subscription.changed', 'resync', 'session.ended',
];

/**
 * The live stream. `on(name, fn)` subscribes to an event name (payload parsed), `onState(fn)` to
 * 'connecting' | 'live' | 'reconnecting'. When the stream drops, it reconnects by itself with a
 * growing pause (0.5 s to 10 s) and, once back, emits 'resync' so views reload what they show.
 */
export class EventStream {
  constructor(url) {
    this.url = url;
    this.handlers = new Map();
    this.stateHandlers = [];
    this.state = 'connecting';
    this.retry = 500;
    this.timer = null;
    this.source = null;
    this.wasLive = false;
    this.stopped = false;
  }

  on(name, fn) {
    if (!this.handlers.has(name)) this.handlers.set(name, []);
    this.handlers.get(name).push(fn);
    return this;
  }

  onState(fn) {
    this.stateHandlers.push(fn);
    fn(this.state);
  }

  emit(name, data) {
    for (const fn of this.handlers.get(name) || []) {
      try {
        fn(data);
      } catch (e) {
        console.error('handler of', name, e);
      }
    }
  }

  setState(s) {
    if (s === this.state) return;
    this.state = s;
    document.documentElement.dataset.stream = s;
    for (const fn of this.stateHandlers) fn(s);
  }

  start() {
    this.stopped = false;
    this.open();
  }

  open() {
    clearTimeout(this.timer);
    const es = new EventSource(withToken(this.url));
    this.source = es;
    for (const name of EVENT_NAMES) {
      es.addEventListener(name, (ev) => {
        let data = null;
        try {
          data = ev.data ? JSON.parse(ev.data) : null;
        } catch {
          data = ev.data;
        }
        if (name === 'hello') {
          this.retry = 500;
          this.setState('live');
          // Back after a drop: whatever happened meanwhile was missed.
          if (this.wasLive) this.emit('resync', { reconnected: true });
          this.wasLive = true;
        }
        this.emit(name, data);
      });
    }
    es.onerror = () => {
      // EventSource's own retry keeps no backoff and stops on HTTP errors: take over.
      es.close();
      if (this.source !== es || this.stopped) return;
      this.setState(this.wasLive ? 'reconnecting' : 'connecting');
      this.timer = setTimeout(() => this.open(), this.retry);
      this.retry = Math.min(this.retry * 2, 10000);
    };
  }

  /** Drops the connection as a network failure would (used by tests and on page hide). */
  drop() {
    if (this.source) this.source.close();
    this.source = null;
    this.setState('reconnecting');
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.open(), this.retry);
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.source) this.source.close();
  }
}
