// Cross-checks wa-proto's protobuf schemas against Baileys' WAProto, the schema of a real peer.
//
//   node interop/checks/protobuf.mjs [--write-vectors]
//
// 1. Schema: every message, field and enum in wa-proto/proto/*.proto must exist in Baileys'
//    WAProto.proto with the same number, type, label, packing and (JSON) name; our enums must list
//    exactly Baileys' values.
// 2. Values: generates a deterministic set of values (hand-written cases plus seeded random ones)
//    and encodes them with Baileys. `--write-vectors` stores them in
//    wa-proto/tests/vectors/protobuf/baileys.json (replayed by `cargo test` without Node); a normal
//    run checks that the committed file is what this script generates.
// 3. Live: runs the Rust example `interop_protobuf` (build it first:
//    `cargo build --release -p wa-proto --examples`), which decodes Baileys' bytes with our types
//    and re-encodes them. Our JSON must equal Baileys' JSON, our bytes must equal Baileys' bytes,
//    and Baileys must decode our bytes back to the same value.
//
// JSON convention on both sides: protobufjs toObject with longs as decimal strings, enums as
// names, bytes as base64, only present fields. Prints one line per check and ends with
// `RESULT passed=N failed=M`; exits non-zero on any failure.

import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import protobuf from 'protobufjs'
import { proto } from '@whiskeysockets/baileys'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const vectorsPath = path.join(root, 'wa-proto/tests/vectors/protobuf/baileys.json')
const ourProtoDir = path.join(root, 'wa-proto/proto')
const baileysProto = path.join(
  root,
  'interop/node_modules/@whiskeysockets/baileys/WAProto/WAProto.proto'
)
const binary = path.resolve(
  root,
  process.env.CARGO_TARGET_DIR ?? 'target',
  'release/examples/interop_protobuf'
)
const TO_OBJECT = { longs: String, enums: String, bytes: String }

let passed = 0
let failed = 0
// Every passing check is listed with VERBOSE=1; failures always are.
const verbose = process.env.VERBOSE === '1'
function check(ok, label, detail) {
  if (ok) {
    passed++
    if (verbose) console.log(`ok   ${label}`)
  } else {
    failed++
    console.log(`FAIL ${label}${detail ? `: ${detail}` : ''}`)
  }
}

// ---------------------------------------------------------------------------------------------
// 1. Schema

// Our message and enum names that differ from Baileys'; nested names follow their parent.
const RENAMED = {
  'wa.adv.EncryptionType': 'proto.ADVEncryptionType',
  'wa.adv.SignedDeviceIdentityHmac': 'proto.ADVSignedDeviceIdentityHMAC',
  'wa.adv.SignedDeviceIdentity': 'proto.ADVSignedDeviceIdentity',
  'wa.adv.DeviceIdentity': 'proto.ADVDeviceIdentity',
  'wa.adv.KeyIndexList': 'proto.ADVKeyIndexList',
  'wa.adv.SignedKeyIndexList': 'proto.ADVSignedKeyIndexList',
  'wa.history.PhoneNumberToLidMapping': 'proto.PhoneNumberToLIDMapping',
}

function baileysNameOf(ourFullName) {
  const name = ourFullName.replace(/^\./, '')
  for (const [ours, theirs] of Object.entries(RENAMED)) {
    if (name === ours || name.startsWith(`${ours}.`)) return theirs + name.slice(ours.length)
  }
  return name.replace(/^wa\.[a-z0-9]+\./, 'proto.')
}

// protoc's JSON name: drop underscores and upper-case the character after each.
function jsonNameOf(field) {
  if (field.options?.json_name) return field.options.json_name
  let out = ''
  let upper = false
  for (const c of field.name) {
    if (c === '_') upper = true
    else {
      out += upper ? c.toUpperCase() : c
      upper = false
    }
  }
  return out
}

function fieldTypeOf(field, rename) {
  if (field.resolvedType) return rename(field.resolvedType.fullName)
  return field.type
}

function schemaChecks() {
  const ours = new protobuf.Root()
  ours.resolvePath = (_origin, target) => path.join(ourProtoDir, path.basename(target))
  const files = fs.readdirSync(ourProtoDir).filter((file) => file.endsWith('.proto'))
  ours.loadSync(files, { keepCase: true })
  ours.resolveAll()
  const theirs = protobuf.loadSync(baileysProto)
  theirs.resolveAll()

  const walk = (namespace, visit) => {
    for (const nested of namespace.nestedArray) {
      visit(nested)
      if (nested.nestedArray) walk(nested, visit)
    }
  }
  let messages = 0
  let enums = 0
  walk(ours, (item) => {
    if (!(item instanceof protobuf.Type) && !(item instanceof protobuf.Enum)) return
    const theirName = baileysNameOf(item.fullName)
    const label = `schema ${item.fullName.slice(1)} = ${theirName}`
    const their = theirs.lookup(theirName)
    if (item instanceof protobuf.Enum) {
      enums++
      if (!(their instanceof protobuf.Enum)) return check(false, label, 'no such enum in Baileys')
      const a = JSON.stringify(Object.entries(item.values).sort())
      const b = JSON.stringify(Object.entries(their.values).sort())
      return check(a === b, label, `values differ: ours ${a} theirs ${b}`)
    }
    messages++
    if (!(their instanceof protobuf.Type)) return check(false, label, 'no such message in Baileys')
    const problems = []
    for (const field of item.fieldsArray) {
      const other = their.fieldsById[field.id]
      if (!other) {
        problems.push(`${field.name}=${field.id} does not exist`)
        continue
      }
      if (jsonNameOf(field) !== other.name)
        problems.push(`${field.id}: JSON name ${jsonNameOf(field)} vs ${other.name}`)
      const ourType = fieldTypeOf(field, baileysNameOf)
      const theirType = fieldTypeOf(other, (name) => name.replace(/^\./, ''))
      if (ourType !== theirType) problems.push(`${field.id}: type ${ourType} vs ${theirType}`)
      if (field.repeated !== other.repeated) problems.push(`${field.id}: repeated differs`)
      if (field.repeated && !field.resolvedType && !['string', 'bytes'].includes(field.type) && field.packed !== other.packed)
        problems.push(`${field.id}: packed ${field.packed} vs ${other.packed}`)
    }
    check(problems.length === 0, `${label} (${item.fieldsArray.length} fields)`, problems.join('; '))
  })
  console.log(`schema: ${messages} messages and ${enums} enums compared`)
}

