//! Media crypto: the keys, the blob format and a streaming encryptor and decryptor.
//!
//! A 32-byte random `mediaKey` is expanded with HKDF-SHA256 (no salt, a per-type info string) to
//! 112 bytes: IV (16) | cipher key (32) | MAC key (32) | ref key (32). The uploaded blob is
//! `AES-256-CBC/PKCS7(plaintext) || HMAC-SHA256(macKey, iv || ciphertext)[..10]`; the message
//! carries `fileSha256` (of the plaintext), `fileEncSha256` (of the blob) and `fileLength`.
//!
//! [`MediaEncryptor`] and [`MediaDecryptor`] work on chunks of any size and keep at most a few
//! dozen bytes between calls, so files of any length pass through bounded memory.
//!
//! Without IO too: [`message`] builds the message announcing an uploaded blob and reads what a
//! received one says about its blob; [`conn`] reads the `media_conn` answer that names the media
//! hosts and builds upload paths.

pub mod conn;
pub(crate) mod kind;
pub mod message;

use std::fmt;

use aes::{
    Aes256,
    cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit, array::Array},
};
use hmac::Mac;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::{
    CryptoError, Error, MediaError, Result,
    crypto::{HmacSha256, hkdf, hmac},
};

/// Length of the truncated HMAC that ends every media blob.
pub const MAC_LENGTH: usize = 10;
const BLOCK: usize = 16;

/// The kinds of media WhatsApp encrypts, each with its HKDF info string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MediaType {
    /// `image`.
    Image,
    /// `sticker` (image keys).
    Sticker,
    /// `product` (image keys).
    Product,
    /// `biz-cover-photo` (image keys).
    BizCoverPhoto,
    /// `video`.
    Video,
    /// `gif` (video keys).
    Gif,
    /// `ptv`, a round video note (video keys).
    Ptv,
    /// `audio`.
    Audio,
    /// `ptt`, a voice note (audio keys).
    Ptt,
    /// `document`.
    Document,
    /// `md-msg-hist`, a history sync blob.
    History,
    /// `md-app-state`, an app-state blob.
    AppState,
    /// `thumbnail-image`.
    ThumbnailImage,
    /// `thumbnail-video`.
    ThumbnailVideo,
    /// `thumbnail-document`.
    ThumbnailDocument,
    /// `thumbnail-link`.
    ThumbnailLink,
    /// `payment-bg-image`.
    PaymentBackground,
    /// A sticker pack.
    StickerPack,
}

impl MediaType {
    /// Every media type.
    pub const ALL: [Self; 18] = [
        Self::Image,
        Self::Sticker,
        Self::Product,
        Self::BizCoverPhoto,
        Self::Video,
        Self::Gif,
        Self::Ptv,
        Self::Audio,
        Self::Ptt,
        Self::Document,
        Self::History,
        Self::AppState,
        Self::ThumbnailImage,
        Self::ThumbnailVideo,
        Self::ThumbnailDocument,
        Self::ThumbnailLink,
        Self::PaymentBackground,
        Self::StickerPack,
    ];

