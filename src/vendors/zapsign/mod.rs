//! ZapSign (Brazil): one document per cancel call, Bearer token, mandatory `User-Agent`, error
//! bodies of several shapes, 500 calls a minute. Docs: <https://docs.zapsign.com.br> (API v1).
//! Everything that knows ZapSign lives in this folder.

mod client;
pub mod simulator;

pub use client::ZapSign;
