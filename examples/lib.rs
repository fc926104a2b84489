//! What the example programs share: a WhatsApp simulator in the process with a device linked
//! by QR ([`LocalWhatsApp`]), the text of a message ([`text_of`]) and a bounded wait for
//! something to happen ([`eventually`]). The programs themselves are the files beside this one
//! (`echo_bot.rs`, `qr_login.rs`, `b24_rest.rs`, `open_line_bridge.rs`).
#![forbid(unsafe_code)]

mod eventually;
mod local_whatsapp;
mod text;

pub use eventually::eventually;
pub use local_whatsapp::{LocalWhatsApp, new_device};
pub use text::text_of;
