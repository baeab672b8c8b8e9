//! End-to-end tests: the real server in-process on an ephemeral port, driven by the
//! unchanged aws-sdk-sqs client. Simulated time moves only through `advance_clock`.
#![allow(clippy::unwrap_used)] // a failed unwrap in a test helper is a failed test

mod attributes;
mod batches;
mod cli;
mod clients_docs;
mod common;
mod console;
mod dashboard;
mod declared;
mod errors;
mod fifo;
mod hostile;
mod long_polling;
mod messages;
mod metrics;
mod queues;
mod redrive;
mod safe_redrive;
mod signatures;
mod storage;
mod tags_permissions;