    /// The HKDF info string.
    #[must_use]
    pub const fn hkdf_info(self) -> &'static str {
        match self {
            Self::Image | Self::Sticker | Self::Product | Self::BizCoverPhoto => {
                "WhatsApp Image Keys"
            }
            Self::Video | Self::Gif | Self::Ptv => "WhatsApp Video Keys",
            Self::Audio | Self::Ptt => "WhatsApp Audio Keys",
            Self::Document => "WhatsApp Document Keys",
            Self::History => "WhatsApp History Keys",
            Self::AppState => "WhatsApp App State Keys",
            Self::ThumbnailImage => "WhatsApp Image Thumbnail Keys",
            Self::ThumbnailVideo => "WhatsApp Video Thumbnail Keys",
            Self::ThumbnailDocument => "WhatsApp Document Thumbnail Keys",
            Self::ThumbnailLink => "WhatsApp Link Thumbnail Keys",
            Self::PaymentBackground => "WhatsApp Payment Background Keys",
            Self::StickerPack => "WhatsApp Sticker Pack Keys",
        }
    }

    /// The name WhatsApp Web (and Baileys) use for this type, e.g. in upload paths.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Sticker => "sticker",
            Self::Product => "product",
            Self::BizCoverPhoto => "biz-cover-photo",
            Self::Video => "video",
            Self::Gif => "gif",
            Self::Ptv => "ptv",
            Self::Audio => "audio",
            Self::Ptt => "ptt",
            Self::Document => "document",
            Self::History => "md-msg-hist",
            Self::AppState => "md-app-state",
            Self::ThumbnailImage => "thumbnail-image",
            Self::ThumbnailVideo => "thumbnail-video",
            Self::ThumbnailDocument => "thumbnail-document",
            Self::ThumbnailLink => "thumbnail-link",
            Self::PaymentBackground => "payment-bg-image",
            Self::StickerPack => "sticker-pack",
        }
    }

    /// The type with the given [`name`](Self::name).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|ty| ty.name() == name)
    }
}

/// The keys expanded from a media key. Zeroized on drop, never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct MediaKeys {
    /// CBC initialisation vector.
    pub iv: [u8; 16],
    /// AES-256 key.
    pub cipher_key: [u8; 32],
    /// HMAC-SHA256 key.
    pub mac_key: [u8; 32],
    /// Reference key (unused by the blob format).
    pub ref_key: [u8; 32],
}

impl MediaKeys {
    /// Expands `media_key` for `media_type`.
    #[must_use]
    pub fn derive(media_key: &[u8; 32], media_type: MediaType) -> Self {
        let okm = hkdf::<112>(None, media_key, media_type.hkdf_info().as_bytes());
        let mut keys =
            Self { iv: [0; 16], cipher_key: [0; 32], mac_key: [0; 32], ref_key: [0; 32] };
        keys.iv.copy_from_slice(&okm[..16]);
        keys.cipher_key.copy_from_slice(&okm[16..48]);
        keys.mac_key.copy_from_slice(&okm[48..80]);
        keys.ref_key.copy_from_slice(&okm[80..112]);
        keys
    }
}

impl fmt::Debug for MediaKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MediaKeys(<redacted>)")
    }
}

/// What a message says about a media blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaInfo {
    /// SHA-256 of the plaintext (`fileSha256`).
    pub file_sha256: [u8; 32],
    /// SHA-256 of the encrypted blob, MAC included (`fileEncSha256`).
    pub file_enc_sha256: [u8; 32],
    /// Length of the plaintext (`fileLength`).
    pub file_length: u64,
}

/// Encrypts a media stream chunk by chunk.
pub struct MediaEncryptor {
    cipher: cbc::Encryptor<Aes256>,
    mac: HmacSha256,
    plain_sha: Sha256,
    enc_sha: Sha256,
    partial: Vec<u8>,
    length: u64,
}

impl fmt::Debug for MediaEncryptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MediaEncryptor").field("length", &self.length).finish_non_exhaustive()
    }
}

impl MediaEncryptor {
    /// Starts encrypting with a fresh `media_key` for `media_type`.
    #[must_use]
    pub fn new(media_key: &[u8; 32], media_type: MediaType) -> Self {
        let keys = MediaKeys::derive(media_key, media_type);
        let mut mac = hmac(&keys.mac_key);
        mac.update(&keys.iv);
        Self {
            cipher: cbc::Encryptor::<Aes256>::new(&keys.cipher_key.into(), &keys.iv.into()),
            mac,
            plain_sha: Sha256::new(),
            enc_sha: Sha256::new(),
            partial: Vec::with_capacity(BLOCK),
            length: 0,
        }
    }

    /// Encrypts whole blocks in place and feeds them to the MAC and the blob hash.
    fn seal(&mut self, blocks: &mut [u8]) {
        let (chunks, _) = Array::slice_as_chunks_mut(blocks);
        self.cipher.encrypt_blocks(chunks);
        self.mac.update(blocks);
        self.enc_sha.update(&*blocks);
    }

