// The node corpus shared by interop/checks/nodes.mjs and interop/bench/codec.mjs.
//
// A corpus entry is a *typed* node in the JSON form wa-proto's interop tool reads:
//   { tag, attrs: [[key, value]...], content }
//   value:   "text" | { jid: { user, server, device, agent, integrator }, baileys?: "string Baileys gets" }
//   content: null | { bytes: base64 } | { fill: [seed, len] } | { text } | { jid: ... } | [nodes]
// A JID is typed (we encode it as a JID); Baileys only has strings, so `toBaileys` prints it the way
// Baileys would (or as `baileys` says, to reach a particular Baileys encoding).

import { readFileSync } from 'node:fs';
import { Prng, fillBytes } from './prng.mjs';

export const SEED = 0x5eed2024;
/** Binaries at least this long are stored as `{ fill: [seed, len] }`. */
export const FILL_MIN = 1024;

const dictionary = JSON.parse(
  readFileSync(new URL('../../wa-proto/data/dictionary-v3.json', import.meta.url), 'utf8'),
);
export const SINGLE_TOKENS = dictionary.single_byte.slice(1);
export const DOUBLE_TOKENS = dictionary.double_byte.flat();
const TOKENS = new Set([...SINGLE_TOKENS, ...DOUBLE_TOKENS]);

/** Names on Object.prototype: Baileys' TOKEN_MAP (a plain object) "finds" them. */
export const PROTOTYPE_NAMES = Object.getOwnPropertyNames(Object.prototype);

const isIntegerLike = (key) => /^(0|[1-9][0-9]*)$/.test(key) && Number(key) < 4294967295;
export const isToken = (s) => TOKENS.has(s);
export const isNibble = (s) => s.length > 0 && s.length <= 127 && /^[0-9.-]*$/.test(s);
export const isHex = (s) => s.length > 0 && s.length <= 127 && /^[0-9A-F]*$/.test(s);

// ---------------------------------------------------------------------------------------------
// Building typed nodes.

export function J(user, server, { device = 0, agent = 0, integrator = 0, baileys } = {}) {
  // Zero fields are left out (wa-proto's tool reads a missing field as 0).
  const jid = { user, server };
  if (device) jid.device = device;
  if (agent) jid.agent = agent;
  if (integrator) jid.integrator = integrator;
  const value = { jid };
  if (baileys !== undefined) value.baileys = baileys;
  return value;
}

const isJid = (v) => v !== null && typeof v === 'object' && 'jid' in v;

/** A typed node from `attrs` given as an object (undefined values dropped) or as pairs. */
export function N(tag, attrs = {}, content) {
  const pairs = Array.isArray(attrs)
    ? attrs
    : Object.entries(attrs).filter(([, v]) => v !== undefined);
  let c = null;
  if (Array.isArray(content)) c = content;
  else if (Buffer.isBuffer(content)) c = { bytes: content.toString('base64') };
  else if (typeof content === 'string') c = { text: content };
  else if (content !== undefined && content !== null) c = content; // a J(...), { bytes }, { fill }
  return { tag, attrs: pairs, content: c };
}

function bin(r, len) {
  return len >= FILL_MIN ? { fill: [r.next(), len] } : { bytes: r.bytes(len).toString('base64') };
}

// ---------------------------------------------------------------------------------------------
// The JID strings: what Baileys is given, and how Baileys' reader prints what we write.

export function baileysJidString(value) {
  if (value.baileys !== undefined) return value.baileys;
  const { user, server, device = 0, agent = 0, integrator = 0 } = value.jid;
  if (server === 'msgr') return `${user}:${device}@msgr`;
  if (server === 'interop') return `${integrator}-${user}:${device}@interop`;
  if (agent) return `${user}_${agent}:${device}@${server}`;
  if (device) return `${user}:${device}@${server}`;
  return `${user}@${server}`;
}

/** Baileys' reading of our encoding: FB and interop JIDs show their device, AD JIDs lose the agent. */
export function renderJid({ user, server, device = 0, integrator = 0 }) {
  if (server === 'msgr') return `${user}:${device}@msgr`;
  if (server === 'interop') return `${integrator}-${user}:${device}@interop`;
  return `${user}${device ? `:${device}` : ''}@${server}`;
}

export function bytesOf(content) {
  return content.fill ? fillBytes(content.fill[0], content.fill[1]) : Buffer.from(content.bytes, 'base64');
}

