// A libsignal-node (libsignal@6.0.0) device with in-memory stores, for the live checks.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
export const libsignal = require('libsignal');

export function nodeDevice(preKeyCount = 20) {
  const identity = libsignal.keyhelper.generateIdentityKeyPair();
  const registrationId = libsignal.keyhelper.generateRegistrationId();
  const signed = libsignal.keyhelper.generateSignedPreKey(identity, 5);
  const preKeys = new Map();
  for (let id = 1; id <= preKeyCount; id++) preKeys.set(id, libsignal.keyhelper.generatePreKey(id).keyPair);
  const sessions = new Map();
  const storage = {
    loadSession: async (id) => sessions.get(id),
    storeSession: async (id, record) => { sessions.set(id, record); },
    isTrustedIdentity: () => true,
    loadPreKey: async (id) => preKeys.get(Number(id)),
    removePreKey: (id) => { preKeys.delete(Number(id)); },
    loadSignedPreKey: () => signed.keyPair,
    getOurRegistrationId: () => registrationId,
    getOurIdentity: () => identity,
  };
  return {
    identity, registrationId, signed, preKeys, storage,
    bundle(preKeyId) {
      return {
        registrationId,
        identityKey: identity.pubKey,
        signedPreKey: { keyId: signed.keyId, publicKey: signed.keyPair.pubKey, signature: signed.signature },
        preKey: preKeyId ? { keyId: preKeyId, publicKey: preKeys.get(preKeyId).pubKey } : undefined,
      };
    },
    cipher(name, device) {
      return new libsignal.SessionCipher(storage, new libsignal.ProtocolAddress(name, device));
    },
    async initOutgoing(name, device, bundle) {
      await new libsignal.SessionBuilder(storage, new libsignal.ProtocolAddress(name, device)).initOutgoing(bundle);
    },
  };
}

export async function nodeEncrypt(cipher, plain) {
  const { type, body } = await cipher.encrypt(plain);
  return { type: type === 3 ? 'pkmsg' : 'msg', body: Buffer.from(body, 'binary') };
}

export async function nodeDecrypt(cipher, type, body) {
  return type === 'pkmsg' ? cipher.decryptPreKeyWhisperMessage(body) : cipher.decryptWhisperMessage(body);
}