    /// Encrypts `plaintext`, appending whole ciphertext blocks to `out`.
    pub fn update(&mut self, mut plaintext: &[u8], out: &mut Vec<u8>) {
        self.plain_sha.update(plaintext);
        self.length += plaintext.len() as u64;
        let start = out.len();
        if !self.partial.is_empty() {
            let take = (BLOCK - self.partial.len()).min(plaintext.len());
            self.partial.extend_from_slice(&plaintext[..take]);
            plaintext = &plaintext[take..];
            if self.partial.len() < BLOCK {
                return;
            }
            out.extend_from_slice(&self.partial);
            self.partial.clear();
        }
        let whole = plaintext.len() / BLOCK * BLOCK;
        out.extend_from_slice(&plaintext[..whole]);
        self.seal(&mut out[start..]);
        self.partial.extend_from_slice(&plaintext[whole..]);
    }

    /// Pads and encrypts the last block, appends it and the 10-byte MAC to `out`.
    pub fn finish(mut self, out: &mut Vec<u8>) -> MediaInfo {
        let pad = BLOCK - self.partial.len();
        let start = out.len();
        out.extend_from_slice(&self.partial);
        out.resize(start + BLOCK, u8::try_from(pad).unwrap_or(16));
        self.seal(&mut out[start..]);
        let mac = self.mac.finalize().into_bytes();
        let mac = &mac[..MAC_LENGTH];
        self.enc_sha.update(mac);
        out.extend_from_slice(mac);
        MediaInfo {
            file_sha256: self.plain_sha.finalize().into(),
            file_enc_sha256: self.enc_sha.finalize().into(),
            file_length: self.length,
        }
    }
}

/// Decrypts a media blob chunk by chunk.
///
/// The plaintext that [`update`](Self::update) emits is not yet authenticated: the MAC is at the
/// end of the blob. Write it somewhere temporary and discard it unless [`finish`](Self::finish)
/// succeeds.
pub struct MediaDecryptor {
    cipher: cbc::Decryptor<Aes256>,
    mac: HmacSha256,
    plain_sha: Sha256,
    enc_sha: Sha256,
    pending: Vec<u8>,
    length: u64,
}

impl fmt::Debug for MediaDecryptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MediaDecryptor").field("length", &self.length).finish_non_exhaustive()
    }
}

/// Bytes held back: the final block (it carries the padding) and the MAC.
const HOLD_BACK: usize = BLOCK + MAC_LENGTH;

impl MediaDecryptor {
    /// Starts decrypting with the message's `media_key` for `media_type`.
    #[must_use]
    pub fn new(media_key: &[u8; 32], media_type: MediaType) -> Self {
        let keys = MediaKeys::derive(media_key, media_type);
        let mut mac = hmac(&keys.mac_key);
        mac.update(&keys.iv);
        Self {
            cipher: cbc::Decryptor::<Aes256>::new(&keys.cipher_key.into(), &keys.iv.into()),
            mac,
            plain_sha: Sha256::new(),
            enc_sha: Sha256::new(),
            pending: Vec::with_capacity(64),
            length: 0,
        }
    }

    fn decrypt_blocks(&mut self, blocks: &mut [u8]) {
        self.mac.update(blocks);
        self.enc_sha.update(&*blocks);
        let (chunks, _) = Array::slice_as_chunks_mut(blocks);
        self.cipher.decrypt_blocks(chunks);
    }

    /// Feeds a chunk of the blob, appending the (unauthenticated) plaintext decrypted so far to
    /// `out`.
    pub fn update(&mut self, blob: &[u8], out: &mut Vec<u8>) {
        let total = self.pending.len() + blob.len();
        let ready = total.saturating_sub(HOLD_BACK) / BLOCK * BLOCK;
        if ready == 0 {
            self.pending.extend_from_slice(blob);
            return;
        }
        let start = out.len();
        let from_pending = ready.min(self.pending.len());
        let from_blob = ready - from_pending;
        out.extend_from_slice(&self.pending[..from_pending]);
        out.extend_from_slice(&blob[..from_blob]);
        self.pending.drain(..from_pending);
        self.pending.extend_from_slice(&blob[from_blob..]);
        self.decrypt_blocks(&mut out[start..]);
        self.plain_sha.update(&out[start..]);
        self.length += ready as u64;
    }

