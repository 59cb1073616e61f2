//! The 指导督促 commands (issue 25): `return`, `confirm`, `supervise`, `audit`.

use super::{Command, write_lock};
use crate::app::Context;
use crate::error::{Error, Result, exit};
use crate::period::Period;

/// `fayuan confirm`: a unit's month accepted and locked.
pub(super) fn confirm(ctx: &Context, unit: &str, period: Period, by: &str) -> Result<i32> {
    let _lock = write_lock(ctx, "confirm")?;
    let said =
        crate::supervision::confirm(&ctx.data_dir, &ctx.pipeline, unit, period, by, ctx.now())?;
    println!("{said}");
    Ok(exit::OK)
}

/// `fayuan return`: a unit's month back for correction (or the return withdrawn).
pub(super) fn return_month(ctx: &Context, command: Command) -> Result<i32> {
    let Command::Return {
        unit,
        period,
        reason,
        by,
        cancel,
    } = command
    else {
        return Err(Error::Internal("return_month: not a return".into()));
    };
    let _lock = write_lock(ctx, "return")?;
    let said = crate::supervision::run_return(ctx, &unit, period, &reason, &by, cancel)?;
    println!("{said}");
    Ok(exit::OK)
}

/// `fayuan supervise`: a supervision item opened, closed, or the open ones listed.
pub(super) fn supervise(ctx: &Context, command: Command) -> Result<i32> {
    let Command::Supervise {
        unit,
        text,
        due,
        close,
        by,
    } = command
    else {
        return Err(Error::Internal("supervise: not a supervise".into()));
    };
    let _lock = write_lock(ctx, "supervise")?;
    let item = crate::supervision::Item {
        unit: unit.as_deref(),
        text: text.as_deref(),
        due: due.as_deref(),
    };
    let (said, notice) =
        crate::supervision::supervise(&ctx.data_dir, &ctx.pipeline, item, close, &by, ctx.now())?;
    println!("{said}");
    if let Some(id) = notice {
        match crate::supervision::deliver_now(ctx, &id) {
            Ok(true) => println!("督办通知已发出（{id}）。"),
            Ok(false) => println!("未配置 SMTP 服务器，督办通知已写入发件箱（{id}）。"),
            Err(e) => println!("督办通知暂未送达，已留在发件箱中自动重试（{e}）。"),
        }
    }
    Ok(exit::OK)
}

/// `fayuan audit`: the record (of one unit, since a day), or its check (exit 1 when a line does
/// not check out).
pub(super) fn audit(
    ctx: &Context,
    year: Option<i32>,
    unit: Option<&str>,
    since: Option<&str>,
    verify: bool,
) -> Result<i32> {
    let year = year.unwrap_or(ctx.pipeline.year());
    let since = since
        .map(|d| {
            chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .map_err(|_| Error::Usage(format!("--since {d:?}: a day such as 2025-07-01")))
        })
        .transpose()?;
    if !verify {
        // A step a crash left off the record is put there first (under the write lock).
        let _lock = write_lock(ctx, "audit")?;
        crate::supervision::catch_up_record(&ctx.data_dir, &ctx.pipeline)?;
    }
    let name = |c: &str| ctx.pipeline.unit(c).map(|u| u.name.clone());
    let unit = unit
        .map(|u| crate::supervision::known_unit(&ctx.pipeline, u).map(|u| u.code.as_str()))
        .transpose()?;
    let (text, whole) = crate::audit::report(&ctx.data_dir, year, unit, since, verify, &name)?;
    print!("{text}");
    Ok(if whole { exit::OK } else { 1 })
}
