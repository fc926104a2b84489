// Participant-hash vectors from Baileys' own generateParticipantHashV2, called with AD strings.
// Run from interop/: `node vectors/phash.mjs` (writes wa-session/tests/vectors/phash.json).
import { writeFile } from 'node:fs/promises';
import { generateParticipantHashV2 } from '@whiskeysockets/baileys/lib/Utils/generics.js';

const out = new URL('../../wa-session/tests/vectors/phash.json', import.meta.url);
const lists = [
  ['5511987654321.0:0@s.whatsapp.net', '5511987654321.0:3@s.whatsapp.net', '5522912345678.0:0@s.whatsapp.net', '5522912345678.0:1@s.whatsapp.net'],
  ['123456789012345.0:0@lid', '123456789012345.0:7@lid', '987654321.0:2@lid'],
  ['5522912345678.0:0@s.whatsapp.net'],
];
const cases = lists.map(devices => ({ devices, baileys_generateParticipantHashV2: generateParticipantHashV2([...devices]) }));
const source = 'Baileys lib/Utils/generics.js generateParticipantHashV2 called with AD strings (interop/vectors/phash.mjs)';
await writeFile(out, JSON.stringify({ source, cases }, null, 2) + '\n');