// ---------------------------------------------------------------------------------------------
// 2. Values

const TYPES = {
  'wa.handshake.HandshakeMessage': proto.HandshakeMessage,
  'wa.handshake.ClientPayload': proto.ClientPayload,
  'wa.cert.CertChain': proto.CertChain,
  'wa.cert.CertChain.NoiseCertificate.Details': proto.CertChain.NoiseCertificate.Details,
  'wa.companion.DeviceProps': proto.DeviceProps,
  'wa.adv.SignedDeviceIdentityHmac': proto.ADVSignedDeviceIdentityHMAC,
  'wa.adv.SignedDeviceIdentity': proto.ADVSignedDeviceIdentity,
  'wa.adv.DeviceIdentity': proto.ADVDeviceIdentity,
  'wa.adv.KeyIndexList': proto.ADVKeyIndexList,
  'wa.adv.SignedKeyIndexList': proto.ADVSignedKeyIndexList,
  'wa.common.MessageKey': proto.MessageKey,
  'wa.e2e.Message': proto.Message,
  'wa.e2e.ContextInfo': proto.ContextInfo,
  'wa.web.WebMessageInfo': proto.WebMessageInfo,
  'wa.history.HistorySync': proto.HistorySync,
  'wa.sync.SyncActionData': proto.SyncActionData,
  'wa.sync.SyncActionValue': proto.SyncActionValue,
}

