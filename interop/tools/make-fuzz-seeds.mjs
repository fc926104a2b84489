// Writes Baileys-encoded frames as seeds for the decode_node fuzz target. Run from interop/: node tools/make-fuzz-seeds.mjs
import { encodeBinaryNode } from '@whiskeysockets/baileys'
import { writeFileSync } from 'fs'
import { deflateSync } from 'zlib'
const dir = new URL('../../fuzz/corpus/decode_node/', import.meta.url).pathname
const b = (n, fill = 7) => Buffer.alloc(n, fill)
const nodes = {
  'iq-ping': { tag: 'iq', attrs: { id: '12.3-1', to: '@s.whatsapp.net', type: 'get', xmlns: 'w:p' }, content: [{ tag: 'ping', attrs: {} }] },
  'message-pkmsg': { tag: 'message', attrs: { id: '3EB0C431D5F1A2B3C4D5', to: '5511987654321@s.whatsapp.net', type: 'text', t: '1700000000' }, content: [
    { tag: 'participants', attrs: {}, content: [
      { tag: 'to', attrs: { jid: '5511987654321:2@s.whatsapp.net' }, content: [{ tag: 'enc', attrs: { v: '2', type: 'pkmsg' }, content: b(180, 0x33) }] },
      { tag: 'to', attrs: { jid: '123456789:4@lid' }, content: [{ tag: 'enc', attrs: { v: '2', type: 'msg' }, content: b(90, 0x33) }] } ] },
    { tag: 'device-identity', attrs: {}, content: b(120) } ] },
  'receipt-list': { tag: 'receipt', attrs: { id: 'ABCDEF0123', from: '5511987654321@s.whatsapp.net', type: 'read', t: '1700000001' }, content: [
    { tag: 'list', attrs: {}, content: [{ tag: 'item', attrs: { id: 'ABCDEF0124' } }, { tag: 'item', attrs: { id: 'ABCDEF0125' } }] } ] },
  'usync': { tag: 'iq', attrs: { id: '77', to: '@s.whatsapp.net', type: 'get', xmlns: 'usync' }, content: [
    { tag: 'usync', attrs: { sid: 'sid-1', mode: 'query', last: 'true', index: '0', context: 'message' }, content: [
      { tag: 'query', attrs: {}, content: [{ tag: 'devices', attrs: { version: '2' } }] },
      { tag: 'list', attrs: {}, content: [{ tag: 'user', attrs: { jid: '5511987654321@s.whatsapp.net' } }] } ] } ] },
  'notification': { tag: 'notification', attrs: { from: '120363025246125486@g.us', type: 'w:gp2', id: '991', t: '1700000002', participant: '100012345678:2@msgr' }, content: [{ tag: 'add', attrs: {}, content: 'hello' }] },
  'ack': { tag: 'ack', attrs: { class: 'message', id: '3EB0AA', from: '12-345:6@interop', phash: '2:abcdef' } },
  'success': { tag: 'success', attrs: { t: '1700000003', props: '27', abprops: '5', location: 'frc', creation: '1690000000', lid: '123456789@lid' } },
  'failure': { tag: 'failure', attrs: { reason: '405', location: 'frc' } },
  'stream-error': { tag: 'stream:error', attrs: { code: '515' } },
  'conflict': { tag: 'stream:error', attrs: {}, content: [{ tag: 'conflict', attrs: { type: 'replaced' } }] },
  'pair-device': { tag: 'iq', attrs: { from: '@s.whatsapp.net', type: 'set', id: '1234' }, content: [{ tag: 'pair-device', attrs: {}, content: [1,2,3].map(i => ({ tag: 'ref', attrs: {}, content: Buffer.from('2@ref' + i + 'xyzABC==') })) }] },
  'long-strings': { tag: 'x', attrs: { 'не-токен': 'Привет 👋 '.repeat(40), hex: '0123456789ABCDEF', nib: '1.2-3' }, content: b(70000, 1) },
}
for (const [name, node] of Object.entries(nodes)) writeFileSync(dir + name, encodeBinaryNode(node))
const big = encodeBinaryNode(nodes['message-pkmsg'])
writeFileSync(dir + 'compressed', Buffer.concat([Buffer.from([2]), deflateSync(big.subarray(1))]))
console.log('seeds', Object.keys(nodes).length + 1)
