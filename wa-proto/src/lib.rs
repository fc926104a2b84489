#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod decode;
mod encode;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod jid;
mod node;
mod packed;
mod reader;
mod tag;
mod token;

pub use decode::{DecodeLimits, decode, decode_node, decode_node_with, decode_with};
pub use encode::{encode, encode_node_into};
pub use error::{Error, Result};
pub use jid::{Jid, Server, SignalAddress};
pub use node::{AttrValue, Content, Node, NodeBuilder, Text};
pub use token::DICTIONARY_VERSION;
