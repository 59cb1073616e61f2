//! fayuan — the monthly data pipeline of 六安市司法局's legal aid livelihood project.
//!
//! Data flows one way: sources → [`ingest`] (parse, validate, archive) → [`store`] →
//! analyses → report → notify, driven by the [`cli`]. See ARCHITECTURE.md.

pub mod analyze;
pub mod app;
pub mod audit;
pub mod backup;
pub mod calendar;
pub mod cli;
pub mod config;
pub mod cron;
pub mod daemon;
pub mod door;
pub mod error;
pub mod faults;
pub mod format;
pub mod frame;
pub mod fsutil;
pub mod health;
pub mod ingest;
pub mod jobs;
pub mod ladder;
pub mod layout;
pub mod ledger;
pub mod lock;
pub mod mailin;
pub mod notify;
pub mod palette;
pub mod period;
pub mod records;
pub mod report;
pub mod requirements;
pub mod retry;
pub mod run;
pub mod sample;
pub mod schedule;
pub mod schema;
pub mod service;
pub mod sources;
pub mod status;
pub mod store;
pub mod supervision;
pub mod texts;
pub mod unit_code;
pub mod web;

pub use error::{Error, Result};