/** The BinaryNode Baileys encodes for a typed node. */
export function toBaileys(node) {
  const attrs = {};
  for (const [key, value] of node.attrs) {
    if (isIntegerLike(key)) throw new Error(`integer-like key ${key} would be reordered by JS`);
    if (Object.hasOwn(attrs, key)) throw new Error(`duplicate key ${key} in <${node.tag}>`);
    attrs[key] = isJid(value) ? baileysJidString(value) : value;
  }
  const c = node.content;
  let content;
  if (c === null) content = undefined;
  else if (Array.isArray(c)) content = c.map(toBaileys);
  else if ('bytes' in c || 'fill' in c) content = bytesOf(c);
  else if ('text' in c) content = c.text;
  else content = baileysJidString(c);
  return { tag: node.tag, attrs, content };
}

/**
 * The tree a decoder must give for our encoding of a typed node (the shared JSON form): text content
 * that is not a token or packable travels as a binary and so reads back as bytes.
 */
export function expectedTree(node) {
  const c = node.content;
  let content;
  if (c === null) content = null;
  else if (Array.isArray(c)) content = c.map(expectedTree);
  else if ('bytes' in c || 'fill' in c) content = c;
  else if ('text' in c) {
    const compact = isToken(c.text) || isNibble(c.text) || isHex(c.text);
    content = compact ? { text: c.text } : { bytes: Buffer.from(c.text, 'utf8').toString('base64') };
  } else content = { text: renderJid(c.jid) };
  return {
    tag: node.tag,
    attrs: node.attrs.map(([k, v]) => [k, isJid(v) ? renderJid(v.jid) : v]),
    content,
  };
}

// ---------------------------------------------------------------------------------------------
// Strings.

const digits = (r, n, lead = true) => {
  let s = lead ? String(r.int(1, 9)) : String(r.int(0, 9));
  while (s.length < n) s += String(r.int(0, 9));
  return s;
};
const HEX = '0123456789ABCDEF';
const hexUpper = (r, n) => Array.from({ length: n }, () => HEX[r.below(16)]).join('');
const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const word = (r, n) => Array.from({ length: n }, () => LOWER[r.below(26)]).join('');
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const b64text = (r, n) => Array.from({ length: n }, () => B64[r.below(64)]).join('');

const UNICODE = [
  'Olá', 'Привет', 'こんにちは', 'مرحبا', 'שלום', '你好世界', '👍🏽', '🎉🎉', 'e\u0301', '𝄞 clef',
  'Ünïcödé', 'ß', '\u200bzero-width', 'नमस्ते', 'Ελληνικά', '🇧🇷', 'a\u0000b', 'tab\tnewline\n',
];
const NAMES = ['Ana', 'João Silva', 'Мария', '山田太郎', 'Bob 🚀', 'Zoë', 'Ahmed', 'Loja Central', ''];
const unicode = (r) => Array.from({ length: r.int(1, 3) }, () => r.pick(UNICODE)).join(' ');

const phone = (r) => r.pick(['55', '1', '44', '91', '7', '234']) + digits(r, r.int(9, 11), true);
const lidUser = (r) => digits(r, 15);
const groupUser = (r) => (r.chance(0.85) ? '120363' + digits(r, 12, false) : `${phone(r)}-${digits(r, 10)}`);
const msgId = (r) => r.pick(['3EB0', 'BAE5', '', 'AC']) + hexUpper(r, r.pick([16, 18, 20, 28]));
const tagId = (r) => `${digits(r, 5)}.${digits(r, 5)}-${r.int(1, 400)}`;
const ts = (r) => String(1700000000 + r.below(60000000));

