//! Tests of the DocuSign client.
