//! One report run for a period: store → analyses → report. (Ingest happens before, in the
//! command; sending, after.)

use crate::analyze::{self, Inputs};
use crate::cli::Context;
use crate::error::Result;
use crate::period::{Period, TZ};
use crate::report::{self, RunMeta};
use crate::store::Store;
use std::path::PathBuf;

/// Builds `output/<pipeline>/<P>/` from the store, as of the context's "now". `restated` alerts
/// compare with the rows the last report for the period used.
pub fn build_report(ctx: &Context, period: Period) -> Result<PathBuf> {
    let store = Store::open(&ctx.data_dir);
    let submissions = store.rows()?;
    let files = store.files()?;
    let previous =
        report::last_manifest(&ctx.output_dir, &ctx.pipeline, period).map(|m| m.rows_used);
    let analysis = analyze::analyze(&Inputs {
        pipeline: &ctx.pipeline,
        period,
        as_of: ctx.now,
        submissions: &submissions,
        files: &files,
        previous: previous.as_deref(),
    })?;
    let generated_at = chrono::Utc::now().with_timezone(&TZ);
    report::write_run(
        &ctx.output_dir,
        &RunMeta {
            pipeline: &ctx.pipeline,
            period,
            as_of: ctx.now,
            generated_at,
            files: &files,
        },
        &analysis,
    )
}