export function randomJid(r) {
  const form = r.weighted([
    [14, 'pn'], [10, 'pn-device'], [3, 'pn-agent'], [8, 'lid'], [8, 'lid-device'], [5, 'group'],
    [3, 'broadcast'], [3, 'newsletter'], [2, 'c.us'], [2, 'hosted'], [2, 'hosted.lid'], [3, 'msgr'],
    [3, 'interop'], [2, 'bot'], [3, 'userless'], [1, 'other'],
  ]);
  switch (form) {
    case 'pn': return J(phone(r), 's.whatsapp.net');
    case 'pn-device': return J(phone(r), 's.whatsapp.net', { device: r.weighted([[8, r.int(1, 99)], [1, r.int(100, 255)]]) });
    case 'pn-agent': return J(phone(r), 's.whatsapp.net', { agent: r.int(2, 20), device: r.int(0, 40) });
    case 'lid': return J(lidUser(r), 'lid');
    case 'lid-device': return J(lidUser(r), 'lid', { device: r.int(1, 255) });
    case 'group': return J(groupUser(r), 'g.us');
    case 'broadcast': return J(r.chance(0.5) ? 'status' : digits(r, 10), 'broadcast');
    case 'newsletter': return J('120363' + digits(r, 12, false), 'newsletter');
    case 'c.us': return J(phone(r), 'c.us');
    case 'hosted': return J(phone(r), 'hosted', { device: r.pick([0, 99]) });
    case 'hosted.lid': return J(lidUser(r), 'hosted.lid', { device: r.pick([0, 99]) });
    case 'msgr': return J(digits(r, 15), 'msgr', { device: r.weighted([[3, 0], [5, r.int(1, 255)], [2, r.int(256, 65535)]]) });
    case 'interop': return J(digits(r, r.int(6, 15)), 'interop', { device: r.int(0, 65535), integrator: r.int(1, 65535) });
    case 'bot': return J(r.pick(['13135550002', '13135550101', '867051314767696']), 'bot');
    case 'userless': return J('', r.pick(['s.whatsapp.net', 'g.us', 'lid', 'broadcast', 'newsletter', 'c.us', 'bot', 'hosted', 'hosted.lid', 'call']));
    default: return J(word(r, 6), r.pick(['call', 'temp', 'example.org']));
  }
}

/** A string that contains '@' but is not typed as a JID. */
function atString(r) {
  return r.weighted([
    [6, () => `${word(r, r.int(1, 8))}${r.chance(0.3) ? '.' + word(r, 3) : ''}@${r.pick(['example.org', 'mail.test', 'x'])}`],
    [2, () => `${phone(r)}@${r.pick(['s.whatsapp.net', 'g.us', 'lid', 'c.us', 'broadcast', 'newsletter', 'bot'])}`],
    [1, () => `${digits(r, 8)}@${r.pick(['hosted', 'hosted.lid'])}`],
    [1, () => `${digits(r, 9)}@${r.pick(['msgr', 'interop'])}`],
    [1, () => `@${word(r, 5)}`],
    // user parts with ':' or '_', which Baileys' jidDecode splits off
    [1, () => `${word(r, 4)}:${r.int(0, 200)}@${r.pick(['example.org', 'g.us', 'lid'])}`],
    [1, () => `${word(r, 3)}_${r.pick([word(r, 2), String(r.int(2, 90))])}@${r.pick(['example.org', 's.whatsapp.net'])}`],
  ])();
}

/** A random attribute value or text, covering every string form. */
export function randomText(r) {
  return r.weighted([
    [12, () => r.pick(SINGLE_TOKENS)],
    [8, () => r.pick(DOUBLE_TOKENS)],
    [10, () => digits(r, r.int(1, 20), false) + (r.chance(0.3) ? '.' + digits(r, 3) : '') + (r.chance(0.2) ? '-' + digits(r, 2) : '')],
    [2, () => Array.from({ length: r.pick([1, 2, 126, 127, 128, 129]) }, () => r.pick('0123456789-.')).join('')],
    [8, () => hexUpper(r, r.int(1, 40))],
    [2, () => hexUpper(r, r.pick([126, 127, 128, 200]))],
    [3, () => hexUpper(r, r.int(2, 20)).toLowerCase()],
    [10, () => word(r, r.int(1, 16))],
    [4, () => b64text(r, r.int(10, 60))],
    [6, () => unicode(r)],
    [1, () => word(r, 1).repeat(r.int(256, 700))],
    [1, () => unicode(r).repeat(r.int(15, 40))],
    [2, () => ''],
    [5, () => atString(r)],
  ])();
}

function randomKey(r, used) {
  for (;;) {
    const key = r.weighted([
      [8, () => r.pick(SINGLE_TOKENS)],
      [4, () => r.pick(DOUBLE_TOKENS)],
      [6, () => word(r, r.int(1, 12))],
      [1, () => `${word(r, 3)}-${word(r, 3)}`],
      [1, () => r.pick(['1.5', '12-3', '0.0', '-1', '007', 'ABC', 'F00D', 'k ey', 'ключ', '鍵', 'x'.repeat(300)])],
    ])();
    if (key === '' || key.includes('@') || isIntegerLike(key) || PROTOTYPE_NAMES.includes(key) || used.has(key)) continue;
    used.add(key);
    return key;
  }
}