    /// Checks the MAC, removes the padding and appends the last plaintext to `out`.
    ///
    /// With `expected`, also checks the plaintext and blob hashes against what the message said.
    pub fn finish(mut self, out: &mut Vec<u8>, expected: Option<&MediaInfo>) -> Result<MediaInfo> {
        let mut rest = std::mem::take(&mut self.pending);
        if rest.len() < HOLD_BACK || !(rest.len() - MAC_LENGTH).is_multiple_of(BLOCK) {
            return Err(Error::Media(MediaError::Truncated));
        }
        let mac_start = rest.len() - MAC_LENGTH;
        let received_mac = rest.split_off(mac_start);
        self.decrypt_blocks(&mut rest);
        self.enc_sha.update(&received_mac);
        let computed = self.mac.finalize().into_bytes();
        if !bool::from(computed[..MAC_LENGTH].ct_eq(&received_mac)) {
            return Err(Error::Crypto(CryptoError::BadMac("media blob")));
        }
        let pad = usize::from(*rest.last().ok_or(Error::Media(MediaError::Truncated))?);
        if pad == 0
            || pad > BLOCK
            || pad > rest.len()
            || rest[rest.len() - pad..].iter().any(|&b| usize::from(b) != pad)
        {
            return Err(Error::Crypto(CryptoError::BadPadding("media blob")));
        }
        rest.truncate(rest.len() - pad);
        self.plain_sha.update(&rest);
        self.length += rest.len() as u64;
        out.extend_from_slice(&rest);
        let info = MediaInfo {
            file_sha256: self.plain_sha.finalize().into(),
            file_enc_sha256: self.enc_sha.finalize().into(),
            file_length: self.length,
        };
        if let Some(expected) = expected {
            if !bool::from(info.file_enc_sha256.ct_eq(&expected.file_enc_sha256)) {
                return Err(Error::Media(MediaError::HashMismatch("encrypted")));
            }
            if !bool::from(info.file_sha256.ct_eq(&expected.file_sha256)) {
                return Err(Error::Media(MediaError::HashMismatch("plaintext")));
            }
        }
        Ok(info)
    }
}

/// Encrypts a whole file: returns the blob to upload and what the message must say about it.
#[must_use]
pub fn encrypt(
    media_key: &[u8; 32],
    media_type: MediaType,
    plaintext: &[u8],
) -> (Vec<u8>, MediaInfo) {
    let mut encryptor = MediaEncryptor::new(media_key, media_type);
    let mut blob = Vec::with_capacity(plaintext.len() + BLOCK + MAC_LENGTH);
    encryptor.update(plaintext, &mut blob);
    let info = encryptor.finish(&mut blob);
    (blob, info)
}

