//! Commands for people, beside the server: `signgate cancel` submits and watches bulk
//! cancellation jobs through the HTTP API.

pub mod cancel;