function randomTag(r) {
  return r.weighted([
    [10, () => r.pick(SINGLE_TOKENS)],
    [5, () => r.pick(DOUBLE_TOKENS)],
    [6, () => word(r, r.int(1, 10))],
    [1, () => digits(r, r.int(1, 6))],
    [1, () => hexUpper(r, 4)],
    [1, () => r.pick(UNICODE)],
  ])();
}

export function randomNode(r, depth = 0) {
  let tag = randomTag(r);
  while (tag === '' || tag.includes('@') || PROTOTYPE_NAMES.includes(tag)) tag = randomTag(r);
  const used = new Set();
  const count = r.weighted([[3, 0], [4, r.int(1, 3)], [3, r.int(4, 8)], [1, r.int(9, 24)]]);
  const attrs = [];
  for (let i = 0; i < count; i++) {
    attrs.push([randomKey(r, used), r.chance(0.25) ? randomJid(r) : randomText(r)]);
  }
  const leaf = depth >= 4;
  const kind = r.weighted([[4, 'none'], [5, 'bytes'], [3, 'text'], [1, 'jid'], [leaf ? 0 : 6, 'children'], [leaf ? 0 : 1, 'empty-list']]);
  let content = null;
  if (kind === 'bytes') content = bin(r, r.weighted([[2, 0], [20, r.int(1, 255)], [2, r.int(256, FILL_MIN - 1)], [1, r.int(FILL_MIN, 70000)]]));
  else if (kind === 'text') content = { text: randomText(r) };
  else if (kind === 'jid') content = randomJid(r);
  else if (kind === 'children') content = Array.from({ length: r.weighted([[6, r.int(1, 2)], [2, r.int(3, 5)]]) }, () => randomNode(r, depth + 1));
  else if (kind === 'empty-list') content = [];
  return { tag, attrs, content };
}

// ---------------------------------------------------------------------------------------------
// Realistic stanzas.

const pn = (r) => J(phone(r), 's.whatsapp.net');
const pnDevice = (r) => J(phone(r), 's.whatsapp.net', { device: r.int(1, 60) });
const lid = (r) => J(lidUser(r), 'lid');
const lidDevice = (r) => J(lidUser(r), 'lid', { device: r.int(1, 60) });
const group = (r) => J(groupUser(r), 'g.us');
const SERVER = J('', 's.whatsapp.net');
const anyUser = (r) => r.pick([pn, lid, pnDevice, lidDevice])(r);
const maybe = (r, p, value) => (r.chance(p) ? value : undefined);

const enc = (r, type = r.pick(['msg', 'pkmsg', 'skmsg'])) =>
  N('enc', { v: '2', type, mediatype: maybe(r, 0.2, r.pick(['image', 'video', 'document', 'ptt', 'sticker'])) }, bin(r, r.int(40, type === 'pkmsg' ? 500 : 250)));