// mulberry32: a small seeded generator, so that the vectors are the same on every run.
function seeded(seed) {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
const random = seeded(0x77ab24)
const pick = (items) => items[Math.floor(random() * items.length)]
const chance = (p) => random() < p
const int = (lo, hi) => lo + Math.floor(random() * (hi - lo + 1))
const list = (make, lo = 1, hi = 3) => Array.from({ length: int(lo, hi) }, make)

const STRINGS = [
  '',
  'hello',
  'Привет, мир',
  '你好，世界',
  'emoji 👋🏽 🇩🇪 👨‍👩‍👧',
  'Grüße aus Köln',
  'tab\tand\nnewline',
  'nul\u0000inside',
  'עברית right-to-left',
  'surrogate pair 𝄞',
  'x'.repeat(300),
]
const str = () => pick(STRINGS)
const jid = () =>
  pick([
    '491701234567@s.whatsapp.net',
    '491701234567:12@s.whatsapp.net',
    '123456789-1600000000@g.us',
    '120363025246125486@g.us',
    '98765432101234@lid',
    'status@broadcast',
    '120363025246125486@newsletter',
  ])
const messageId = () =>
  pick(['3EB0', 'BAE5', 'ABCD']) +
  Array.from({ length: int(4, 16) }, () => '0123456789ABCDEF'[int(0, 15)]).join('')
const bytes = (length = pick([0, 1, 16, 32, 33, 64, 200])) =>
  Buffer.from(Array.from({ length }, () => int(0, 255)))
const u32 = () =>
  pick([0, 1, 127, 128, 16383, 16384, 65535, 2147483647, 2147483648, 4294967295, int(0, 1e6)])
const i32 = () => pick([0, 1, -1, 127, -128, 2147483647, -2147483648, int(-1e6, 1e6)])
const u64 = () =>
  pick([
    '0',
    '1',
    '1716000000',
    '1716000000123',
    '9007199254740991',
    '9007199254740993',
    '12345678901234567890',
    '18446744073709551615',
    String(BigInt(int(0, 2 ** 31)) * BigInt(int(0, 2 ** 31)) * 3n),
  ])
const i64 = () =>
  pick([
    '0',
    '-1',
    '1716000000',
    '1716000000123',
    '9007199254740993',
    '-9007199254740993',
    '9223372036854775807',
    '-9223372036854775808',
  ])
const fixed32 = () => pick([0, 1, 0xff25d366, 4294967295])
const sfixed32 = () => pick([0, -1, 12345, 2147483647, -2147483648])
const bool = () => chance(0.5)
const names = (enumObject) => Object.keys(enumObject)
const enumOf = (enumObject) => () => pick(names(enumObject))
// A serialized message nested in a bytes field.
const encodeAs = (Type, value) => Buffer.from(Type.encode(Type.fromObject(value)).finish())

// Builds an object with each field present with probability p (at least one field).
function some(makers, p = 0.5) {
  const out = {}
  const keys = Object.keys(makers)
  for (const key of keys) if (chance(p)) out[key] = makers[key]()
  if (Object.keys(out).length === 0 && keys.length) {
    const key = pick(keys)
    out[key] = makers[key]()
  }
  return out
}

const messageKey = () =>
  some({ remoteJid: jid, fromMe: bool, id: messageId, participant: jid }, 0.7)

function contextInfo(depth) {
  const makers = {
    stanzaId: messageId,
    participant: jid,
    remoteJid: jid,
    mentionedJid: () => list(jid),
    forwardingScore: u32,
    isForwarded: bool,
    placeholderKey: messageKey,
    expiration: u32,
    ephemeralSettingTimestamp: i64,
    ephemeralSharedSecret: () => bytes(32),
  }
  if (depth < 3) makers.quotedMessage = () => message(depth + 1)
  return some(makers, 0.4)
}

const media = (depth) => ({
  url: () => `https://mmg.whatsapp.net/v/t62.7118-24/${int(1, 1e9)}.enc?ccb=11-4`,
  mimetype: () => pick(['image/jpeg', 'video/mp4', 'audio/ogg; codecs=opus', 'application/pdf']),
  fileSha256: () => bytes(32),
  fileLength: u64,
  mediaKey: () => bytes(32),
  fileEncSha256: () => bytes(32),
  directPath: () => `/v/t62.7118-24/${int(1, 1e9)}.enc?ccb=11-4&oh=01_${int(1, 1e9)}`,
  mediaKeyTimestamp: i64,
  contextInfo: () => contextInfo(depth),
})

const imageMessage = (depth) =>
  some({
    ...media(depth),
    caption: str,
    height: u32,
    width: u32,
    jpegThumbnail: () => bytes(200),
    viewOnce: bool,
    thumbnailDirectPath: str,
    thumbnailSha256: () => bytes(32),
    thumbnailEncSha256: () => bytes(32),
  })
const videoMessage = (depth) =>
  some({
    ...media(depth),
    seconds: u32,
    caption: str,
    gifPlayback: bool,
    height: u32,
    width: u32,
    jpegThumbnail: () => bytes(64),
    streamingSidecar: () => bytes(),
    viewOnce: bool,
    thumbnailDirectPath: str,
    thumbnailSha256: () => bytes(32),
    thumbnailEncSha256: () => bytes(32),
  })
const audioMessage = (depth) =>
  some({
    ...media(depth),
    seconds: u32,
    ptt: bool,
    streamingSidecar: () => bytes(),
    waveform: () => Buffer.from(Array.from({ length: 64 }, () => int(0, 100))),
    backgroundArgb: fixed32,
    viewOnce: bool,
  })
const documentMessage = (depth) =>
  some({
    ...media(depth),
    title: str,
    pageCount: u32,
    fileName: () => pick(['report.pdf', 'Отчёт 2024.xlsx', '契約書.docx', 'no-extension']),
    contactVcard: bool,
    thumbnailDirectPath: str,
    thumbnailSha256: () => bytes(32),
    thumbnailEncSha256: () => bytes(32),
    jpegThumbnail: () => bytes(64),
    thumbnailHeight: u32,
    thumbnailWidth: u32,
    caption: str,
  })
const stickerMessage = (depth) =>
  some({
    ...media(depth),
    height: u32,
    width: u32,
    firstFrameLength: u32,
    firstFrameSidecar: () => bytes(16),
    isAnimated: bool,
    pngThumbnail: () => bytes(64),
    stickerSentTs: i64,
    isAvatar: bool,
    isAiSticker: bool,
    isLottie: bool,
  })
const extendedTextMessage = (depth) =>
  some({
    text: str,
    matchedText: () => 'https://example.org/путь?q=1',
    description: str,
    title: str,
    textArgb: fixed32,
    backgroundArgb: fixed32,
    font: enumOf(proto.Message.ExtendedTextMessage.FontType),
    previewType: enumOf(proto.Message.ExtendedTextMessage.PreviewType),
    jpegThumbnail: () => bytes(64),
    contextInfo: () => contextInfo(depth),
    doNotPlayInline: bool,
  })
const historySyncNotification = () =>
  some({
    fileSha256: () => bytes(32),
    fileLength: u64,
    mediaKey: () => bytes(32),
    fileEncSha256: () => bytes(32),
    directPath: str,
    syncType: enumOf(proto.Message.HistorySyncType),
    chunkOrder: u32,
    originalMessageId: messageId,
    progress: u32,
    oldestMsgInChunkTimestampSec: i64,
    initialHistBootstrapInlinePayload: () => bytes(200),
    peerDataRequestSessionId: str,
    encHandle: str,
  })
const appStateSyncKey = () =>
  some({
    keyId: () => ({ keyId: bytes(6) }),
    keyData: () =>
      some({
        keyData: () => bytes(32),
        fingerprint: () =>
          some({ rawId: u32, currentIndex: u32, deviceIndexes: () => list(u32, 0, 4) }),
        timestamp: i64,
      }),
  })
const protocolMessage = (depth) =>
  some({
    key: messageKey,
    type: enumOf(proto.Message.ProtocolMessage.Type),
    ephemeralExpiration: u32,
    ephemeralSettingTimestamp: i64,
    historySyncNotification,
    appStateSyncKeyShare: () => ({ keys: list(appStateSyncKey, 0, 3) }),
    appStateSyncKeyRequest: () => ({ keyIds: list(() => ({ keyId: bytes(6) })) }),
    editedMessage: () => message(depth + 1),
    timestampMs: i64,
  })
const deviceListMetadata = () =>
  some({
    senderKeyHash: () => bytes(10),
    senderTimestamp: u64,
    senderKeyIndexes: () => list(u32, 0, 4),
    senderAccountType: enumOf(proto.ADVEncryptionType),
    receiverAccountType: enumOf(proto.ADVEncryptionType),
    recipientKeyHash: () => bytes(10),
    recipientTimestamp: u64,
    recipientKeyIndexes: () => list(u32, 0, 4),
  })
const messageContextInfo = () =>
  some({
    deviceListMetadata,
    deviceListMetadataVersion: i32,
    messageSecret: () => bytes(32),
    paddingBytes: () => bytes(int(0, 15)),
    messageAddOnDurationInSecs: u32,
  })

function message(depth = 0) {
  const kinds = {
    conversation: str,
    senderKeyDistributionMessage: () =>
      some({ groupId: jid, axolotlSenderKeyDistributionMessage: () => bytes(140) }),
    imageMessage: () => imageMessage(depth),
    extendedTextMessage: () => extendedTextMessage(depth),
    documentMessage: () => documentMessage(depth),
    audioMessage: () => audioMessage(depth),
    videoMessage: () => videoMessage(depth),
    protocolMessage: () => protocolMessage(depth),
    stickerMessage: () => stickerMessage(depth),
    reactionMessage: () =>
      some({ key: messageKey, text: () => pick(['', '👍', '❤️', '😂']), groupingKey: str, senderTimestampMs: i64 }),
  }
  if (depth < 3) {
    const wrapped = () => ({ message: message(depth + 1) })
    Object.assign(kinds, {
      deviceSentMessage: () => some({ destinationJid: jid, message: () => message(depth + 1), phash: str }),
      viewOnceMessage: wrapped,
      ephemeralMessage: wrapped,
      documentWithCaptionMessage: wrapped,
      viewOnceMessageV2: wrapped,
      editedMessage: wrapped,
      viewOnceMessageV2Extension: wrapped,
    })
  }
  const kind = pick(Object.keys(kinds))
  const out = { [kind]: kinds[kind]() }
  if (chance(0.3)) out.messageContextInfo = messageContextInfo()
  return out
}

const handshakeMessage = () =>
  some({
    clientHello: () =>
      some({ ephemeral: () => bytes(32), static: () => bytes(48), payload: bytes, useExtended: bool, extendedCiphertext: bytes }),
    serverHello: () =>
      some({ ephemeral: () => bytes(32), static: () => bytes(48), payload: bytes, extendedStatic: bytes }),
    clientFinish: () => some({ static: () => bytes(48), payload: bytes, extendedCiphertext: bytes }),
  })
const userAgent = () =>
  some({
    platform: enumOf(proto.ClientPayload.UserAgent.Platform),
    appVersion: () => some({ primary: u32, secondary: u32, tertiary: u32, quaternary: u32, quinary: u32 }),
    mcc: () => '000',
    mnc: () => '000',
    osVersion: str,
    manufacturer: str,
    device: str,
    osBuildNumber: str,
    phoneId: str,
    releaseChannel: enumOf(proto.ClientPayload.UserAgent.ReleaseChannel),
    localeLanguageIso6391: () => pick(['en', 'ru', 'de']),
    localeCountryIso31661Alpha2: () => pick(['US', 'RU', 'DE']),
    deviceBoard: str,
    deviceExpId: str,
    deviceType: enumOf(proto.ClientPayload.UserAgent.DeviceType),
    deviceModelType: str,
  })
const clientPayload = () =>
  some({
    username: u64,
    passive: bool,
    userAgent,
    webInfo: () =>
      some({ refToken: str, version: str, webSubPlatform: enumOf(proto.ClientPayload.WebInfo.WebSubPlatform) }),
    pushName: str,
    sessionId: sfixed32,
    shortConnect: bool,
    connectType: enumOf(proto.ClientPayload.ConnectType),
    connectReason: enumOf(proto.ClientPayload.ConnectReason),
    connectAttemptCount: u32,
    device: u32,
    devicePairingData: () =>
      some({
        eRegid: () => bytes(4),
        eKeytype: () => Buffer.from([5]),
        eIdent: () => bytes(32),
        eSkeyId: () => bytes(3),
        eSkeyVal: () => bytes(32),
        eSkeySig: () => bytes(64),
        buildHash: () => bytes(16),
        deviceProps: () => encodeAs(proto.DeviceProps, deviceProps()),
      }),
    product: enumOf(proto.ClientPayload.Product),
    oc: bool,
    lc: i32,
    pull: bool,
    paddingBytes: bytes,
    lidDbMigrated: bool,
    accountType: enumOf(proto.ClientPayload.AccountType),
    connectionSequenceInfo: sfixed32,
  })
const certDetails = () =>
  some({ serial: u32, issuerSerial: u32, key: () => bytes(32), notBefore: u64, notAfter: u64 })
const noiseCertificate = () =>
  some({
    details: () => encodeAs(proto.CertChain.NoiseCertificate.Details, certDetails()),
    signature: () => bytes(64),
  })
const certChain = () => some({ leaf: noiseCertificate, intermediate: noiseCertificate })
const historySyncConfig = () =>
  some({
    fullSyncDaysLimit: u32,
    fullSyncSizeMbLimit: u32,
    storageQuotaMb: u32,
    inlineInitialPayloadInE2EeMsg: bool,
    recentSyncDaysLimit: u32,
    supportCallLogHistory: bool,
    supportBotUserAgentChatHistory: bool,
    supportCagReactionsAndPolls: bool,
    supportBizHostedMsg: bool,
    supportRecentSyncChunkMessageCountTuning: bool,
    supportHostedGroupMsg: bool,
    supportFbidBotChatHistory: bool,
    supportAddOnHistorySyncMigration: bool,
    supportMessageAssociation: bool,
    supportGroupHistory: bool,
    onDemandReady: bool,
    supportGuestChat: bool,
    completeOnDemandReady: bool,
    thumbnailSyncDaysLimit: u32,
  })
function deviceProps() {
  return some({
    os: str,
    version: () => some({ primary: u32, secondary: u32, tertiary: u32, quaternary: u32, quinary: u32 }),
    platformType: enumOf(proto.DeviceProps.PlatformType),
    requireFullSync: bool,
    historySyncConfig,
  })
}
const deviceIdentity = () =>
  some({
    rawId: u32,
    timestamp: u64,
    keyIndex: u32,
    accountType: enumOf(proto.ADVEncryptionType),
    deviceType: enumOf(proto.ADVEncryptionType),
  })
const signedDeviceIdentity = () =>
  some({
    details: () => encodeAs(proto.ADVDeviceIdentity, deviceIdentity()),
    accountSignatureKey: () => bytes(32),
    accountSignature: () => bytes(64),
    deviceSignature: () => bytes(64),
  })
const signedDeviceIdentityHmac = () =>
  some({
    details: () => encodeAs(proto.ADVSignedDeviceIdentity, signedDeviceIdentity()),
    hmac: () => bytes(32),
    accountType: enumOf(proto.ADVEncryptionType),
  })
const keyIndexList = () =>
  some({
    rawId: u32,
    timestamp: u64,
    currentIndex: u32,
    validIndexes: () => list(u32, 0, 5),
    accountType: enumOf(proto.ADVEncryptionType),
  })
const signedKeyIndexList = () =>
  some({
    details: () => encodeAs(proto.ADVKeyIndexList, keyIndexList()),
    accountSignature: () => bytes(64),
    accountSignatureKey: () => bytes(32),
  })
const webMessageInfo = () =>
  some({
    key: messageKey,
    message,
    messageTimestamp: u64,
    status: enumOf(proto.WebMessageInfo.Status),
    participant: jid,
    ignore: bool,
    starred: bool,
    broadcast: bool,
    pushName: str,
    mediaCiphertextSha256: () => bytes(32),
    multicast: bool,
    duration: u32,
    labels: () => list(str),
    ephemeralStartTimestamp: u64,
    ephemeralDuration: u32,
    userReceipt: () =>
      list(() =>
        some({
          userJid: jid,
          receiptTimestamp: i64,
          readTimestamp: i64,
          playedTimestamp: i64,
          pendingDeviceJid: () => list(jid),
          deliveredDeviceJid: () => list(jid),
        })
      ),
    reactions: () =>
      list(() => some({ key: messageKey, text: () => pick(['👍', '❤️']), groupingKey: str, senderTimestampMs: i64, unread: bool })),
    messageSecret: () => bytes(32),
    revokeMessageTimestamp: u64,
  })
const conversation = () =>
  some({
    id: jid,
    messages: () => list(() => some({ message: webMessageInfo, msgOrderId: u64 }), 1, 2),
    newJid: jid,
    oldJid: jid,
    lastMsgTimestamp: u64,
    unreadCount: u32,
    readOnly: bool,
    endOfHistoryTransfer: bool,
    ephemeralExpiration: u32,
    ephemeralSettingTimestamp: i64,
    endOfHistoryTransferType: enumOf(proto.Conversation.EndOfHistoryTransferType),
    conversationTimestamp: u64,
    name: str,
    pHash: str,
    notSpam: bool,
    archived: bool,
    unreadMentionCount: u32,
    markedAsUnread: bool,
    tcToken: bytes,
    tcTokenTimestamp: u64,
    pinned: u32,
    muteEndTime: u64,
    tcTokenSenderTimestamp: u64,
    createdAt: u64,
    createdBy: jid,
    description: str,
    displayName: str,
    pnJid: jid,
    lidJid: jid,
    username: str,
  })
const historySync = () =>
  some({
    syncType: enumOf(proto.HistorySync.HistorySyncType),
    conversations: () => list(conversation, 1, 2),
    statusV3Messages: () => list(webMessageInfo, 1, 2),
    chunkOrder: u32,
    progress: u32,
    pushnames: () => list(() => some({ id: jid, pushname: str })),
    threadIdUserSecret: () => bytes(32),
    threadDsTimeframeOffset: u32,
    phoneNumberToLidMappings: () => list(() => some({ pnJid: jid, lidJid: jid })),
  })
const messageRange = () =>
  some({
    lastMessageTimestamp: i64,
    lastSystemMessageTimestamp: i64,
    messages: () => list(() => some({ key: messageKey, timestamp: i64 }), 0, 3),
  })
const syncActionValue = () =>
  some({
    timestamp: i64,
    contactAction: () =>
      some({ fullName: str, firstName: str, lidJid: jid, saveOnPrimaryAddressbook: bool, pnJid: jid, username: str }),
    muteAction: () => some({ muted: bool, muteEndTimestamp: i64, autoMuted: bool }),
    pinAction: () => ({ pinned: bool() }),
    archiveChatAction: () => some({ archived: bool, messageRange }),
    markChatAsReadAction: () => some({ read: bool, messageRange }),
  }, 0.3)
const syncActionData = () =>
  some({
    index: () => Buffer.from(JSON.stringify([pick(['mute', 'pin_v1', 'archive', 'contact']), jid()])),
    value: syncActionValue,
    padding: () => bytes(int(0, 16)),
    version: i32,
  })

const RANDOM = {
  'wa.handshake.HandshakeMessage': [handshakeMessage, 6],
  'wa.handshake.ClientPayload': [clientPayload, 8],
  'wa.cert.CertChain': [certChain, 4],
  'wa.cert.CertChain.NoiseCertificate.Details': [certDetails, 4],
  'wa.companion.DeviceProps': [deviceProps, 5],
  'wa.adv.SignedDeviceIdentityHmac': [signedDeviceIdentityHmac, 4],
  'wa.adv.SignedDeviceIdentity': [signedDeviceIdentity, 3],
  'wa.adv.DeviceIdentity': [deviceIdentity, 4],
  'wa.adv.KeyIndexList': [keyIndexList, 4],
  'wa.adv.SignedKeyIndexList': [signedKeyIndexList, 3],
  'wa.common.MessageKey': [messageKey, 4],
  'wa.e2e.Message': [message, 50],
  'wa.e2e.ContextInfo': [() => contextInfo(1), 4],
  'wa.web.WebMessageInfo': [webMessageInfo, 8],
  'wa.history.HistorySync': [historySync, 6],
  'wa.sync.SyncActionData': [syncActionData, 6],
  'wa.sync.SyncActionValue': [syncActionValue, 6],
}

// Hand-written cases: the values the product sees most, and boundaries. `extra` holds fields that
// Baileys knows and our subset does not: they are encoded too, and our decoder must skip them.
function handWritten() {
  const key = { remoteJid: '491701234567@s.whatsapp.net', fromMe: false, id: '3EB0C431D5F1A2B3' }
  const groupKey = { remoteJid: '120363025246125486@g.us', fromMe: true, id: 'BAE5F00D', participant: '98765432101234@lid' }
  const voiceNote = {
    url: 'https://mmg.whatsapp.net/v/t62.7117-24/1.enc',
    mimetype: 'audio/ogg; codecs=opus',
    fileSha256: bytes(32),
    fileLength: '9007199254740993',
    seconds: 17,
    ptt: true,
    mediaKey: bytes(32),
    fileEncSha256: bytes(32),
    directPath: '/v/t62.7117-24/1.enc?ccb=11-4',
    mediaKeyTimestamp: '1716000000',
    waveform: Buffer.from(Array.from({ length: 64 }, (_, i) => (i * 37) % 101)),
  }
  return [
    { type: 'wa.e2e.Message', name: 'empty message', value: {} },
    { type: 'wa.e2e.Message', name: 'plain text', value: { conversation: 'Hello from Bitrix24 👋' } },
    { type: 'wa.e2e.Message', name: 'empty text is present', value: { conversation: '' } },
    {
      type: 'wa.e2e.Message',
      name: 'quoted reply with mentions',
      value: {
        extendedTextMessage: {
          text: '@491701234567 посмотри, пожалуйста',
          contextInfo: {
            stanzaId: key.id,
            participant: key.remoteJid,
            quotedMessage: { conversation: 'Когда будет счёт?' },
            mentionedJid: ['491701234567@s.whatsapp.net', '98765432101234@lid'],
            expiration: 604800,
          },
        },
        messageContextInfo: { messageSecret: bytes(32), deviceListMetadataVersion: 2 },
      },
    },
    {
      type: 'wa.e2e.Message',
      name: 'reply quoting a reply quoting a voice note',
      value: {
        extendedTextMessage: {
          text: 'third',
          contextInfo: {
            stanzaId: 'A',
            quotedMessage: {
              extendedTextMessage: {
                text: 'second',
                contextInfo: { stanzaId: 'B', quotedMessage: { audioMessage: voiceNote } },
              },
            },
          },
        },
      },
    },
    { type: 'wa.e2e.Message', name: 'voice note', value: { audioMessage: voiceNote } },
    {
      type: 'wa.e2e.Message',
      name: 'image with caption and unknown scan fields',
      value: { imageMessage: { mimetype: 'image/jpeg', caption: 'Фото договора', height: 1280, width: 960, fileLength: '123456', jpegThumbnail: bytes(200) } },
      extra: { imageMessage: { scansSidecar: bytes(40), scanLengths: [1, 2, 3], firstScanLength: 7, midQualityFileSha256: bytes(32) } },
    },
    {
      type: 'wa.e2e.Message',
      name: 'document with caption wrapper',
      value: { documentWithCaptionMessage: { message: { documentMessage: { fileName: 'invoice.pdf', caption: 'Счёт №42', mimetype: 'application/pdf', pageCount: 3 } } } },
    },
    {
      type: 'wa.e2e.Message',
      name: 'disappearing (ephemeral) wrapper',
      value: { ephemeralMessage: { message: { extendedTextMessage: { text: 'gone soon', contextInfo: { expiration: 86400, ephemeralSettingTimestamp: '1716000000' } } } } },
    },
    {
      type: 'wa.e2e.Message',
      name: 'revoke',
      value: { protocolMessage: { key: groupKey, type: 'REVOKE' } },
    },
    {
      type: 'wa.e2e.Message',
      name: 'edit',
      value: { protocolMessage: { key, type: 'MESSAGE_EDIT', editedMessage: { conversation: 'fixed typo' }, timestampMs: '1716000000123' } },
    },
    {
      type: 'wa.e2e.Message',
      name: 'history sync notification',
      value: {
        protocolMessage: {
          type: 'HISTORY_SYNC_NOTIFICATION',
          historySyncNotification: {
            fileSha256: bytes(32), fileLength: '4096', mediaKey: bytes(32), fileEncSha256: bytes(32),
            directPath: '/v/t62.1/hist.enc', syncType: 'INITIAL_BOOTSTRAP', chunkOrder: 0, progress: 0,
          },
        },
      },
      extra: { protocolMessage: { historySyncNotification: { messageAccessStatus: { completeAccessGranted: true } } } },
    },
    {
      type: 'wa.e2e.Message',
      name: 'app state sync key share',
      value: {
        protocolMessage: {
          type: 'APP_STATE_SYNC_KEY_SHARE',
          appStateSyncKeyShare: {
            keys: [
              { keyId: { keyId: bytes(6) }, keyData: { keyData: bytes(32), fingerprint: { rawId: 123456, currentIndex: 3, deviceIndexes: [0, 3, 300] }, timestamp: '1716000000123' } },
              { keyId: { keyId: bytes(6) }, keyData: { keyData: bytes(32) } },
            ],
          },
        },
      },
    },
    {
      type: 'wa.e2e.Message',
      name: 'reaction',
      value: { reactionMessage: { key: groupKey, text: '❤️', senderTimestampMs: '1716000000123' } },
    },
    {
      type: 'wa.e2e.Message',
      name: 'reaction removed (empty text)',
      value: { reactionMessage: { key, text: '', senderTimestampMs: '-1' } },
    },
    {
      type: 'wa.e2e.Message',
      name: 'sender key distribution with group text',
      value: {
        senderKeyDistributionMessage: { groupId: '120363025246125486@g.us', axolotlSenderKeyDistributionMessage: bytes(140) },
        conversation: 'hi group',
        messageContextInfo: { deviceListMetadata: { senderKeyHash: bytes(10), senderTimestamp: '1716000000', senderKeyIndexes: [0, 1, 2], senderAccountType: 'E2EE', receiverAccountType: 'HOSTED', recipientKeyHash: bytes(10), recipientTimestamp: '18446744073709551615' }, deviceListMetadataVersion: 2 },
      },
    },
    {
      type: 'wa.e2e.Message',
      name: 'device sent message with sticker',
      value: { deviceSentMessage: { destinationJid: '491701234567@s.whatsapp.net', message: { stickerMessage: { mimetype: 'image/webp', isAnimated: true, width: 512, height: 512, stickerSentTs: '1716000000123' } } } },
    },
    {
      type: 'wa.e2e.Message',
      name: 'video with a live location we do not know',
      value: { videoMessage: { seconds: 42, gifPlayback: false, caption: 'видео', streamingSidecar: bytes(80) } },
      extra: { liveLocationMessage: { degreesLatitude: 55.7558, degreesLongitude: 37.6173, caption: 'Москва' } },
    },
    {
      type: 'wa.e2e.Message',
      name: 'location',
      value: { locationMessage: { degreesLatitude: -23.561414, degreesLongitude: -46.655881, name: 'MASP', address: 'Av. Paulista, 1578', url: 'https://masp.org.br' } },
      extra: { locationMessage: { isLive: false, comment: 'here' } },
    },
    {
      type: 'wa.e2e.Message',
      name: 'contact card',
      value: { contactMessage: { displayName: 'Anna', vcard: 'BEGIN:VCARD\nVERSION:3.0\nFN:Anna\nitem1.TEL;waid=5511987654321:+55 11 98765-4321\nEND:VCARD' } },
    },
    {
      type: 'wa.e2e.Message',
      name: 'contact cards',
      value: { contactsArrayMessage: { displayName: '2 contacts', contacts: [{ displayName: 'Anna', vcard: 'BEGIN:VCARD\nEND:VCARD' }, { displayName: 'Bo', vcard: 'BEGIN:VCARD\nEND:VCARD' }] } },
    },
    {
      type: 'wa.e2e.Message',
      name: 'only unknown types (poll, live location)',
      value: {},
      extra: {
        pollCreationMessage: { name: 'Lunch?', options: [{ optionName: 'yes' }, { optionName: 'no' }], selectableOptionsCount: 1 },
        liveLocationMessage: { degreesLatitude: 1.5, sequenceNumber: 3 },
      },
    },
    {
      type: 'wa.e2e.Message',
      name: 'text with an unknown ad reply in its context',
      value: { extendedTextMessage: { text: 'ad click', contextInfo: { isForwarded: true, forwardingScore: 5 } } },
      extra: { extendedTextMessage: { contextInfo: { externalAdReply: { title: 'Ad', body: 'Body', sourceUrl: 'https://example.org' }, groupSubject: 'Team' } } },
    },
    {
      type: 'wa.handshake.HandshakeMessage',
      name: 'client hello',
      value: { clientHello: { ephemeral: bytes(32) } },
    },
    {
      type: 'wa.handshake.HandshakeMessage',
      name: 'server hello',
      value: { serverHello: { ephemeral: bytes(32), static: bytes(48), payload: bytes(200) } },
    },
    {
      type: 'wa.handshake.HandshakeMessage',
      name: 'client finish',
      value: { clientFinish: { static: bytes(48), payload: bytes(200) } },
    },
    {
      type: 'wa.handshake.ClientPayload',
      name: 'registration payload',
      value: {
        passive: false,
        pull: false,
        userAgent: {
          platform: 'WEB', appVersion: { primary: 2, secondary: 3000, tertiary: 1035194821 }, mcc: '000', mnc: '000',
          osVersion: '0.1', manufacturer: '', device: 'Desktop', osBuildNumber: '0.1', releaseChannel: 'RELEASE',
          localeLanguageIso6391: 'en', localeCountryIso31661Alpha2: 'US',
        },
        webInfo: { webSubPlatform: 'WEB_BROWSER' },
        connectType: 'WIFI_UNKNOWN',
        connectReason: 'USER_ACTIVATED',
        devicePairingData: {
          eRegid: Buffer.from([0, 0, 0x30, 0x39]), eKeytype: Buffer.from([5]), eIdent: bytes(32), eSkeyId: Buffer.from([0, 0, 1]),
          eSkeyVal: bytes(32), eSkeySig: bytes(64), buildHash: bytes(16),
          deviceProps: encodeAs(proto.DeviceProps, { os: 'Bitrix24', platformType: 'DESKTOP', requireFullSync: false }),
        },
      },
    },
    {
      type: 'wa.handshake.ClientPayload',
      name: 'login payload with unknown fields',
      value: {
        username: '491701234567', device: 12, passive: true, pull: true, lidDbMigrated: false, lc: 1, pushName: 'Anna 🌸',
        userAgent: { platform: 'WEB', appVersion: { primary: 2, secondary: 3000, tertiary: 1035194821 } },
        connectType: 'WIFI_UNKNOWN', connectReason: 'USER_ACTIVATED', sessionId: -559038737,
      },
      extra: { shards: [1, 2], yearClass: 2024, dnsSource: { dnsMethod: 'SYSTEM', appCached: true }, interopData: { accountId: '7' } },
    },
    {
      type: 'wa.cert.CertChain',
      name: 'chain',
      value: {
        leaf: { details: encodeAs(proto.CertChain.NoiseCertificate.Details, { serial: 42, issuerSerial: 7, key: bytes(32), notBefore: '1700000000', notAfter: '1800000000' }), signature: bytes(64) },
        intermediate: { details: encodeAs(proto.CertChain.NoiseCertificate.Details, { serial: 7, issuerSerial: 0, key: bytes(32) }), signature: bytes(64) },
      },
    },
    {
      type: 'wa.cert.CertChain.NoiseCertificate.Details',
      name: 'details with issuer 0 present',
      value: { serial: 7, issuerSerial: 0, key: bytes(32), notBefore: '0', notAfter: '18446744073709551615' },
    },
    {
      type: 'wa.companion.DeviceProps',
      name: 'device props',
      value: { os: 'Bitrix24', version: { primary: 10, secondary: 15, tertiary: 7 }, platformType: 'DESKTOP', requireFullSync: false, historySyncConfig: { storageQuotaMb: 10240, inlineInitialPayloadInE2EeMsg: true, supportCallLogHistory: false } },
    },
    {
      type: 'wa.adv.SignedDeviceIdentityHmac',
      name: 'pair-success identity (hosted)',
      value: { details: bytes(120), hmac: bytes(32), accountType: 'HOSTED' },
    },
    {
      type: 'wa.adv.DeviceIdentity',
      name: 'device identity',
      value: { rawId: 4294967295, timestamp: '1716000000', keyIndex: 12, accountType: 'E2EE', deviceType: 'E2EE' },
    },
    {
      type: 'wa.adv.KeyIndexList',
      name: 'key index list (packed)',
      value: { rawId: 1, timestamp: '1716000000', currentIndex: 300, validIndexes: [0, 1, 127, 128, 300, 4294967295] },
    },
    {
      type: 'wa.web.WebMessageInfo',
      name: 'history message with unknown stub type',
      value: { key: groupKey, message: { conversation: 'hi' }, messageTimestamp: '1716000000', status: 'READ', participant: '98765432101234@lid', pushName: 'Anna' },
      extra: { messageStubType: 'E2E_ENCRYPTED', messageStubParameters: ['x'], verifiedBizName: 'Biz' },
    },
    {
      type: 'wa.history.HistorySync',
      name: 'bootstrap with sync type 0 present',
      value: {
        syncType: 'INITIAL_BOOTSTRAP', chunkOrder: 0, progress: 5,
        conversations: [{ id: '491701234567@s.whatsapp.net', unreadCount: 0, messages: [{ message: { key, message: { conversation: 'first' }, messageTimestamp: '1716000000' }, msgOrderId: '1' }] }],
        pushnames: [{ id: '491701234567@s.whatsapp.net', pushname: 'Anna' }],
        phoneNumberToLidMappings: [{ pnJid: '491701234567@s.whatsapp.net', lidJid: '98765432101234@lid' }],
      },
      extra: { globalSettings: { autoDownloadWiFi: { downloadImages: true } }, companionMetaNonce: 'nonce' },
    },
    {
      type: 'wa.sync.SyncActionData',
      name: 'mute forever',
      value: { index: Buffer.from('["mute","491701234567@s.whatsapp.net"]'), value: { timestamp: '1716000000123', muteAction: { muted: true, muteEndTimestamp: '-1' } }, padding: Buffer.alloc(0), version: 2 },
    },
    {
      type: 'wa.sync.SyncActionValue',
      name: 'contact name and an unknown star action',
      value: { timestamp: '1716000000123', contactAction: { fullName: 'Анна Иванова', firstName: 'Анна', saveOnPrimaryAddressbook: true } },
      extra: { starAction: { starred: true }, pushNameSetting: { name: 'Me' } },
    },
    {
      type: 'wa.sync.SyncActionValue',
      name: 'archive with message range',
      value: { archiveChatAction: { archived: true, messageRange: { lastMessageTimestamp: '1716000000', messages: [{ key, timestamp: '1716000000' }] } } },
    },
    {
      type: 'wa.sync.SyncActionValue',
      name: 'mark read and pin',
      value: { markChatAsReadAction: { read: false, messageRange: { lastSystemMessageTimestamp: '1' } }, pinAction: { pinned: false } },
    },
  ]
}

function deepMerge(base, extra) {
  if (!extra) return base
  const out = { ...base }
  for (const [key, value] of Object.entries(extra)) {
    const isObject = value && typeof value === 'object' && !Array.isArray(value) && !Buffer.isBuffer(value)
    out[key] = isObject && out[key] ? deepMerge(out[key], value) : value
  }
  return out
}

const toHex = (bytes) => Buffer.from(bytes).toString('hex')

function makeVectors() {
  const cases = handWritten()
  for (const [type, [make, count]] of Object.entries(RANDOM)) {
    for (let i = 0; i < count; i++) cases.push({ type, name: `random ${i + 1}`, value: make() })
  }
  return cases.map(({ type, name, value, extra }) => {
    const Type = TYPES[type]
    const known = Type.encode(Type.fromObject(value)).finish()
    const json = Type.toObject(Type.decode(known), TO_OBJECT)
    const vector = { type, name, hex: toHex(known), json }
    if (extra) {
      vector.hex = toHex(Type.encode(Type.fromObject(deepMerge(value, extra))).finish())
      vector.hex_known = toHex(known)
      if (vector.hex === vector.hex_known) throw new Error(`${type} ${name}: the extra fields encode to nothing`)
    }
    return vector
  })
}

const vectorsText = (vectors) => `[\n${vectors.map((vector) => JSON.stringify(vector)).join(',\n')}\n]\n`

// Sorted keys, so that two objects compare equal whatever their key order.
function canonical(value) {
  if (Array.isArray(value)) return value.map(canonical)
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).sort().map((key) => [key, canonical(value[key])]))
  }
  return value
}
const same = (a, b) => JSON.stringify(canonical(a)) === JSON.stringify(canonical(b))

