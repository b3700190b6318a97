//! Background jobs: for now the signed callback a job sends its caller when it ends.

pub mod callback;
