//! One report run for a period: store → analyses → report. (Ingest happens before, in the
//! command; sending, after.)

use crate::analyze::{self, Inputs};
use crate::cli::Context;
use crate::error::Result;
use crate::period::{Period, TZ};
use crate::report::{self, RunMeta};
use crate::store::Store;
use std::path::PathBuf;

/// What a report run produced.
pub struct Built {
    pub dir: PathBuf,
    /// One line for people: completion against 序时进度 and the number of alerts.
    pub headline: String,
}

/// Builds `output/<pipeline>/<P>/` from the store, as of the context's "now". `restated` alerts
/// compare with the rows the last report for the period used.
pub fn build_report(ctx: &Context, period: Period) -> Result<Built> {
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
    let dir = report::write_run(
        &ctx.output_dir,
        &RunMeta {
            pipeline: &ctx.pipeline,
            period,
            as_of: ctx.now,
            generated_at,
            files: &files,
        },
        &analysis,
    )?;
    let total = |name: &str| -> Option<f64> {
        let df = analysis.frame("completion").ok()?;
        let k = df
            .column("unit_code")
            .ok()?
            .str()
            .ok()?
            .iter()
            .position(|u| u == Some("total"))?;
        df.column(name).ok()?.get(k).ok()?.extract::<f64>()
    };
    let alerts = analysis.frame("alerts")?.height();
    let headline = format!(
        "{}{}：完成{}（序时{}），预警{}条",
        ctx.pipeline.def.pipeline.city,
        period.zh(),
        crate::format::pct(total("completion_rate")),
        crate::format::pct(total("schedule_rate")),
        alerts
    );
    Ok(Built { dir, headline })
}
