//! Auco (Colombia): batch cancel with the raw private key, status read with the public key.
//! Docs: <https://docs.auco.ai> (API v1.5). Everything that knows Auco lives in this folder.

mod client;
pub mod simulator;

pub use client::Auco;
