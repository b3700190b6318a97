//! Tests of the simulated DocuSign.