// The first path where two JSON values differ, for failure messages.
function firstDifference(a, b, at = '$') {
  if (same(a, b)) return null
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const found = firstDifference(a[key], b[key], `${at}.${key}`)
      if (found) return found
    }
  }
  const show = (v) => (v === undefined ? 'absent' : JSON.stringify(v).slice(0, 80))
  return `${at}: ours ${show(a)}, Baileys ${show(b)}`
}

// ---------------------------------------------------------------------------------------------
// 3. Live: our decoder and encoder against Baileys

function liveChecks(vectors) {
  if (!fs.existsSync(binary)) {
    check(false, 'rust example', `${binary} is missing: run cargo build --release -p wa-proto --examples`)
    return
  }
  const input = JSON.stringify(vectors.map(({ type, hex }) => ({ type, hex })))
  const run = spawnSync(binary, [], { input, maxBuffer: 256 * 1024 * 1024, encoding: 'utf8' })
  if (run.status !== 0) {
    check(false, 'rust example', `exit ${run.status}: ${run.stderr}`)
    return
  }
  const results = JSON.parse(run.stdout)
  check(results.length === vectors.length, `rust example answered ${results.length} of ${vectors.length} values`)
  vectors.forEach((vector, index) => {
    const label = `[${String(index).padStart(3, '0')}] ${vector.type} ${vector.name}`
    const ours = results[index]
    if (!ours || ours.error) return check(false, label, ours?.error ?? 'no answer')
    const problems = []
    const jsonDiff = firstDifference(ours.json, vector.json)
    if (jsonDiff) problems.push(`our decoding differs at ${jsonDiff}`)
    const expected = vector.hex_known ?? vector.hex
    if (ours.hex_reencoded !== expected) problems.push(`our bytes differ: ours ${ours.hex_reencoded.slice(0, 60)} Baileys ${expected.slice(0, 60)}`)
    const Type = TYPES[vector.type]
    let back
    try {
      back = Type.toObject(Type.decode(Buffer.from(ours.hex_reencoded, 'hex')), TO_OBJECT)
    } catch (error) {
      problems.push(`Baileys cannot decode our bytes: ${error.message}`)
    }
    if (back && !same(back, vector.json)) problems.push(`Baileys reads our bytes differently at ${firstDifference(back, vector.json)}`)
    const skipped = vector.hex_known ? ', unknown fields skipped' : ''
    check(problems.length === 0, `${label} (${expected.length / 2} bytes${skipped})`, problems.join('; '))
  })
}

// ---------------------------------------------------------------------------------------------

function main() {
  schemaChecks()
  const vectors = makeVectors()
  const text = vectorsText(vectors)
  if (process.argv.includes('--write-vectors')) {
    fs.mkdirSync(path.dirname(vectorsPath), { recursive: true })
    fs.writeFileSync(vectorsPath, text)
    console.log(`wrote ${vectors.length} vectors to ${path.relative(root, vectorsPath)}`)
  }
  const committed = fs.existsSync(vectorsPath) ? fs.readFileSync(vectorsPath, 'utf8') : ''
  check(committed === text, `committed vectors match this generator (${vectors.length} values)`, 'run with --write-vectors and commit the file')
  liveChecks(vectors)
  console.log(`protobuf: ${passed} checks passed, ${failed} failed (VERBOSE=1 lists each)`)
  console.log(`RESULT passed=${passed} failed=${failed}`)
  process.exitCode = failed === 0 ? 0 : 1
}

try {
  main()
} catch (error) {
  console.log(`FAIL protobuf check crashed: ${error.stack}`)
  console.log(`RESULT passed=${passed} failed=${failed + 1}`)
  process.exitCode = 1
}
