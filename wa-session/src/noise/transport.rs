//! The transport phase: AES-256-GCM frames with independent write and read keys and counters.

use std::fmt;

use zeroize::Zeroizing;

use crate::{Error, NoiseError, Result, crypto};

/// One direction: a key and the counter of the next frame.
#[derive(Clone)]
struct CipherState {
    key: Zeroizing<[u8; 32]>,
    counter: u32,
}

impl CipherState {
    /// The counter for this frame; the next frame uses the following one.
    fn next(&mut self) -> Result<u32> {
        let n = self.counter;
        self.counter = n.checked_add(1).ok_or(Error::Noise(NoiseError::NonceExhausted))?;
        Ok(n)
    }
}

/// The ciphers of an established connection. Frames carry no additional data; the nonce is
/// 8 zero bytes then the big-endian counter of the direction.
#[derive(Clone)]
pub struct Transport {
    write: CipherState,
    read: CipherState,
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("write_counter", &self.write.counter)
            .field("read_counter", &self.read.counter)
            .finish_non_exhaustive()
    }
}

impl Transport {
    pub(super) fn new(write: Zeroizing<[u8; 32]>, read: Zeroizing<[u8; 32]>) -> Self {
        Self {
            write: CipherState { key: write, counter: 0 },
            read: CipherState { key: read, counter: 0 },
        }
    }

    /// Encrypts one outgoing frame payload.
    ///
    /// # Errors
    ///
    /// [`NoiseError::NonceExhausted`] after 2^32 frames.
    pub fn encrypt(&mut self, plaintext: &[u8]) -> Result<Vec<u8>> {
        let n = self.write.next()?;
        crypto::aes_gcm_encrypt(&self.write.key, n, &[], plaintext)
    }

    /// Decrypts one incoming frame payload.
    ///
    /// The read counter advances even when decryption fails (the sender used that counter), so a
    /// caller may drop a bad frame and go on, as WhatsApp's clients do, or close the connection.
    ///
    /// # Errors
    ///
    /// [`crate::CryptoError::BadMac`] if the frame does not decrypt, [`NoiseError::NonceExhausted`]
    /// after 2^32 frames.
    pub fn decrypt(&mut self, ciphertext: &[u8]) -> Result<Vec<u8>> {
        let n = self.read.next()?;
        crypto::aes_gcm_decrypt(&self.read.key, n, &[], ciphertext, "transport frame")
    }

    /// Frames written so far.
    #[must_use]
    pub fn write_counter(&self) -> u32 {
        self.write.counter
    }

    /// Frames read so far (good or bad).
    #[must_use]
    pub fn read_counter(&self) -> u32 {
        self.read.counter
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CryptoError;

    fn pair() -> (Transport, Transport) {
        let a = Zeroizing::new([1u8; 32]);
        let b = Zeroizing::new([2u8; 32]);
        (Transport::new(a.clone(), b.clone()), Transport::new(b, a))
    }

    #[test]
    fn frames_flow_both_ways_and_counters_advance() {
        let (mut client, mut server) = pair();
        for i in 0..5u8 {
            let ct = client.encrypt(&[i; 10]).unwrap();
            assert_eq!(server.decrypt(&ct).unwrap(), [i; 10]);
            let ct = server.encrypt(&[i; 3]).unwrap();
            assert_eq!(client.decrypt(&ct).unwrap(), [i; 3]);
        }
        assert_eq!((client.write_counter(), client.read_counter()), (5, 5));
        // Same plaintext, different counters: different ciphertexts.
        assert_ne!(client.encrypt(b"x").unwrap(), client.encrypt(b"x").unwrap());
    }

    #[test]
    fn a_bad_frame_fails_and_the_next_one_still_decrypts() {
        let (mut client, mut server) = pair();
        let mut first = client.encrypt(b"one").unwrap();
        let second = client.encrypt(b"two").unwrap();
        first[0] ^= 1;
        assert_eq!(
            server.decrypt(&first),
            Err(Error::Crypto(CryptoError::BadMac("transport frame")))
        );
        assert_eq!(server.decrypt(&second).unwrap(), b"two");
        // A replayed frame is refused (its counter is past).
        assert!(server.decrypt(&second).is_err());
    }

    #[test]
    fn counters_do_not_wrap() {
        let (mut client, _) = pair();
        client.write.counter = u32::MAX;
        assert_eq!(client.encrypt(b"x"), Err(Error::Noise(NoiseError::NonceExhausted)));
    }

    #[test]
    fn debug_hides_keys() {
        let (client, _) = pair();
        let shown = format!("{client:?}");
        assert!(!shown.contains("1, 1"), "{shown}");
        assert_eq!(shown, "Transport { write_counter: 0, read_counter: 0, .. }");
    }
}
