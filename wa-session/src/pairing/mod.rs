//! Pairing a companion device, sans-IO: the QR text, both sides of the ADV signatures
//! (`pair-success` as the companion checks and countersigns it, and the phone's half, which the
//! simulator uses), and the `ClientPayload`s for registration and login.
//!
//! The flow (see the protocol notes, sections 1.8 and 1.9): the server sends refs in
//! `pair-device`; the companion shows [`qr_text`] for each in turn; the phone scans, signs the
//! companion's identity with the account key ([`adv::sign_device_identity`]) and the server sends
//! `pair-success`; the companion checks it ([`adv::verify_pair_success`]) and answers with
//! `pair-device-sign` ([`adv::pair_device_sign`]); the phone checks the device signature
//! ([`adv::verify_device_signature`]); the server ends the stream with 515 and the companion logs in.

pub mod adv;
mod payload;
mod qr;

pub use payload::{ClientVersion, DeviceProfile, login_payload, registration_payload};
pub use qr::{QR_URL_PREFIX, qr_text};
