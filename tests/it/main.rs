//! fayuan's integration tests: one binary, modules by capability.

mod alerts;
mod config;
mod fixtures;
mod indicators;
mod ingest;
mod report;
mod support;
