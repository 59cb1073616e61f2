//! fayuan's integration tests: one binary, modules by capability.

mod actions;
mod alerts;
mod architecture;
mod audit;
mod backup;
mod calendar;
mod config;
mod county;
mod crash;
mod daemon;
mod docs;
mod durability;
mod email;
mod faults;
mod fixtures;
mod forgetful;
mod fuzz;
mod grid;
mod indicators;
mod ingest;
mod ladder;
mod mail;
mod mail_in;
mod mail_supervision;
mod mailbox;
mod newyear;
mod operations;
mod outbox;
mod powercut;
mod prints;
mod report;
mod review;
mod samples;
mod schedules;
mod service;
mod shipped;
mod soft_checks;
mod store;
mod supervision;
mod support;
mod templates;
mod tidy;
mod unreadable;
mod upgrade;
mod uploads;
mod web;
mod year;
mod year_docs;

/// The shipped samples' figures for months 1..=`months`, as text keyed by field.
pub fn report_rows(months: u32) -> indicators::Rows {
    shipped::shipped_rows(months)
}
