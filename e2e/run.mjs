// The chat panel in a real browser: Playwright (playwright-core) drives Debian's Chromium against
// `wab24 demo` (its embedded simulated Bitrix24 portal and WhatsApp). Each step prints one line
// and keeps a screenshot under e2e/artifacts/; the last line is "RESULT passed=N failed=M".
//
//   node e2e/run.mjs            WAB24_BIN (default ../target/debug/wab24), CHROMIUM (default
//                               /usr/bin/chromium), E2E_HEADED=1 to watch, E2E_KEEP=1 to keep the data dir,
//                               E2E_DOCS=1 to refresh docs/screenshots/ (the README's pictures)

import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, copyFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer } from 'node:net';
import { deflateSync } from 'node:zlib';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const artifacts = join(here, 'artifacts');
// The README's pictures are refreshed only when asked, so that a test run leaves the tree clean.
const shots = process.env.E2E_DOCS ? join(root, 'docs', 'screenshots') : artifacts;
const bin = resolve(here, process.env.WAB24_BIN || '../target/debug/wab24');
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const VIEW = { width: 1280, height: 800 };
const T = 20000; // the longest any single wait may take

// server/src/demo/whatsapp.rs: line n pairs with BUSINESS_PHONES[(n - 1) % 5].
const BUSINESS_PHONES = ['79990000001', '79990000002', '79990000003', '79990000004', '79990000005'];
const CUSTOMER = '79160000001';
const OTHER_CUSTOMER = '15550000004';

rmSync(artifacts, { recursive: true, force: true });
mkdirSync(artifacts, { recursive: true });
mkdirSync(shots, { recursive: true });

// --- helpers --------------------------------------------------------------------------------

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(what, fn, timeout = T, every = 100) {
  const end = Date.now() + timeout;
  let last;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await sleep(every);
  }
  throw new Error(`timed out: ${what}${last ? ` (${last.message})` : ''}`);
}

function check(cond, msg) {
  if (!cond) throw new Error(msg);
}

