// A small, valid, deterministic Ogg Opus stream (RFC 7845): an OpusHead page, an OpusTags page and
// one audio page of 20 ms silence packets (TOC 0xF8: CELT fullband 20 ms, mono, one frame; then
// 0xFF 0xFE), each page with its Ogg CRC. Written from the specifications, for voice-note checks
// that need real Ogg Opus bytes without an encoder on the machine.

// Ogg's CRC-32: polynomial 0x04C11DB7, not reflected, initial value 0, no final xor.
const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let r = i << 24;
    for (let k = 0; k < 8; k++) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
    table[i] = r >>> 0;
  }
  return table;
})();

export function oggCrc(bytes) {
  let crc = 0;
  for (const b of bytes) crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ b) & 0xff]) >>> 0;
  return crc >>> 0;
}

// One Ogg page holding whole `packets` (at most 255 lacing values in all).
function page({ packets, granule, serial, sequence, flags }) {
  const lacing = [];
  for (const p of packets) {
    let n = p.length;
    while (n >= 255) { lacing.push(255); n -= 255; }
    lacing.push(n);
  }
  if (lacing.length > 255) throw new Error('too many packets for one page');
  const header = Buffer.alloc(27);
  header.write('OggS', 0, 'latin1');
  header[4] = 0; // version
  header[5] = flags; // 0x02 first page, 0x04 last page
  header.writeBigInt64LE(BigInt(granule), 6);
  header.writeUInt32LE(serial, 14);
  header.writeUInt32LE(sequence, 18);
  header.writeUInt32LE(0, 22); // CRC, filled below
  header[26] = lacing.length;
  const out = Buffer.concat([header, Buffer.from(lacing), ...packets]);
  out.writeUInt32LE(oggCrc(out), 22);
  return out;
}

// A mono Ogg Opus stream of `frames` x 20 ms of silence.
export function silentOggOpus({ frames = 100, serial = 0x77616232, vendor = 'wab24 interop' } = {}) {
  const preSkip = 312;
  const head = Buffer.alloc(19);
  head.write('OpusHead', 0, 'latin1');
  head[8] = 1; // version
  head[9] = 1; // channels
  head.writeUInt16LE(preSkip, 10);
  head.writeUInt32LE(48000, 12); // input sample rate
  head.writeInt16LE(0, 16); // output gain
  head[18] = 0; // channel mapping family
  const vendorBytes = Buffer.from(vendor, 'utf8');
  const tags = Buffer.alloc(8 + 4 + vendorBytes.length + 4);
  tags.write('OpusTags', 0, 'latin1');
  tags.writeUInt32LE(vendorBytes.length, 8);
  vendorBytes.copy(tags, 12);
  tags.writeUInt32LE(0, 12 + vendorBytes.length); // no user comments
  const silence = Buffer.from([0xf8, 0xff, 0xfe]);
  const packets = Array.from({ length: frames }, () => silence);
  return Buffer.concat([
    page({ packets: [head], granule: 0, serial, sequence: 0, flags: 0x02 }),
    page({ packets: [tags], granule: 0, serial, sequence: 1, flags: 0 }),
    // The granule position counts 48 kHz samples including the pre-skip.
    page({ packets, granule: frames * 960, serial, sequence: 2, flags: 0x04 }),
  ]);
}