/// Decrypts a whole blob, checking its MAC first (and the hashes, if `expected` is given).
pub fn decrypt(
    media_key: &[u8; 32],
    media_type: MediaType,
    blob: &[u8],
    expected: Option<&MediaInfo>,
) -> Result<Vec<u8>> {
    if blob.len() < HOLD_BACK || !(blob.len() - MAC_LENGTH).is_multiple_of(BLOCK) {
        return Err(Error::Media(MediaError::Truncated));
    }
    let keys = MediaKeys::derive(media_key, media_type);
    let (ciphertext, mac) = blob.split_at(blob.len() - MAC_LENGTH);
    let computed = crate::crypto::hmac_sha256(&keys.mac_key, &[&keys.iv, ciphertext]);
    if !bool::from(computed[..MAC_LENGTH].ct_eq(mac)) {
        return Err(Error::Crypto(CryptoError::BadMac("media blob")));
    }
    let mut decryptor = MediaDecryptor::new(media_key, media_type);
    let mut out = Vec::with_capacity(blob.len());
    decryptor.update(blob, &mut out);
    decryptor.finish(&mut out, expected)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use rand::{RngExt, SeedableRng, rngs::StdRng};

    use super::*;

    #[test]
    fn round_trip_every_type_and_length() {
        let mut rng = StdRng::seed_from_u64(3);
        for ty in MediaType::ALL {
            assert_eq!(MediaType::from_name(ty.name()), Some(ty));
            for len in [0usize, 1, 15, 16, 17, 31, 32, 33, 1000] {
                let key: [u8; 32] = rng.random();
                let plain: Vec<u8> = (0..len).map(|_| rng.random()).collect();
                let (blob, info) = encrypt(&key, ty, &plain);
                assert_eq!(blob.len(), (len / 16 + 1) * 16 + 10);
                assert_eq!(info.file_length, len as u64);
                assert_eq!(info.file_sha256, <[u8; 32]>::from(Sha256::digest(&plain)));
                assert_eq!(info.file_enc_sha256, <[u8; 32]>::from(Sha256::digest(&blob)));
                assert_eq!(decrypt(&key, ty, &blob, Some(&info)).unwrap(), plain);
            }
        }
    }

    #[test]
    fn chunking_does_not_change_the_result() {
        let mut rng = StdRng::seed_from_u64(4);
        let key: [u8; 32] = rng.random();
        let plain: Vec<u8> = (0..5000).map(|_| rng.random()).collect();
        let (whole, info) = encrypt(&key, MediaType::Video, &plain);
        for chunk in [1usize, 3, 16, 17, 26, 27, 100, 4999] {
            let mut enc = MediaEncryptor::new(&key, MediaType::Video);
            let mut blob = Vec::new();
            for piece in plain.chunks(chunk) {
                enc.update(piece, &mut blob);
            }
            assert_eq!(enc.finish(&mut blob), info);
            assert_eq!(blob, whole);
            let mut dec = MediaDecryptor::new(&key, MediaType::Video);
            let mut out = Vec::new();
            for piece in blob.chunks(chunk) {
                dec.update(piece, &mut out);
            }
            assert_eq!(dec.finish(&mut out, Some(&info)).unwrap(), info);
            assert_eq!(out, plain);
        }
    }

    #[test]
    fn tampering_is_refused() {
        let key = [5u8; 32];
        let (blob, info) = encrypt(&key, MediaType::Image, b"a picture");
        for i in 0..blob.len() {
            let mut bad = blob.clone();
            bad[i] ^= 1;
            assert_eq!(
                decrypt(&key, MediaType::Image, &bad, None),
                Err(Error::Crypto(CryptoError::BadMac("media blob")))
            );
        }
        assert_eq!(
            decrypt(&key, MediaType::Video, &blob, None),
            Err(Error::Crypto(CryptoError::BadMac("media blob")))
        );
        assert_eq!(
            decrypt(&key, MediaType::Image, &blob[..blob.len() - 1], None),
            Err(Error::Media(MediaError::Truncated))
        );
        assert_eq!(
            decrypt(&key, MediaType::Image, &[], None),
            Err(Error::Media(MediaError::Truncated))
        );
        let mut wrong = info;
        wrong.file_sha256[0] ^= 1;
        assert_eq!(
            decrypt(&key, MediaType::Image, &blob, Some(&wrong)),
            Err(Error::Media(MediaError::HashMismatch("plaintext")))
        );
        let mut wrong = info;
        wrong.file_enc_sha256[0] ^= 1;
        assert_eq!(
            decrypt(&key, MediaType::Image, &blob, Some(&wrong)),
            Err(Error::Media(MediaError::HashMismatch("encrypted")))
        );
    }

    #[test]
    fn keys_are_not_printed() {
        let keys = MediaKeys::derive(&[1; 32], MediaType::Audio);
        insta::assert_snapshot!(format!(
            "{keys:?} {:?}",
            MediaEncryptor::new(&[1; 32], MediaType::Audio)
        ));
    }
}