const STANZAS = {
  messageOut(r) {
    const toGroup = r.chance(0.4);
    const children = [];
    if (toGroup || r.chance(0.3)) {
      children.push(N('participants', {}, Array.from({ length: r.int(1, 12) }, () => N('to', { jid: r.pick([pnDevice, lidDevice, pn])(r) }, [enc(r, r.pick(['msg', 'pkmsg']))]))));
    }
    if (toGroup) children.push(enc(r, 'skmsg'));
    else if (children.length === 0) children.push(enc(r));
    if (r.chance(0.5)) children.push(N('device-identity', {}, bin(r, r.int(100, 180))));
    if (r.chance(0.1)) children.push(N('meta', { polltype: 'creation' }));
    return N('message', {
      id: msgId(r), to: toGroup ? group(r) : r.pick([pn, lid])(r), type: r.pick(['text', 'media', 'reaction', 'poll']),
      edit: maybe(r, 0.05, r.pick(['1', '7'])), addressing_mode: maybe(r, 0.3, r.pick(['lid', 'pn'])), phash: maybe(r, 0.3, `2:${b64text(r, 8)}`),
    }, children);
  },
  messageIn(r) {
    const fromGroup = r.chance(0.4);
    return N('message', {
      from: fromGroup ? group(r) : anyUser(r), participant: fromGroup ? anyUser(r) : undefined, id: msgId(r), type: r.pick(['text', 'media']),
      t: ts(r), notify: maybe(r, 0.7, r.pick(NAMES)), offline: maybe(r, 0.2, String(r.int(0, 3))),
      addressing_mode: maybe(r, 0.4, 'lid'), sender_pn: maybe(r, 0.2, pn(r)), participant_pn: maybe(r, 0.2, pn(r)),
    }, [enc(r), ...(r.chance(0.2) ? [N('verified_name', { v: '1' }, bin(r, r.int(60, 120)))] : [])]);
  },
  receipt(r) {
    const items = r.weighted([[10, r.int(0, 5)], [3, r.int(6, 40)], [1, r.int(200, 300)]]);
    return N('receipt', {
      id: msgId(r), [r.pick(['from', 'to'])]: r.pick([pn, group, lid, pnDevice])(r), participant: maybe(r, 0.3, anyUser(r)),
      type: maybe(r, 0.7, r.pick(['read', 'read-self', 'sender', 'inactive', 'played', 'retry', 'server-error'])), t: ts(r),
      recipient: maybe(r, 0.1, pn(r)),
    }, items ? [N('list', {}, Array.from({ length: items }, () => N('item', { id: msgId(r) })))] : r.chance(0.3) ? [N('retry', { count: String(r.int(1, 5)), id: msgId(r), t: ts(r), v: '1' }), N('registration', {}, bin(r, 4))] : undefined);
  },
  usyncQuery(r) {
    const users = Array.from({ length: r.int(1, 20) }, () =>
      r.chance(0.2) ? N('user', {}, [N('contact', {}, '+' + phone(r))]) : N('user', { jid: r.pick([pn, lid])(r) }));
    return N('iq', { id: tagId(r), to: SERVER, type: 'get', xmlns: 'usync' }, [
      N('usync', { sid: tagId(r), mode: r.pick(['query', 'full', 'delta']), last: 'true', index: '0', context: r.pick(['message', 'interactive', 'background', 'notification']) }, [
        N('query', {}, [N('devices', { version: '2' }), N('lid'), ...(r.chance(0.3) ? [N('contact'), N('status')] : [])]),
        N('list', {}, users),
      ]),
    ]);
  },
  usyncResult(r) {
    const users = Array.from({ length: r.int(1, 10) }, () => N('user', { jid: pn(r) }, [
      N('devices', {}, [
        N('device-list', {}, Array.from({ length: r.int(1, 5) }, (_, i) => N('device', { id: String(i === 0 ? 0 : r.int(1, 60)), 'key-index': maybe(r, 0.5, String(r.int(1, 30))), is_hosted: maybe(r, 0.05, 'true') }))),
        N('key-index-list', { ts: ts(r) }, bin(r, r.int(20, 90))),
      ]),
      N('lid', { val: lid(r) }),
    ]));
    return N('iq', { from: SERVER, id: tagId(r), type: 'result' }, [N('usync', {}, [N('result', {}, [N('devices')]), N('list', {}, users)])]);
  },
  notification(r) {
    const type = r.pick(['devices', 'encrypt', 'w:gp2', 'picture', 'server_sync', 'account_sync', 'mediaretry', 'link_code_companion_reg']);
    let content;
    if (type === 'devices') content = [N('devices', { dhash: `2:${b64text(r, 8)}` }, [N('device', { jid: pnDevice(r), 'key-index': String(r.int(1, 9)) })]), N('key-index-list', { ts: ts(r) }, bin(r, 40))];
    else if (type === 'encrypt') content = [N('count', { value: String(r.int(0, 50)) })];
    else if (type === 'w:gp2') content = r.chance(0.5) ? [N(r.pick(['add', 'remove', 'promote']), {}, Array.from({ length: r.int(1, 5) }, () => N('participant', { jid: anyUser(r), phone_number: maybe(r, 0.3, pn(r)) })))] : [N('subject', { subject: unicode(r), s_o: pn(r), s_t: ts(r) })];
    else if (type === 'picture') content = [N('set', { jid: pn(r), id: String(r.int(1, 1e9)), author: pn(r) })];
    else if (type === 'server_sync') content = Array.from({ length: r.int(1, 5) }, () => N('collection', { name: r.pick(['regular', 'regular_low', 'regular_high', 'critical_block', 'critical_unblock_low']), version: String(r.int(1, 999)) }));
    else if (type === 'link_code_companion_reg') content = [N('link_code_companion_reg', { jid: pn(r), stage: 'primary_hello' }, [N('link_code_pairing_wrapped_primary_ephemeral_pub', {}, bin(r, 80)), N('primary_identity_pub', {}, bin(r, 32))])];
    return N('notification', { from: r.pick([() => SERVER, group, pn, lid])(r), id: String(r.int(1, 4e9)), t: ts(r), type, notify: maybe(r, 0.2, r.pick(NAMES)), participant: maybe(r, 0.3, anyUser(r)) }, content);
  },
  ack(r) {
    return N('ack', {
      class: r.pick(['message', 'receipt', 'notification', 'call', 'iq']), id: r.chance(0.5) ? msgId(r) : tagId(r),
      [r.pick(['to', 'from'])]: r.pick([pn, group, lidDevice, () => SERVER])(r), participant: maybe(r, 0.3, anyUser(r)),
      type: maybe(r, 0.5, r.pick(['read', 'delivery', 'text', 'devices', 'encrypt'])), t: maybe(r, 0.5, ts(r)), phash: maybe(r, 0.2, `2:${b64text(r, 8)}`),
      error: maybe(r, 0.05, r.pick(['479', '421', '500'])),
    });
  },
  success(r) {
    return N('success', {
      t: ts(r), props: String(r.int(1, 99)), abprops: String(r.int(1, 99)), location: r.pick(['frc', 'ash', 'cln', 'vll']),
      creation: ts(r), lid: lid(r), display_name: maybe(r, 0.7, r.pick(NAMES)), companion_enc_static: maybe(r, 0.5, b64text(r, 44)),
    });
  },
  failure(r) {
    return N('failure', { reason: r.pick(['401', '403', '405', '406', '409', '411', '500', '503', '515']), location: maybe(r, 0.5, r.pick(['frc', 'ash'])), logout: maybe(r, 0.1, 'true') });
  },
  streamError(r) {
    return r.weighted([
      [3, () => N('stream:error', { code: r.pick(['515', '503', '500', '401']) })],
      [2, () => N('stream:error', {}, [N('conflict', { type: 'replaced' })])],
      [1, () => N('stream:error', {}, [N('xml-not-well-formed')])],
      [1, () => N('stream:error', {}, [N('ack', { id: tagId(r) })])],
    ])();
  },
  presence(r) {
    return r.weighted([
      [2, () => N('presence', { type: r.pick(['available', 'unavailable']), name: maybe(r, 0.6, r.pick(NAMES)) })],
      [2, () => N('presence', { from: anyUser(r), type: maybe(r, 0.5, 'unavailable'), last: maybe(r, 0.5, r.pick(['deny', ts(r)])) })],
      [2, () => N('chatstate', { from: r.pick([pn, group, lid])(r), participant: maybe(r, 0.3, pn(r)) }, [r.chance(0.7) ? N('composing', { media: maybe(r, 0.3, 'audio') }) : N('paused')])],
      [1, () => N('presence', { type: 'subscribe', to: pn(r) })],
    ])();
  },
  pairDevice(r) {
    const refs = Array.from({ length: 6 }, () => N('ref', {}, Buffer.from(`2@${b64text(r, r.int(60, 100))}`, 'ascii')));
    return N('iq', { from: SERVER, type: 'set', id: tagId(r), xmlns: 'md' }, [N('pair-device', {}, refs)]);
  },
  pairSuccess(r) {
    const device = pnDevice(r);
    return N('iq', { from: SERVER, type: 'set', id: tagId(r), xmlns: 'md' }, [N('pair-success', {}, [
      N('device-identity', {}, bin(r, r.int(140, 200))), N('platform', { name: r.pick(['smbi', 'smba', 'iphone', 'android']) }),
      N('device', { jid: device, lid: J(lidUser(r), 'lid', { device: device.jid.device }) }), ...(r.chance(0.3) ? [N('biz', { name: r.pick(NAMES) })] : []),
    ])]);
  },
  iqResult(r) {
    return r.weighted([
      [2, () => N('iq', { from: SERVER, id: tagId(r), type: 'result' })],
      [2, () => N('iq', { from: SERVER, id: tagId(r), type: 'result' }, [N('count', { value: String(r.int(0, 812)) })])],
      [1, () => N('iq', { id: tagId(r), to: SERVER, type: 'get', xmlns: 'w:p' }, [N('ping')])],
      [1, () => N('iq', { from: SERVER, id: tagId(r), type: 'result' }, [N('media_conn', { auth: b64text(r, 60), ttl: '21600', auth_ttl: '14400', max_buckets: '12' }, Array.from({ length: r.int(1, 4) }, () => N('host', { hostname: `media-${word(r, 3)}${r.int(1, 9)}-1.cdn.whatsapp.net` })))])],
      [1, () => N('iq', { from: group(r), id: tagId(r), type: 'result' }, [N('group', { id: groupUser(r), creator: pn(r), creation: ts(r), subject: unicode(r), s_t: ts(r), s_o: pn(r), addressing_mode: maybe(r, 0.5, 'lid') }, Array.from({ length: r.int(1, 20) }, () => N('participant', { jid: anyUser(r), type: maybe(r, 0.2, r.pick(['admin', 'superadmin'])) })))])],
      [1, () => N('iq', { from: SERVER, id: tagId(r), type: 'error' }, [N('error', { code: r.pick(['400', '404', '500']), text: r.pick(['bad-request', 'item-not-found', 'internal-server-error']) })])],
    ])();
  },
  call(r) {
    return N('call', { from: anyUser(r), id: msgId(r), t: ts(r), notify: maybe(r, 0.5, r.pick(NAMES)) }, [N(r.pick(['offer', 'terminate', 'accept']), { 'call-id': hexUpper(r, 32), 'call-creator': pnDevice(r), count: maybe(r, 0.3, '0') }, [
      N('audio', { enc: 'opus', rate: r.pick(['8000', '16000']) }), N('net', { medium: String(r.int(1, 3)) }), N('encopt', { keygen: '2' }), enc(r, 'pkmsg'),
    ])]);
  },
};

