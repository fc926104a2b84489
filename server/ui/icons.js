// Line icons drawn for this UI (24x24 viewBox, stroked with currentColor). Decorative: the
// buttons that hold them carry the aria-label.

const PATHS = {
  chat: 'M4 5h16v11H9l-5 4z',
  link: 'M10 14a4 4 0 0 0 5.7 0l3-3a4 4 0 0 0-5.7-5.7l-1 1M14 10a4 4 0 0 0-5.7 0l-3 3a4 4 0 0 0 5.7 5.7l1-1',
  list: 'M8 6h12M8 12h12M8 18h12M4 6h.01M4 12h.01M4 18h.01',
  lock: 'M6 11h12v9H6zM8.5 11V8a3.5 3.5 0 0 1 7 0v3',
  whatsapp: 'M4 20l1.3-4A8 8 0 1 1 8.4 19zM9 8.5c0 3.5 3 6.5 6.5 6.5l1-1.5-2-1-1 .8a4 4 0 0 1-2.3-2.3l.8-1-1-2z',
  send: 'M4 12l16-8-6 16-2.5-6.5zM11.5 13.5 20 4',
  attach: 'M20 11.5l-8.2 8.2a5 5 0 0 1-7.1-7.1L13 4.3a3.3 3.3 0 0 1 4.7 4.7l-8.3 8.3a1.7 1.7 0 0 1-2.4-2.4l7.6-7.6',
  mic: 'M9 5a3 3 0 0 1 6 0v6a3 3 0 0 1-6 0zM5.5 11a6.5 6.5 0 0 0 13 0M12 17.5V21',
  close: 'M6 6l12 12M18 6 6 18',
  reply: 'M10 8 5 12.5l5 4.5M5 12.5h9a5 5 0 0 1 5 5V19',
  smile: 'M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18zM8.5 14a4.5 4.5 0 0 0 7 0M9 9.5h.01M15 9.5h.01',
  play: 'M8 5v14l11-7z',
  pause: 'M8 5v14M16 5v14',
  file: 'M14 3H6v18h12V7zM14 3v4h4',
  search: 'M11 18a7 7 0 1 0 0-14 7 7 0 0 0 0 14zM16 16l4.5 4.5',
  trash: 'M5 7h14M10 7V4h4v3M7 7l1 13h8l1-13',
  logout: 'M10 4H5v16h5M15 8l4 4-4 4M19 12H9',
  power: 'M12 3v8M7 6.3a7 7 0 1 0 10 0',
  qr: 'M4 4h6v6H4zM14 4h6v6h-6zM4 14h6v6H4zM14 14h2v2h-2zM18 18h2v2h-2zM14 18h2M18 14h2',
  download: 'M12 4v11M7 10.5l5 5 5-5M5 20h14',
  plus: 'M12 5v14M5 12h14',
  check: 'M5 12.5l4.5 4.5L19 7',
  clock: 'M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18zM12 7v5l3 2',
  alert: 'M12 3 2 20h20zM12 10v4M12 17h.01',
  user: 'M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8zM4 21a8 8 0 0 1 16 0',
  refresh: 'M20 11a8 8 0 0 0-14.5-4.5L4 8M4 4v4h4M4 13a8 8 0 0 0 14.5 4.5L20 16M20 20v-4h-4',
  stop: 'M7 7h10v10H7z',
};

const NS = 'http://www.w3.org/2000/svg';

/** An SVG icon element by name, with an extra class. */
export function icon(name, cls = '') {
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  svg.setAttribute('class', `icon ${cls}`.trim());
  const path = document.createElementNS(NS, 'path');
  path.setAttribute('d', PATHS[name] || PATHS.alert);
  if (name === 'play' || name === 'stop') path.setAttribute('class', 'icon-fill');
  svg.append(path);
  return svg;
}

/** Read ticks: one check (sent), two (delivered, read), a clock (pending). */
export function ticks(status) {
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('viewBox', '0 0 18 12');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('class', 'tick-icon');
  const add = (d) => {
    const p = document.createElementNS(NS, 'path');
    p.setAttribute('d', d);
    svg.append(p);
  };
  if (status === 'pending') {
    add('M6 1.5a4.5 4.5 0 1 0 0 9 4.5 4.5 0 0 0 0-9zM6 3.5V6l1.8 1.2');
  } else if (status === 'sent') {
    add('M1.5 6.5l3 3 7-7');
  } else if (status === 'failed') {
    add('M6 1.5v5.5M6 9.5v.5');
  } else {
    add('M1.5 6.5l3 3 7-7M7.5 9.5l7-7');
  }
  return svg;
}