/** A PNG of w x h pixels (RGB noise over a gradient, so it does not compress to nothing). */
function png(w, h) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const raw = Buffer.alloc((w * 3 + 1) * h);
  let seed = 7;
  for (let y = 0; y < h; y++) {
    raw[y * (w * 3 + 1)] = 0;
    for (let x = 0; x < w; x++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      const o = y * (w * 3 + 1) + 1 + x * 3;
      raw[o] = (x * 255) / w;
      raw[o + 1] = 120 + (seed % 60);
      raw[o + 2] = (y * 255) / h;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

// --- the demo -------------------------------------------------------------------------------

const data = mkdtempSync(join(tmpdir(), 'wab24-e2e-'));
const [listen, simListen, waListen, waControl] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
const demo = spawn(bin, [
  'demo', '--data', data,
  '--listen', `127.0.0.1:${listen}`, '--sim-listen', `127.0.0.1:${simListen}`,
  '--wa-listen', `127.0.0.1:${waListen}`, '--wa-control', `127.0.0.1:${waControl}`,
  '--auto-scan', '0', '--quiet-customers',
], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn' } });
let demoOut = '';
let demoErr = '';
demo.stdout.on('data', (d) => { demoOut += d; });
demo.stderr.on('data', (d) => { demoErr += d; });
let demoExited = null;
demo.on('exit', (code) => { demoExited = code; });

let browser = null;
async function shutdown(code) {
  if (browser) await browser.close().catch(() => {});
  if (demoExited === null) {
    demo.kill('SIGTERM');
    await Promise.race([new Promise((r) => demo.once('exit', r)), sleep(5000)]);
    if (demoExited === null) demo.kill('SIGKILL');
  }
  writeFileSync(join(artifacts, 'demo.log'), demoOut + '\n--- stderr ---\n' + demoErr);
  if (!process.env.E2E_KEEP) rmSync(data, { recursive: true, force: true });
  process.exit(code);
}

try {
  await until('the demo prints its URLs', () => demoExited === null && /control API http:\/\/\S+/.test(demoOut) && /portal \(administrator\): (\S+)/.test(demoOut), 60000);
} catch (e) {
  console.log(`FAIL demo starts: ${e.message}`);
  console.log(demoErr.split('\n').slice(-20).join('\n'));
  console.log('RESULT passed=0 failed=1');
  await shutdown(1);
}
const portal = demoOut.match(/portal \(administrator\): (\S+)/)[1];
const control = demoOut.match(/control API (http:\/\/\S+)/)[1];

async function wa(method, path, body) {
  const res = await fetch(control + path, {
    method, headers: body ? { 'Content-Type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`wa-sim ${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

// --- the browser ----------------------------------------------------------------------------

browser = await chromium.launch({
  executablePath: chromiumPath,
  headless: !process.env.E2E_HEADED,
  args: [
    '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', '--autoplay-policy=no-user-gesture-required',
    ...(process.getuid && process.getuid() === 0 ? ['--no-sandbox'] : []),
  ],
});

const pageErrors = [];
/** Opens the portal shell as `user` in `lang`; answers {page, app} with the app's frame. */
async function openPortal(user, lang, viewport = VIEW) {
  const context = await browser.newContext({ viewport, acceptDownloads: true });
  const page = await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(`user ${user}: ${e.message}`));
  page.on('dialog', (d) => d.accept());
  const q = new URLSearchParams({ lang });
  if (user !== 1) q.set('user', String(user));
  await page.goto(`${portal}?${q}`);
  const app = await until('the app frame loads', async () => {
    const f = page.frame({ name: 'app' });
    return f && (await f.locator('[data-test=tab-chats]').count()) > 0 ? f : null;
  });
  await app.locator('[data-test=stream-state][data-state=live]').waitFor({ timeout: T });
  return { page, app, context };
}

/** fetch() inside the app frame with its session token: {status, body}. */
function apiIn(app, method, path, body) {
  return app.evaluate(async ([method, path, body]) => {
    const token = JSON.parse(document.getElementById('wab24-session').textContent).token;
    const res = await fetch(path, {
      method, headers: { Authorization: 'Bearer ' + token, ...(body ? { 'Content-Type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    let json = null;
    try { json = JSON.parse(text); } catch { /* not JSON */ }
    return { status: res.status, body: json ?? text };
  }, [method, path, body ?? null]);
}

let passed = 0;
let failed = 0;
let n = 0;
let shotPage = null;
async function step(name, fn) {
  n++;
  const file = `${String(n).padStart(2, '0')}-${name.replace(/[^a-z0-9]+/gi, '-').toLowerCase().replace(/^-|-$/g, '')}.png`;
  const started = Date.now();
  try {
    const note = await fn();
    passed++;
    console.log(`ok   ${n} ${name} (${Date.now() - started} ms)${note ? ': ' + note : ''}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${n} ${name}: ${String(e.message).split('\n')[0]}`);
  }
  if (shotPage) await shotPage.screenshot({ path: join(artifacts, file) }).catch(() => {});
}

const admin = await openPortal(1, 'en');
shotPage = admin.page;
const A = admin.app;
const state = {};

// 1
await step('admin creates a line and sees the QR code', async () => {
  await A.click('[data-test=tab-connections]');
  await A.locator('[data-test=no-lines]').waitFor({ timeout: T });
  await A.fill('[data-test=line-name]', 'Sales');
  await A.click('[data-test=create-line]');
  const qr = A.locator('[data-test=qr-dialog] [data-test=qr] svg');
  await qr.waitFor({ timeout: T });
  state.lineA = Number(await A.getAttribute('[data-test=qr-dialog]', 'data-line-id'));
  state.qrA = await A.getAttribute('[data-test=qr]', 'data-qr');
  check(state.qrA && state.qrA.length > 20, 'the QR text is not in the dialog');
  const seconds = Number(await A.getAttribute('[data-test=qr-countdown]', 'data-seconds'));
  check(seconds > 0, 'no countdown');
  await sleep(1200);
  const later = Number(await A.getAttribute('[data-test=qr-countdown]', 'data-seconds'));
  check(later < seconds || later > 0, 'the countdown does not move');
  const box = await qr.boundingBox();
  check(box && box.width > 150, 'the QR code is too small to scan');
  // Unscanned, the code is replaced by a new one (over the stream) and the countdown restarts.
  await until('a new QR code replaces the first', async () => {
    const now = await A.getAttribute('[data-test=qr]', 'data-qr');
    return now && now !== state.qrA;
  }, 75000);
  const restarted = Number(await A.getAttribute('[data-test=qr-countdown]', 'data-seconds'));
  check(restarted > 5, `the countdown did not restart (${restarted})`);
  return `countdown ${seconds} s, then a new code`;
});

// 2
await step('the phone scans the QR code and the line turns connected', async () => {
  // The code on screen is the one the phone scans (a newer one may have replaced it).
  const qr = await A.getAttribute('[data-test=qr]', 'data-qr');
  await wa('POST', '/scan', { qr, phone: BUSINESS_PHONES[(state.lineA - 1) % 5] });
  await A.locator('[data-test=qr-dialog][data-state=connected]').waitFor({ timeout: T });
  await A.locator(`[data-test=line][data-line-id="${state.lineA}"] [data-test=line-status][data-state=connected]`).waitFor({ timeout: T });
  await A.locator('[data-test=qr-dialog]').waitFor({ state: 'detached', timeout: T });
  const line = await A.locator(`[data-test=line][data-line-id="${state.lineA}"]`).innerText();
  check(line.includes('Connected'), 'status text is not "Connected"');
  await A.locator(`[data-test=line][data-line-id="${state.lineA}"]`).getByText('+7 999 000-00-01').waitFor({ timeout: T });
});

// A second line on another phone, with a customer on it, that user 2 must never see.
await step('a second line is created, paired and gets a conversation', async () => {
  await A.fill('[data-test=line-name]', 'Support');
  await A.click('[data-test=create-line]');
  await A.locator('[data-test=qr-dialog] [data-test=qr] svg').waitFor({ timeout: T });
  state.lineB = Number(await A.getAttribute('[data-test=qr-dialog]', 'data-line-id'));
  const qr = await A.getAttribute('[data-test=qr]', 'data-qr');
  await wa('POST', '/scan', { qr, phone: BUSINESS_PHONES[(state.lineB - 1) % 5] });
  await A.locator(`[data-test=line][data-line-id="${state.lineB}"] [data-test=line-status][data-state=connected]`).waitFor({ timeout: T });
  await wa('POST', `/phones/${OTHER_CUSTOMER}/send`, { to: BUSINESS_PHONES[(state.lineB - 1) % 5], text: 'Only the support line should see this' });
  await until('the admin has the second line\'s conversation', async () => {
    const r = await apiIn(A, 'GET', `/api/lines/${state.lineB}/conversations`);
    return r.body.conversations && r.body.conversations.length === 1;
  });
  await A.locator('[data-test=qr-dialog]').waitFor({ state: 'detached', timeout: T });
});

// 3
await step('admin assigns the line to user 2', async () => {
  const select = A.locator(`[data-test=line][data-line-id="${state.lineA}"] [data-test=assign]`);
  await until('user 2 is in the picker', async () => (await select.locator('option[value="2"]').count()) === 1);
  await select.selectOption('2');
  await until('the line is assigned to user 2', async () => (await apiIn(A, 'GET', `/api/lines/${state.lineA}`)).body.assigned_user === 2);
  await A.locator('[data-test=toasts]').getByText(/assigned to/).waitFor({ timeout: T });
  await admin.page.screenshot({ path: join(shots, process.env.E2E_DOCS ? 'connections.png' : 'docs-connections.png') });
});

// 4
const user2 = await openPortal(2, 'ru');
const U = user2.app;
shotPage = user2.page;
await step('user 2 sees only the assigned line', async () => {
  const lines = (await apiIn(U, 'GET', '/api/lines')).body.lines;
  check(lines.length === 1 && lines[0].id === state.lineA, `user 2 gets lines ${JSON.stringify(lines.map((l) => l.id))}`);
  await U.locator('[data-test=list-note]').waitFor({ timeout: T });
  check((await U.locator('[data-test=conv]').count()) === 0, 'user 2 sees a conversation of another line');
  check(await U.locator('[data-test=line-filter]').isHidden(), 'a line picker is shown for one line');
  const text = await U.locator('[data-test=list-note]').innerText();
  check(/Диалогов пока нет/.test(text), `the empty list says "${text}" (Russian expected)`);
  check(await U.locator('[data-test=tab-chats]').innerText() === 'Чаты', 'the tabs are not in Russian');
});

// 5
const inboundText = 'Здравствуйте! Доставите в Казань? 🚚✨ Ελλάδα, café';
await step('a customer message appears live with an unread badge', async () => {
  state.inboundWaId = (await wa('POST', `/phones/${CUSTOMER}/send`, { to: BUSINESS_PHONES[(state.lineA - 1) % 5], text: inboundText })).id;
  const conv = U.locator('[data-test=conv]').filter({ hasText: inboundText.slice(0, 20) });
  await conv.waitFor({ timeout: T });
  await until('the unread badge shows 1', async () => (await conv.locator('[data-test=unread]').innerText()) === '1');
  state.convId = Number(await conv.getAttribute('data-conv-id'));
  const preview = await conv.locator('[data-test=conv-preview]').innerText();
  check(preview.includes(inboundText), `preview "${preview}"`);
  check((await conv.locator('[data-test=conv-time]').innerText()).match(/\d\d:\d\d/), 'no time in the list');
  check((await U.locator('[data-test=conv]').count()) === 1, 'user 2 sees more than their conversation');
});

// 6
await step('opening the conversation (keyboard) resets the badge', async () => {
  await U.focus('[data-test=search]');
  await U.press('[data-test=search]', 'ArrowDown');
  await user2.page.keyboard.press('Enter');
  await U.locator(`[data-test=msg][data-direction=in]`).filter({ hasText: inboundText }).waitFor({ timeout: T });
  await U.locator(`[data-test=conv][data-conv-id="${state.convId}"] [data-test=unread]`).waitFor({ state: 'detached', timeout: T });
  await until('the server says 0 unread', async () => (await apiIn(U, 'GET', `/api/conversations/${state.convId}`)).body.unread === 0);
  const focused = await U.evaluate(() => document.activeElement && document.activeElement.dataset.test);
  check(focused === 'composer-input', `focus is on ${focused}, not the composer`);
});

/** Follows an outbound message's ticks until read; answers the distinct statuses seen. */
async function ticksUntilRead(msgLocator, phone) {
  const seen = [];
  const end = Date.now() + T;
  let readSent = false;
  while (Date.now() < end) {
    const st = await msgLocator.locator('[data-test=ticks]').getAttribute('data-status').catch(() => null);
    if (st && seen[seen.length - 1] !== st) seen.push(st);
    if (st === 'read') return seen;
    if (st === 'delivered' && !readSent) {
      // The phone reads it (the demo's customers also read by themselves after a moment).
      const rec = await wa('GET', `/phones/${phone}/received`);
      const last = rec.messages.filter((m) => !m.from_me).pop();
      if (last) {
        await wa('POST', `/phones/${phone}/read`, { chat: last.chat, ids: [last.id] }).catch(() => {});
        readSent = true;
      }
    }
    await sleep(40);
  }
  throw new Error(`ticks stopped at ${seen.join(' -> ')}`);
}

const RANK = { pending: 0, sent: 1, delivered: 2, read: 3 };
function monotonic(seen) {
  return seen.every((s, i) => i === 0 || RANK[s] > RANK[seen[i - 1]]);
}

async function phoneGot(pred, what) {
  return until(what, async () => {
    const rec = await wa('GET', `/phones/${CUSTOMER}/received`);
    return rec.messages.find((m) => !m.from_me && pred(m));
  });
}

// 7
await step('user replies with text (Shift+Enter newline, Enter sends); ticks go sent, delivered, read', async () => {
  const input = U.locator('[data-test=composer-input]');
  await input.type('Да, доставим 👍');
  await input.press('Shift+Enter');
  await input.type('Срок — 2 дня 🙂');
  await input.press('Enter');
  const text = 'Да, доставим 👍\nСрок — 2 дня 🙂';
  const msg = U.locator('[data-test=msg][data-direction=out]').filter({ hasText: 'Срок — 2 дня' });
  await msg.waitFor({ timeout: T });
  check((await input.inputValue()) === '', 'the composer was not cleared');
  const seen = await ticksUntilRead(msg, CUSTOMER);
  check(monotonic(seen), `ticks went ${seen.join(' -> ')}`);
  check(seen.includes('delivered') && seen.at(-1) === 'read', `ticks went ${seen.join(' -> ')}`);
  const got = await phoneGot((m) => m.text === text, 'the phone received the text');
  check(got.kind === 'text', 'not a text');
  return `ticks ${seen.join(' -> ')}`;
});

// 8
await step('user replies with a quote', async () => {
  const inbound = U.locator('[data-test=msg][data-direction=in]').filter({ hasText: inboundText });
  await inbound.hover();
  await inbound.locator('[data-test=reply]').click();
  await U.locator('[data-test=quote-bar]').filter({ hasText: 'Казань' }).waitFor({ timeout: T });
  await U.locator('[data-test=composer-input]').type('Отвечаю на ваш вопрос ↑');
  await U.locator('[data-test=composer-input]').press('Enter');
  const msg = U.locator('[data-test=msg][data-direction=out]').filter({ hasText: 'Отвечаю на ваш вопрос' });
  await msg.waitFor({ timeout: T });
  const quote = await msg.locator('[data-test=quote]').innerText();
  check(quote.includes('Казань'), `the quote shows "${quote}"`);
  check(await U.locator('[data-test=quote-bar]').isHidden(), 'the quote bar stays');
  const got = await phoneGot((m) => m.text === 'Отвечаю на ваш вопрос ↑', 'the phone received the reply');
  check(got.quoted_id === state.inboundWaId, `the phone sees quoted ${got.quoted_id}, not ${state.inboundWaId}`);
  const seen = await ticksUntilRead(msg, CUSTOMER);
  check(monotonic(seen) && seen.at(-1) === 'read', `ticks went ${seen.join(' -> ')}`);
});

// 9
await step('user reacts to the customer message', async () => {
  const inbound = U.locator('[data-test=msg][data-direction=in]').filter({ hasText: inboundText });
  await inbound.hover();
  await inbound.locator('[data-test=react]').click();
  await U.locator('[data-test=reaction-picker] [data-emoji="❤️"]').click();
  await inbound.locator('[data-test=reactions]').filter({ hasText: '❤️' }).waitFor({ timeout: T });
  await phoneGot((m) => m.kind === 'reaction', 'the phone received the reaction');
});

// 9b
await step('a customer shares a place and a contact card: a map link and a card with the number', async () => {
  const to = BUSINESS_PHONES[(state.lineA - 1) % 5];
  await wa('POST', `/phones/${CUSTOMER}/send`, { to, location: { latitude: 55.75393, longitude: 37.620795, name: 'Red Square', address: 'Moscow' } });
  const vcard = 'BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ivan Petrov\r\nitem1.TEL;waid=79161234567:+7 916 123-45-67\r\nEND:VCARD';
  await wa('POST', `/phones/${CUSTOMER}/send`, { to, contacts: [{ name: 'Ivan Petrov', vcard }] });
  const place = U.locator('[data-test=msg][data-kind=location] [data-test=msg-location]');
  await place.waitFor({ timeout: T });
  const href = await place.getAttribute('href');
  check(href === 'https://www.openstreetmap.org/?mlat=55.753930&mlon=37.620795', `map link "${href}"`);
  check((await place.innerText()).includes('Red Square'), 'the place has no name');
  const card = U.locator('[data-test=msg][data-kind=contact] [data-test=msg-contact]');
  await card.waitFor({ timeout: T });
  check((await card.innerText()).includes('Ivan Petrov'), 'the card has no name');
  const phone = card.locator('[data-test=contact-phone]');
  check((await phone.innerText()) === '+7 916 123-45-67', 'the card has no number');
  check((await phone.getAttribute('href')) === 'tel:+79161234567', 'the number is no tel: link');
});

// 10
await step('user sends an image (button, with upload progress)', async () => {
  await U.evaluate(() => {
    window.__progress = [];
    new MutationObserver(() => {
      for (const p of document.querySelectorAll('[data-test=upload-pct]')) window.__progress.push(p.textContent);
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
  await U.setInputFiles('[data-test=file-input]', { name: 'товар.png', mimeType: 'image/png', buffer: png(900, 600) });
  const msg = U.locator('[data-test=msg][data-direction=out][data-kind=image]');
  await msg.waitFor({ timeout: T });
  await until('the image is shown', () => msg.locator('img').evaluate((img) => img.complete && img.naturalWidth === 900));
  const progress = await U.evaluate(() => window.__progress);
  check(progress.includes('100%'), `upload progress seen: ${[...new Set(progress)].join(',')}`);
  const got = await phoneGot((m) => m.kind === 'image', 'the phone received the image');
  check(got.mimetype === 'image/png' && got.file_length > 1000, `image ${got.mimetype} ${got.file_length}`);
  const seen = await ticksUntilRead(msg, CUSTOMER);
  check(seen.at(-1) === 'read', `ticks went ${seen.join(' -> ')}`);
});

// 11
await step('user sends a document by drag-and-drop (name and size shown)', async () => {
  await U.evaluate(() => {
    const pane = document.querySelector('.conversation');
    const dt = new DataTransfer();
    dt.items.add(new File(['%PDF-1.4\n' + 'x'.repeat(20000)], 'Счёт №4821.pdf', { type: 'application/pdf' }));
    pane.dispatchEvent(new DragEvent('dragenter', { dataTransfer: dt, bubbles: true, cancelable: true }));
    pane.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  });
  const doc = U.locator('[data-test=msg][data-direction=out][data-kind=document]');
  await doc.waitFor({ timeout: T });
  check((await doc.locator('[data-test=doc-name]').innerText()) === 'Счёт №4821.pdf', 'document name');
  const size = await doc.locator('[data-test=doc-size]').innerText();
  check(/^20 КБ$/.test(size), `document size "${size}"`);
  const got = await phoneGot((m) => m.kind === 'document', 'the phone received the document');
  check(got.mimetype === 'application/pdf', `document type ${got.mimetype}`);
});

// 12
await step('user sends a file by paste', async () => {
  await U.evaluate(() => {
    const input = document.querySelector('[data-test=composer-input]');
    const dt = new DataTransfer();
    dt.items.add(new File(['name,qty\nwidget,3\n'], 'order.csv', { type: 'text/csv' }));
    input.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
  });
  await U.locator('[data-test=msg][data-direction=out][data-kind=document]').filter({ hasText: 'order.csv' }).waitFor({ timeout: T });
});

// 13
await step('a voice note is recorded (fake microphone), cancel works, sent; the phone gets a playable voice note', async () => {
  const before = await U.locator('[data-test=msg][data-kind=voice]').count();
  // Cancel first: nothing is sent.
  await U.click('[data-test=record]');
  let why = '';
  await until('the recorder opens', async () => {
    if (await U.locator('[data-test=recorder]').isVisible()) return true;
    why = await U.locator('[data-test=toasts] .toast-error').last().innerText({ timeout: 100 }).catch(() => why);
    if (why) throw new Error(why);
    return false;
  }, T).catch((e) => { throw new Error(`the recorder did not open: ${why || e.message}`); });
  await sleep(700);
  await U.click('[data-test=rec-cancel]');
  await U.locator('[data-test=recorder]').waitFor({ state: 'hidden', timeout: T });
  // Then a real one of about 2.5 s.
  await U.click('[data-test=record]');
  await U.locator('[data-test=recorder]').waitFor({ timeout: T });
  await sleep(2600);
  const shown = await U.locator('[data-test=rec-time]').innerText();
  check(shown === '0:02' || shown === '0:03', `the timer shows ${shown}`);
  await U.click('[data-test=rec-send]');
  const voice = U.locator('[data-test=msg][data-direction=out][data-kind=voice]');
  await until('one voice note in the thread', async () => (await voice.count()) === before + 1);
  state.voiceSent = true;
  const got = await phoneGot((m) => m.kind === 'ptt', 'the phone received a voice note');
  check(/^audio\/ogg/.test(got.mimetype) && got.file_length > 1000, `voice note ${got.mimetype} ${got.file_length}`);
  // The stored file is Ogg Opus and the player plays it.
  const id = Number(await voice.last().getAttribute('data-id'));
  const magic = await U.evaluate(async (id) => {
    const token = JSON.parse(document.getElementById('wab24-session').textContent).token;
    const res = await fetch(`/api/messages/${id}/media`, { headers: { Authorization: 'Bearer ' + token } });
    const b = new Uint8Array(await res.arrayBuffer());
    return [res.headers.get('content-type'), String.fromCharCode(...b.slice(0, 4)), new TextDecoder().decode(b.slice(28, 36))];
  }, id);
  check(magic[1] === 'OggS' && magic[2] === 'OpusHead', `the stored voice note is ${JSON.stringify(magic)}`);
  await voice.last().locator('[data-test=voice-play]').click();
  // What the element has played (a short note may end between two polls; ended rewinds it).
  await until('the voice note plays', async () => {
    const a = await voice.last().locator('audio').evaluate((a) => ({
      played: a.played.length ? a.played.end(a.played.length - 1) : 0,
      now: a.currentTime, duration: a.duration, paused: a.paused, ready: a.readyState, error: a.error && a.error.code,
    }));
    if (a.played > 0) return true;
    throw new Error(`audio ${JSON.stringify(a)}`);
  });
});

// 14
await step('the stream drops: a reconnecting indicator, then live again with what was missed', async () => {
  await U.evaluate(() => window.wab24.stream.drop());
  await U.locator('[data-test=stream-state][data-state=reconnecting]').waitFor({ timeout: T });
  const label = await U.locator('[data-test=stream-state]').innerText();
  check(/Переподключение/.test(label), `indicator says "${label}"`);
  await wa('POST', `/phones/${CUSTOMER}/send`, { to: BUSINESS_PHONES[(state.lineA - 1) % 5], text: 'Пока вас не было 😊' });
  await U.locator('[data-test=stream-state][data-state=live]').waitFor({ timeout: T });
  await U.locator('[data-test=msg][data-direction=in]').filter({ hasText: 'Пока вас не было' }).waitFor({ timeout: T });
  // It is on screen in the open conversation: no badge.
  await U.locator(`[data-test=conv][data-conv-id="${state.convId}"] [data-test=unread]`).waitFor({ state: 'detached', timeout: T });
  // The README's picture of the chat panel: everything read, uploads gone, at the bottom.
  await until('the last reply is read', async () => (await U.locator('[data-test=msg][data-direction=out] [data-test=ticks]').last().getAttribute('data-status')) === 'read');
  await sleep(800);
  await U.locator('[data-test=thread]').evaluate((el) => { el.scrollTop = el.scrollHeight; });
  await user2.page.screenshot({ path: join(shots, process.env.E2E_DOCS ? 'chat.png' : 'docs-chat.png') });
});

state.userTwoCount = await U.locator('[data-test=msg]').count();

// 15
shotPage = admin.page;
await step('admin disconnects the line and reassigns it to user 3', async () => {
  const card = A.locator(`[data-test=line][data-line-id="${state.lineA}"]`);
  await card.locator('[data-test=disconnect]').click();
  await card.locator('[data-test=line-status][data-state=disconnected]').waitFor({ timeout: T });
  await card.locator('[data-test=assign]').selectOption('3');
  await until('the line is assigned to user 3', async () => (await apiIn(A, 'GET', `/api/lines/${state.lineA}`)).body.assigned_user === 3);
  // User 3 has a photo on the portal: the card shows it as their avatar (loaded, not the initials).
  const face = A.locator(`[data-test=line][data-line-id="${state.lineA}"] [data-test=assigned-avatar] img[data-test=avatar-img]`);
  await face.waitFor({ timeout: T });
  await until('user 3\'s photo loads', async () => face.evaluate((img) => img.complete && img.naturalWidth > 0).catch(() => false));
  const mine = (await apiIn(U, 'GET', '/api/lines')).body.lines;
  check(mine.length === 0, 'user 2 still has the line');
  // User 2's open panel drops the line's chats live (line.unassigned), without a reload.
  await U.locator(`[data-test=conv][data-conv-id="${state.convId}"]`).waitFor({ state: 'detached', timeout: T });
});

// 16
const user3 = await openPortal(3, 'en');
shotPage = user3.page;
await step('user 3 sees the whole history', async () => {
  const conv = user3.app.locator(`[data-test=conv][data-conv-id="${state.convId}"]`);
  await conv.waitFor({ timeout: T });
  await conv.click();
  await user3.app.locator('[data-test=thread-start]').waitFor({ timeout: T });
  const count = await user3.app.locator('[data-test=msg]').count();
  check(count === state.userTwoCount, `user 3 sees ${count} messages, user 2 saw ${state.userTwoCount}`);
  // (A voice note only when step "a voice note is recorded" got one out: not counted twice.)
  for (const kind of ['text', 'image', 'document', ...(state.voiceSent ? ['voice'] : [])]) {
    check((await user3.app.locator(`[data-test=msg][data-kind=${kind}]`).count()) > 0, `no ${kind} in the history`);
  }
  check((await user3.app.locator('[data-test=msg] [data-test=quote]').count()) === 1, 'the quote is missing');
  const head = await user3.app.locator('[data-test=thread-head]').innerText();
  check(/Disconnected/.test(head), `the thread does not say the line is disconnected: ${head}`);
});

// 17
await step('older history loads on scrolling up', async () => {
  // 45 more messages from the customer on the line, reconnected: more than one page (40).
  await apiIn(A, 'POST', `/api/lines/${state.lineA}/connect`);
  await A.locator(`[data-test=line][data-line-id="${state.lineA}"] [data-test=line-status][data-state=connected]`).waitFor({ timeout: T });
  for (let i = 1; i <= 45; i++) {
    await wa('POST', `/phones/${CUSTOMER}/send`, { to: BUSINESS_PHONES[(state.lineA - 1) % 5], text: `Сообщение ${i}` });
  }
  await until('all 45 stored', async () => {
    const r = await apiIn(user3.app, 'GET', `/api/conversations/${state.convId}/messages?limit=1`);
    return r.body.messages[0] && r.body.messages[0].text === 'Сообщение 45';
  });
  const page3 = await openPortal(3, 'en');
  shotPage = page3.page;
  const X = page3.app;
  await X.locator(`[data-test=conv][data-conv-id="${state.convId}"]`).click();
  await X.locator('[data-test=msg]').filter({ hasText: 'Сообщение 45' }).waitFor({ timeout: T });
  const first = await X.locator('[data-test=msg]').count();
  check(first < state.userTwoCount + 45 + 5, `the first page already holds ${first}`);
  await until('older pages load', async () => {
    await X.locator('[data-test=thread]').evaluate((el) => { el.scrollTop = 0; el.dispatchEvent(new Event('scroll')); });
    return (await X.locator('[data-test=thread-start]').count()) === 1;
  });
  const all = await X.locator('[data-test=msg]').count();
  check(all > first, `no older messages (${first} -> ${all})`);
  await X.locator('[data-test=msg][data-direction=in]').filter({ hasText: inboundText }).waitFor({ timeout: T });
  await page3.context.close();
  shotPage = user3.page;
});

// Writing first (issue 20): a number on WhatsApp that never wrote, and one that is not on it.
const NEW_CUSTOMER = '79160000777';
shotPage = user3.page;
await step('user 3 writes first to a new number: checked with WhatsApp, warned, sent; a number not on WhatsApp is a clear answer', async () => {
  const X = user3.app;
  await wa('POST', '/accounts', { phone: NEW_CUSTOMER });
  await X.click('[data-test=new-chat]');
  await X.fill('[data-test=new-chat-phone]', '+7 916 000-07-78');
  await X.click('[data-test=new-chat-start]');
  const error = X.locator('[data-test=new-chat-error]');
  await error.waitFor({ timeout: T });
  const said = await error.innerText();
  check(/not on WhatsApp/.test(said), `the answer for a number not on WhatsApp is "${said}"`);
  await X.fill('[data-test=new-chat-phone]', '+7 (916) 000-07-77');
  await X.click('[data-test=new-chat-start]');
  const warning = X.locator('[data-test=cold-warning]');
  await warning.waitFor({ timeout: T });
  const warned = await warning.innerText();
  check(/never wrote/.test(warned) && /20 an hour/.test(warned), `the warning before the first message says "${warned}"`);
  check(await X.locator('[data-test=new-chat-form]').isHidden(), 'the new chat form stays open');
  const input = X.locator('[data-test=composer-input]');
  await input.type('Hello! You asked us for an offer last week.');
  await input.press('Enter');
  await X.locator('[data-test=msg][data-direction=out]').filter({ hasText: 'You asked us for an offer' }).waitFor({ timeout: T });
  await until('the new customer\'s phone got it', async () => {
    const rec = await wa('GET', `/phones/${NEW_CUSTOMER}/received`);
    return rec.messages.find((m) => !m.from_me && m.text === 'Hello! You asked us for an offer last week.');
  });
});

// 18
shotPage = admin.page;
await step('with the quota used up, line creation is blocked with the plan\'s message', async () => {
  await A.click('[data-test=tab-connections]');
  for (;;) {
    const s = (await apiIn(A, 'GET', '/api/subscription')).body;
    if (s.lines_used >= s.lines_allowed) break;
    await A.fill('[data-test=line-name]', `Line ${s.lines_used + 1}`);
    await A.click('[data-test=create-line]');
    await A.locator('[data-test=qr-dialog]').waitFor({ timeout: T });
    await A.locator('[data-test=qr-dialog] .dialog-close').click();
    await until('the count moves', async () => (await apiIn(A, 'GET', '/api/subscription')).body.lines_used > s.lines_used);
  }
  await until('the create button is disabled', () => A.locator('[data-test=create-line]').isDisabled());
  const msg = await A.locator('[data-test=quota-message]').innerText();
  check(msg.includes('“demo”') && msg.includes('5'), `quota message "${msg}"`);
  check((await A.locator('[data-test=quota-count]').innerText()).includes('5 of 5'), 'quota count');
  // If the page were stale, the API refuses and the page shows its message.
  await A.evaluate(() => { document.querySelector('[data-test=create-line]').disabled = false; document.querySelector('[data-test=line-name]').disabled = false; });
  await A.click('[data-test=create-line]');
  await A.locator('[data-test=create-error]').filter({ hasText: 'line quota reached: 5 of 5' }).waitFor({ timeout: T });
  const r = await apiIn(A, 'POST', '/api/lines', { name: 'one too many' });
  check(r.status === 409 && r.body.error.code === 'quota_exceeded', `API answered ${r.status}`);
});

// 19
shotPage = admin.page;
await step('admin filters the audit log, sees a raw payload and exports', async () => {
  await A.click('[data-test=tab-audit]');
  await A.locator('[data-test=audit-row]').first().waitFor({ timeout: T });
  await A.selectOption('[data-test=audit-kind]', 'line.assigned');
  await A.click('[data-test=audit-apply]');
  await until('only line.assigned rows', async () => {
    const kinds = await A.locator('[data-test=audit-row]').evaluateAll((rows) => rows.map((r) => r.dataset.kind));
    return kinds.length > 0 && kinds.every((k) => k === 'line.assigned');
  });
  await A.selectOption('[data-test=audit-kind]', '');
  await A.selectOption('[data-test=audit-user]', 'admin:1');
  await A.click('[data-test=audit-apply]');
  await until('only what admin 1 did', async () => {
    const actors = await A.locator('[data-test=audit-row]').evaluateAll((rows) => rows.map((r) => r.dataset.actor));
    return actors.length > 0 && actors.every((a) => a === 'admin:1');
  });
  await A.selectOption('[data-test=audit-user]', '');
  await A.selectOption('[data-test=audit-line]', String(state.lineA));
  await A.click('[data-test=audit-apply]');
  await until('rows of line A', async () => (await A.locator('[data-test=audit-row]').count()) > 0);
  await A.locator('[data-test=payload-toggle]').first().click();
  const payload = await A.locator('[data-test=payload]').first().innerText();
  check(payload.trim().startsWith('{') || /^[0-9a-f]+$/.test(payload.trim()), 'no raw payload');
  const [download] = await Promise.all([admin.page.waitForEvent('download', { timeout: T }), A.click('[data-test=audit-export]')]);
  const file = await download.path();
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  check(lines.length > 0 && lines.every((l) => JSON.parse(l).subject === `line:${state.lineA}`), 'export does not match the filter');
});

// 20
shotPage = user2.page;
await step('user 2 cannot reach Connections or the audit log (page and API)', async () => {
  await U.click('[data-test=tab-connections]');
  await U.locator('#panel-connections [data-test=admins-only]').waitFor({ timeout: T });
  check(/Только для администраторов/.test(await U.locator('#panel-connections [data-test=admins-only]').innerText()), 'no notice');
  await U.click('[data-test=tab-audit]');
  await U.locator('#panel-audit [data-test=admins-only]').waitFor({ timeout: T });
  const create = await apiIn(U, 'POST', '/api/lines', { name: 'sneaky' });
  const audit = await apiIn(U, 'GET', '/api/audit');
  const users = await apiIn(U, 'GET', '/api/users');
  check(create.status === 403 && audit.status === 403 && users.status === 403, `API answered ${create.status}, ${audit.status}, ${users.status}`);
});

// 21
shotPage = admin.page;
await step('admin sends a line to a new Bitrix24 Open Line from the panel', async () => {
  await A.click('[data-test=tab-connections]');
  const card = A.locator(`[data-test=line][data-line-id="${state.lineB}"]`);
  await card.locator('[data-test=open-line] option[value="new"]').waitFor({ state: 'attached', timeout: T });
  await card.locator('[data-test=open-line]').selectOption('new');
  const name = card.locator('[data-test=open-line-name]');
  await name.waitFor({ timeout: T });
  const proposed = await name.inputValue();
  check(proposed === 'Support', `the new Open Line is named "${proposed}" (the line's name expected)`);
  await name.fill('WhatsApp Support');
  await card.locator('[data-test=create-open-line]').click();
  const line = await until('line B sends its conversations to the new Open Line', async () => {
    const l = (await apiIn(A, 'GET', `/api/lines/${state.lineB}`)).body;
    return l.open_channel === 'both' && l.open_line_id ? l : null;
  });
  state.openLine = line.open_line_id;
  const listed = (await apiIn(A, 'GET', '/api/open-lines')).body.open_lines;
  const created = listed.find((o) => o.id === state.openLine);
  check(created && created.name === 'WhatsApp Support' && created.line_id === state.lineB, `Open Lines ${JSON.stringify(listed)}`);
  await until('the card shows the Open Line chosen', async () => (await card.locator('[data-test=open-line]').inputValue()) === String(state.openLine));
  check((await card.locator('[data-test=open-channel]').inputValue()) === 'both', 'the card does not say "both"');
  await A.locator('[data-test=toasts]').getByText('Open Line “WhatsApp Support” created.').waitFor({ timeout: T });
  // The connector activates the connected line on the Open Line in Bitrix24; the card follows.
  await card.locator('[data-test=open-channel-status][data-status=active]').waitFor({ timeout: T });
  return `Open Line #${state.openLine}, active in Bitrix24`;
});

/** Opens the Open Line's connector settings as Bitrix24 frames them (SETTING_CONNECTOR). */
async function openConnectorSettings(user, lang, openLine) {
  const context = await browser.newContext({ viewport: VIEW });
  const page = await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(`settings, user ${user}: ${e.message}`));
  const options = { CONNECTOR: 'wab24_whatsapp', LINE: String(openLine), STATUS: false, ACTIVE_STATUS: true, CONNECTION_STATUS: false, REGISTER_STATUS: false, ERROR_STATUS: false };
  const q = new URLSearchParams({ lang, user: String(user), placement: 'SETTING_CONNECTOR', options: JSON.stringify(options), app: `http://127.0.0.1:${listen}/b24/connector` });
  await page.goto(`${portal.split('?')[0]}?${q}`);
  const frame = await until('the settings page loads', async () => {
    const f = page.frame({ name: 'app' });
    return f && (await f.locator('[data-test=connector-page]').count()) > 0 ? f : null;
  });
  return { page, frame, context };
}

// 22
await step('the Open Line\'s settings page, as Bitrix24 opens it, changes the line that feeds it', async () => {
  const settings = await openConnectorSettings(1, 'ru', state.openLine);
  shotPage = settings.page;
  const S = settings.frame;
  const fed = S.locator('[data-test=connector-fed]');
  check((await fed.getAttribute('data-line-id')) === String(state.lineB), 'the page does not name line B');
  check(/Линия «Support»/.test(await fed.innerText()), `the page says "${await fed.innerText()}" (Russian expected)`);
  await S.locator('[data-test=connector-line]').selectOption(String(state.lineA));
  await S.click('[data-test=connector-save]');
  await S.locator('[data-test=connector-result]').getByText('Сохранено.').waitFor({ timeout: T });
  await until('the page names line A', async () => (await fed.getAttribute('data-line-id')) === String(state.lineA));
  const a = (await apiIn(A, 'GET', `/api/lines/${state.lineA}`)).body;
  const b = (await apiIn(A, 'GET', `/api/lines/${state.lineB}`)).body;
  check(a.open_channel === 'both' && a.open_line_id === state.openLine, `line A: ${a.open_channel} ${a.open_line_id}`);
  check(b.open_channel === 'panel', `line B still sends to ${b.open_channel}`);
  // The panel follows (line.updated).
  const cardA = A.locator(`[data-test=line][data-line-id="${state.lineA}"]`);
  await until('the panel shows line A on the Open Line', async () => (await cardA.locator('[data-test=open-line]').inputValue()) === String(state.openLine));
  // A user sees which line feeds it, and that administrators choose.
  const asUser = await openConnectorSettings(2, 'en', state.openLine);
  shotPage = asUser.page;
  await asUser.frame.locator('[data-test=connector-admins-only]').waitFor({ timeout: T });
  check((await asUser.frame.locator('[data-test=connector-fed]').getAttribute('data-line-id')) === String(state.lineA), 'the user\'s page does not name line A');
  check((await asUser.frame.locator('[data-test=connector-line]').count()) === 0, 'a user gets the line picker');
  await settings.page.screenshot({ path: join(artifacts, 'connector-settings.png') });
  await settings.context.close();
  await asUser.context.close();
  shotPage = admin.page;
});

// The demo portal's CRM (server/src/demo/crm.rs): the customer's contact card, its WhatsApp
// tab (CRM_CONTACT_DETAIL_TAB, bound at install) POSTed as Bitrix24 does, the chat answered there.
await step('user 3 opens the customer\'s WhatsApp tab in the shell\'s CRM and answers', async () => {
  const context = await browser.newContext({ viewport: VIEW });
  const page = await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(`crm tab: ${e.message}`));
  try {
    await page.goto(`${portal}crm?user=3&lang=en`);
    await page.locator('[data-kind=contact] a').filter({ hasText: 'Анна' }).click();
    check(await page.locator('[data-field=phones]').innerText() === '+7 916 000-00-01', 'the card does not show the number');
    await page.locator('[data-tab]').filter({ hasText: 'WhatsApp' }).click();
    const tab = await until('the tab frame loads', async () => {
      const f = page.frame({ name: 'tab' });
      return f && (await f.locator('[data-test=crm-bar]').count()) > 0 ? f : null;
    });
    const conv = tab.locator(`[data-test=conv][data-conv-id="${state.convId}"]`);
    await conv.waitFor({ timeout: T });
    check((await tab.locator('[data-test=conv]').count()) === 1, 'the tab shows another client\'s chat');
    check((await tab.locator('[data-test=tab-connections]').count()) === 0, 'the tab shows the panel\'s other pages');
    await conv.click();
    const input = tab.locator('[data-test=composer-input]');
    await input.type('Answered from the CRM card');
    await input.press('Enter');
    await tab.locator('[data-test=msg][data-direction=out]').filter({ hasText: 'Answered from the CRM card' }).waitFor({ timeout: T });
    await phoneGot((m) => m.text === 'Answered from the CRM card', 'the phone received the answer from the tab');
    await page.screenshot({ path: join(artifacts, `${String(n).padStart(2, '0')}-crm-tab.png`) });
  } finally {
    await context.close();
  }
});

// CRM routing (issue 20): the line's policy set in the panel (line B, which after the settings
// page's move feeds no Open Line, whose own CRM would make the lead), a new customer's first message
// makes a contact and a lead whose timeline has the conversation, answered from the lead's tab.
const LEAD_CUSTOMER = '79160000555';
await step('admin assigns line B to user 3 and sets its CRM policy in the panel: a contact and a lead', async () => {
  shotPage = admin.page;
  await A.click('[data-test=tab-connections]');
  const card = A.locator(`[data-test=line][data-line-id="${state.lineB}"]`);
  await card.locator('[data-test=assign] option[value="3"]').waitFor({ state: 'attached', timeout: T });
  await card.locator('[data-test=assign]').selectOption('3');
  await until('line B is user 3\'s', async () => (await apiIn(A, 'GET', `/api/lines/${state.lineB}`)).body.assigned_user === 3);
  const crm = card.locator('[data-test=crm-settings]');
  await crm.locator('[data-test=crm-mode] option[value="contact_lead"]').waitFor({ state: 'attached', timeout: T });
  await crm.locator('[data-test=crm-mode]').selectOption('contact_lead');
  const policy = await until('the policy is saved', async () => {
    const r = (await apiIn(A, 'GET', `/api/lines/${state.lineB}/crm`)).body;
    return r && r.mode === 'contact_lead' ? r : null;
  });
  check(policy.responsible === 'line_user', `responsible ${policy.responsible}`);
  const shown = await crm.innerText();
  check(!/\bnull\b/.test(shown), `the CRM block shows "null": ${shown}`);
});

await step('a new customer writes: a lead shows in the shell\'s CRM with the conversation in its timeline', async () => {
  await wa('POST', '/accounts', { phone: LEAD_CUSTOMER });
  await wa('POST', `/phones/${LEAD_CUSTOMER}/send`, { to: BUSINESS_PHONES[(state.lineB - 1) % 5], text: 'Hi, I saw your sofas online' });
  const conv = await until('the conversation is stored', async () => {
    const r = (await apiIn(A, 'GET', `/api/lines/${state.lineB}/conversations`)).body;
    return (r.conversations || []).find((c) => JSON.stringify(c).includes(LEAD_CUSTOMER));
  });
  state.leadConvId = conv.id;
  const context = await browser.newContext({ viewport: VIEW });
  const page = await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(`crm lead: ${e.message}`));
  state.leadPage = { page, context };
  shotPage = page;
  const row = page.locator('[data-kind=lead] tr').filter({ hasText: `+${LEAD_CUSTOMER}` });
  await until('the lead is in the CRM', async () => {
    await page.goto(`${portal}crm?user=3&lang=en`);
    return (await row.count()) === 1;
  }, T, 500);
  await row.locator('a').click();
  const entry = page.locator('li[data-entry=log]').filter({ hasText: `(conversation ${state.leadConvId})` });
  await until('the timeline has the conversation', async () => {
    if ((await entry.count()) === 1) return true;
    await page.reload();
    return false;
  }, T, 500);
  check(/User3/.test(await page.locator('[data-field=responsible]').innerText()), 'the lead\'s responsible is not line B\'s user (user 3)');
  const link = entry.locator('a[href*="conversation_id"]');
  check((await link.count()) === 1, 'the timeline entry has no link to the chat');
  // The link opens the app in the portal on that conversation (its params in PLACEMENT_OPTIONS).
  const leadUrl = page.url();
  await link.click();
  await until('the link opens the app on the conversation', async () => {
    const f = page.frame({ name: 'app' });
    return f && (await f.locator('[data-test=msg][data-direction=in]').filter({ hasText: 'Hi, I saw your sofas online' }).count()) > 0;
  }, T, 300);
  await page.goto(leadUrl);
});

await step('user 3 opens the lead\'s WhatsApp tab and answers; the phone receives it', async () => {
  const { page, context } = state.leadPage;
  try {
    await page.locator('[data-tab]').filter({ hasText: 'WhatsApp' }).click();
    const tab = await until('the tab frame loads', async () => {
      const f = page.frame({ name: 'tab' });
      return f && (await f.locator('[data-test=crm-bar]').count()) > 0 ? f : null;
    });
    const conv = tab.locator(`[data-test=conv][data-conv-id="${state.leadConvId}"]`);
    await conv.waitFor({ timeout: T });
    await conv.click();
    const input = tab.locator('[data-test=composer-input]');
    await input.type('Thanks! Which colour do you like?');
    await input.press('Enter');
    await tab.locator('[data-test=msg][data-direction=out]').filter({ hasText: 'Which colour' }).waitFor({ timeout: T });
    await until('the new customer\'s phone received the answer', async () => {
      const rec = await wa('GET', `/phones/${LEAD_CUSTOMER}/received`);
      return rec.messages.find((m) => !m.from_me && m.text === 'Thanks! Which colour do you like?');
    });
  } finally {
    shotPage = admin.page;
    await context.close();
  }
});

// Writing first from a card: a customer who never wrote to any line (the demo's customers are
// quiet here), picked by line and number in the tab's "New chat". On line B (user 3's since the
// CRM policy step): a first message to a new number on line A a moment ago (the panel's New chat
// step) would wait out the anti-ban guard's 60 s between first messages to new numbers.
await step('user 3 writes first to a new number from a contact card\'s WhatsApp tab', async () => {
  const LENA = '4915110000003';
  const context = await browser.newContext({ viewport: VIEW });
  const page = await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(`crm tab (new chat): ${e.message}`));
  try {
    await page.goto(`${portal}crm?user=3&lang=en`);
    await page.locator('[data-kind=contact] a').filter({ hasText: 'Lena' }).click();
    await page.locator('[data-tab]').filter({ hasText: 'WhatsApp' }).click();
    const tab = await until('the tab frame loads', async () => {
      const f = page.frame({ name: 'tab' });
      return f && (await f.locator('[data-test=crm-bar]').count()) > 0 ? f : null;
    });
    await tab.locator('[data-test=list-note]').filter({ hasText: 'No conversations with this client yet.' }).waitFor({ timeout: T });
    check((await tab.locator('[data-test=conv]').count()) === 0, 'a chat before writing first');
    await tab.locator('[data-test=crm-line]').selectOption(String(state.lineB));
    await tab.locator('[data-test=crm-start]').click();
    const conv = tab.locator('[data-test=conv]');
    await conv.waitFor({ timeout: T });
    await tab.locator('[data-test=thread-head]').filter({ hasText: '49' }).waitFor({ timeout: T });
    const input = tab.locator('[data-test=composer-input]');
    await input.type('Hello Lena, your order is ready');
    await input.press('Enter');
    await tab.locator('[data-test=msg][data-direction=out]').filter({ hasText: 'your order is ready' }).waitFor({ timeout: T });
    await until('Lena\'s phone received it', async () => {
      const rec = await wa('GET', `/phones/${LENA}/received`);
      return rec.messages.find((m) => !m.from_me && m.text === 'Hello Lena, your order is ready');
    });
    await page.screenshot({ path: join(artifacts, `${String(n).padStart(2, '0')}-crm-tab-new-chat.png`) });
  } finally {
    await context.close();
  }
});

// 23
await step('admin assigns a line to a department, picks the responsible rule and limits who may use the app', async () => {
  await A.click('[data-test=tab-connections]');
  const card = A.locator(`[data-test=line][data-line-id="${state.lineB}"]`);
  const lineB = async () => (await apiIn(A, 'GET', `/api/lines/${state.lineB}`)).body;
  await card.locator('[data-test=assign-department] option[value="2"]').waitFor({ state: 'attached', timeout: T });
  await card.locator('[data-test=assign-department]').selectOption('2');
  await until('line B is worked by Sales', async () => (await lineB()).assigned_department === 2);
  await card.locator('[data-test=responsible-mode]').selectOption('evenly');
  await until('line B shares its chats evenly', async () => (await lineB()).responsible_mode === 'evenly');
  const access = A.locator('[data-test=access]');
  const list = async () => JSON.stringify((await apiIn(A, 'GET', '/api/access')).body);
  await access.locator('[data-test=access-users] option[value="3"]').waitFor({ state: 'attached', timeout: T });
  await access.locator('[data-test=access-users]').selectOption(['2', '3']);
  await access.locator('[data-test=access-save]').click();
  await until('users 2 and 3 (and administrators) may use the app', async () => (await list()) === '{"users":[2,3],"departments":[]}');
  await A.locator('[data-test=toasts]').getByText('Access saved.').waitFor({ timeout: T });
  // Everyone again, and the line back to no department, for the steps after this one.
  await access.locator('[data-test=access-users]').selectOption([]);
  await access.locator('[data-test=access-save]').click();
  await until('everyone may use the app again', async () => (await list()) === '{"users":[],"departments":[]}');
  await card.locator('[data-test=assign-department]').selectOption('');
  await until('line B has no department', async () => (await lineB()).assigned_department === null);
  return 'Sales, evenly; access limited and opened again';
});

// 24
await step('the layout fits from 1024x700 to 1920x1080', async () => {
  for (const size of [{ width: 1024, height: 700 }, { width: 1920, height: 1080 }]) {
    await user3.page.setViewportSize(size);
    await sleep(300);
    const over = await user3.app.evaluate(() => {
      const d = document.documentElement;
      const composer = document.querySelector('[data-test=composer]').getBoundingClientRect();
      return { w: d.scrollWidth - d.clientWidth, composerBottom: composer.bottom, height: innerHeight };
    });
    check(over.w <= 0, `${size.width}x${size.height}: ${over.w}px wider than the frame`);
    check(over.composerBottom <= over.height + 1, `${size.width}x${size.height}: the composer is cut off`);
    await user3.page.screenshot({ path: join(artifacts, `${String(n).padStart(2, '0')}-layout-${size.width}x${size.height}.png`) });
  }
  shotPage = user3.page;
});

// 25
await step('no script errors on any page', async () => {
  check(pageErrors.length === 0, pageErrors.join('; '));
});

console.log(`RESULT passed=${passed} failed=${failed}`);
await shutdown(failed === 0 ? 0 : 1);