// ---------------------------------------------------------------------------------------------
// Fixed cases: every JID form, packed-string edges, every token, sizes and oddities.

function specials() {
  const out = [];
  const add = (kind, node) => out.push({ kind, node });
  const r = new Prng(SEED ^ 0x51ec1a15);
  const jids = [
    J('5511987654321', 's.whatsapp.net'), J('5511987654321', 's.whatsapp.net', { device: 12 }),
    J('5511987654321', 's.whatsapp.net', { device: 255 }), J('5511987654321', 's.whatsapp.net', { agent: 7, device: 1 }),
    J('5511987654321', 's.whatsapp.net', { agent: 3, device: 0 }),
    J('5511987654321', 's.whatsapp.net', { baileys: '5511987654321:0@s.whatsapp.net' }),
    J('123456789012345', 'lid'), J('123456789012345', 'lid', { device: 4 }),
    J('123456789012345', 'lid', { baileys: '123456789012345:0@lid' }),
    J('120363025246125486', 'g.us'), J('5511987654321-1600000000', 'g.us'), J('status', 'broadcast'),
    J('1700000000', 'broadcast'), J('120363144038483540', 'newsletter'), J('5511987654321', 'c.us'),
    J('5511987654321', 'hosted'), J('5511987654321', 'hosted', { device: 99 }),
    J('123456789', 'hosted.lid'), J('123456789', 'hosted.lid', { device: 99 }),
    J('100012345678', 'msgr'), J('100012345678', 'msgr', { device: 2 }), J('100012345678', 'msgr', { device: 300 }),
    J('345678', 'interop', { device: 3, integrator: 12 }), J('345678', 'interop', { device: 0, integrator: 65535 }),
    J('13135550002', 'bot'), J('', 's.whatsapp.net'), J('', 'g.us'), J('', 'lid'), J('', 'broadcast'),
    J('', 'newsletter'), J('', 'c.us'), J('', 'bot'), J('', 'hosted'), J('', 'call'), J('abc', 'example.org'),
  ];
  for (const jid of jids) {
    add('jid-forms', N('x', { jid }));
    add('jid-forms', N('x', {}, jid));
  }
  add('jid-forms', N('iq', [['to', SERVER], ['from', J('', 'g.us')], ['jid', J('13135550002', 'bot')]], jids.slice(0, 8).map((jid) => N('item', { jid }))));

  const packed = [
    '0', '1', '12', '5', '-', '.', '-.-', '1'.repeat(126), '2'.repeat(127), '3'.repeat(128), '9'.repeat(255),
    'A', 'F0', 'A'.repeat(127), 'B'.repeat(128), 'abcdef', 'ABCDEFG', '0123456789ABCDEF', '0123456789-.', '1.2.3-4',
  ];
  add('packed', N('p', packed.map((v, i) => [`v${word(r, 3)}${i}`, v])));
  for (const v of packed) add('packed', N('p', {}, v));

  const tokens = [...SINGLE_TOKENS, ...DOUBLE_TOKENS];
  for (let i = 0; i < tokens.length; i += 120) {
    add('tokens', N('tokens', tokens.slice(i, i + 120).map((t, j) => [`t${String(i + j).padStart(4, '0')}x`, t])));
  }
  for (let i = 0; i < tokens.length; i += 400) {
    add('tokens', N('tags', {}, tokens.slice(i, i + 400).map((t) => N(t))));
  }

  add('prototype', N('x', PROTOTYPE_NAMES.map((name, i) => [`p${i}_${word(r, 2)}`, name])));
  add('at-strings', N('x', [
    ['a', 'hello@example.org'], ['b', 'x@msgr'], ['c', 'y@interop'], ['d', '5511@hosted'], ['e', '@foo'],
    ['f', 'status@broadcast'], ['g', 'a:1@example.org'], ['h', 'user_5@example.org'], ['i', 'u_7:2@lid'],
    ['j', 'a:0@g.us'], ['k', 'a:@x'], ['l', 'a_@x'], ['m', 'ü@x'],
  ], 'text@example.org'));

  add('sizes', N('x', { long: 'a'.repeat(256), longer: 'ü'.repeat(300), huge: 'z'.repeat(3000) }, { text: 'b'.repeat(1000) }));
  for (const len of [0, 1, 255, 256, 65535, 65536, (1 << 20) - 1]) add('sizes', N('bin', { len: `n${len}` }, bin(r, len)));
  add('sizes', N('big', { note: 'binary over 1 MiB: BINARY_32' }, { fill: [0xb16b1a, (1 << 20) + 4321] }));
  add('sizes', N('many-children', {}, Array.from({ length: 300 }, (_, i) => N('item', { id: String(i) + 'x' }))));
  add('sizes', N('many-attrs', Array.from({ length: 130 }, (_, i) => [`k${i}_${word(r, 2)}`, String(i)])));
  add('sizes', N('x', { a: '', b: ' ' }, { text: '' }));
  add('sizes', N('x', {}, []));
  add('sizes', N('x', {}, { bytes: '' }));
  let deep = N('leaf', { depth: '40' }, Buffer.from('bottom'));
  for (let i = 0; i < 40; i++) deep = N(i % 2 ? 'n' : 'node', {}, [deep]);
  add('sizes', deep);

  add('unicode', N('тег', { 'ключ': 'значение', '鍵': '値', 'emoji 🔑': '🎉🎉🎉', 'k': 'e\u0301\u200b' }, { text: 'Olá, 世界 🌍' }));
  add('unicode', N('x', { name: UNICODE.join('|') }, UNICODE.map((u) => N('u', { v: u }, u))));
  add('keys', N('x', [['1.5', 'a'], ['12-3', 'b'], ['0.0', 'c'], ['-1', 'd'], ['007', 'e'], ['ABC', 'f'], ['k ey', 'g'], ['x'.repeat(300), 'h'], ['', 'empty key']]));
  return out;
}

/**
 * The whole corpus, deterministic: realistic stanzas, random trees, fixed cases. Each entry is
 * `{ id, kind, node }`.
 */
export function generateCorpus({ stanzasPerKind = 50, randomTrees = 320 } = {}) {
  const r = new Prng(SEED);
  const entries = [];
  for (const [kind, make] of Object.entries(STANZAS)) {
    for (let i = 0; i < stanzasPerKind; i++) entries.push({ kind, node: make(r) });
  }
  for (let i = 0; i < randomTrees; i++) entries.push({ kind: 'random', node: randomNode(r) });
  entries.push(...specials());
  return entries.map((entry, id) => ({ id, ...entry }));
}
