// Small helpers: building DOM nodes, formatting times, sizes, phones and durations. The page's
// CSP forbids inline style attributes, so nodes are styled by classes (or the CSSOM).

import { t, getLang } from './i18n.js';

/**
 * Creates an element: h('button', {class: 'x', onclick: fn, 'aria-label': '...'}, child...).
 * Attributes whose value is null/undefined/false are left out; `on*` functions become listeners;
 * children are nodes or strings (text, never HTML).
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (k === 'class') {
      el.className = v;
    } else if (k === 'dataset') {
      Object.assign(el.dataset, v);
    } else if (k === 'value' && 'value' in el) {
      el.value = v;
    } else if (v === true) {
      el.setAttribute(k, '');
    } else {
      el.setAttribute(k, String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces every child of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

function locale() {
  return getLang() === 'ru' ? 'ru-RU' : 'en-GB';
}

function sameDay(a, b) {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

/** Time of a message: hours and minutes. */
export function clock(ms) {
  return new Date(ms).toLocaleTimeString(locale(), { hour: '2-digit', minute: '2-digit' });
}

/** Time in the conversation list: the clock today, "Yesterday", else the date. */
export function listTime(ms) {
  if (!ms) return '';
  const d = new Date(ms);
  const now = new Date();
  if (sameDay(d, now)) return clock(ms);
  const y = new Date(now);
  y.setDate(now.getDate() - 1);
  if (sameDay(d, y)) return t('yesterday');
  return d.toLocaleDateString(locale(), { day: 'numeric', month: 'short' });
}

/** A day separator in a thread. */
export function dayLabel(ms) {
  const d = new Date(ms);
  const now = new Date();
  if (sameDay(d, now)) return t('today');
  const y = new Date(now);
  y.setDate(now.getDate() - 1);
  if (sameDay(d, y)) return t('yesterday');
  return d.toLocaleDateString(locale(), { day: 'numeric', month: 'long', year: 'numeric' });
}

/** Date and time with seconds (audit). */
export function dateTime(ms) {
  return new Date(ms).toLocaleString(locale(), {
    year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
  });
}

/** A size in bytes for people: 900 B, 12.3 KB, 4.5 MB. */
export function fileSize(bytes) {
  const units = getLang() === 'ru' ? ['Б', 'КБ', 'МБ', 'ГБ'] : ['B', 'KB', 'MB', 'GB'];
  let n = Number(bytes) || 0;
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  const s = i === 0 ? String(n) : n.toFixed(n < 10 ? 1 : 0);
  return `${s} ${units[i]}`;
}

/** Seconds as m:ss. */
export function duration(seconds) {
  const s = Math.max(0, Math.floor(Number.isFinite(seconds) ? seconds : 0));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** A phone number with a plus and groups: +7 916 000-00-01 (just +digits when unsure). */
export function phone(p) {
  if (!p) return '';
  const d = String(p).replace(/\D/g, '');
  if (d.length === 11 && d.startsWith('7')) {
    return `+7 ${d.slice(1, 4)} ${d.slice(4, 7)}-${d.slice(7, 9)}-${d.slice(9)}`;
  }
  return `+${d}`;
}

/** The name shown for a contact. */
export function contactName(contact) {
  if (!contact) return '';
  return contact.push_name || phone(contact.phone) || contact.jid.split('@')[0];
}

/** Two letters for an avatar. */
export function initials(name) {
  const words = String(name || '?').replace(/[^\p{L}\p{N} ]/gu, ' ').trim().split(/\s+/).filter(Boolean);
  if (words.length === 0) return '?';
  return (words[0][0] + (words[1] ? words[1][0] : '')).toUpperCase();
}

/** `url` when it is an absolute http(s) URL (a portal user's photo), else null: nothing else is
 * ever put in an <img> (no javascript:, data: or relative URLs from outside). */
export function imageUrl(url) {
  if (typeof url !== 'string' || url.length > 2048) return null;
  try {
    const u = new URL(url);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : null;
  } catch {
    return null;
  }
}

/**
 * An avatar: the initials of `name` on a stable hue, covered by the photo at `url` when there is
 * one (http(s) only) and it loads; a photo that fails (gone, refused by the CSP) leaves the
 * initials. `size` 'sm' makes the small one used beside names.
 */
export function avatar(name, key, url, size) {
  const a = h('span', { class: size === 'sm' ? 'avatar avatar-sm' : 'avatar', 'aria-hidden': 'true' }, initials(name));
  a.style.setProperty('--hue', String(hue(key || name)));
  const src = imageUrl(url);
  if (src) {
    const img = h('img', { class: 'avatar-img', src, alt: '', loading: 'lazy', referrerpolicy: 'no-referrer', 'data-test': 'avatar-img' });
    img.addEventListener('error', () => img.remove(), { once: true });
    a.append(img);
  }
  return a;
}

/** A portal user's avatar (as `GET /api/users` lists them, or just an id when unknown). */
export function userAvatar(user, id, size = 'sm') {
  const name = user ? user.name : `#${id}`;
  return avatar(name, `user:${id}`, user ? user.avatar : null, size);
}

/** A stable hue for an avatar from a string. */
export function hue(s) {
  let x = 0;
  for (const ch of String(s)) x = (x * 31 + ch.codePointAt(0)) % 360;
  return x;
}

/** A random idempotency key. */
export function newKey() {
  const a = new Uint8Array(16);
  crypto.getRandomValues(a);
  return 'ui-' + Array.from(a, (b) => b.toString(16).padStart(2, '0')).join('');
}
