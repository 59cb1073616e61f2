//! fayuan's integration tests: one binary, modules by capability.

mod config;
mod fixtures;
mod ingest;
mod support;
