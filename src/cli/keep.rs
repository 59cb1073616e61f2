//! `fayuan backup` and `fayuan restore` (issue 36 §5).

use super::write_lock;
use crate::app::Context;
use crate::backup::{self, Contents};
use crate::error::{Result, exit};
use std::path::Path;

/// `fayuan backup --to DIR`: under the write lock and the delivery lock (the daemon's ingest,
/// reports and deliveries wait meanwhile), one archive, read back before it is called done.
pub(super) fn backup(ctx: &Context, to: &Path) -> Result<i32> {
    let _writing = write_lock(ctx, "backup")?;
    let wait = std::time::Duration::from_secs(ctx.pipeline.def.schedule.lock_wait_seconds);
    let _sending =
        crate::app::runtime()?.block_on(crate::lock::acquire_delivery(&ctx.data_dir, wait))?;
    let made = backup::make(ctx, to, &_writing, &_sending)?;
    println!("备份已完成并核验：{}", made.file.display());
    println!("{}", counted(&made.contents));
    print!("{}", records(&made.contents));
    println!("归档的 SHA-256：{}", made.sha256);
    for l in &made.left_out {
        println!("未备份：{l}");
    }
    println!(
        "密钥（FAYUAN_* 凭据）不在备份中，请另行保管。核验备份：fayuan restore --check {}",
        made.file.display()
    );
    Ok(exit::OK)
}

fn counted(c: &Contents) -> String {
    format!(
        "共 {} 个文件，{:.1} MB，逐一核对 SHA-256 无误（fayuan {}，数据格式第 {} 版，备份于 {}）",
        c.files,
        c.bytes as f64 / 1048576.0,
        c.about.fayuan,
        c.about.data_format,
        c.about
            .made_at()
            .map(|t| crate::period::instant_zh(&t))
            .unwrap_or_else(|_| c.about.made_at.clone())
    )
}

fn records(c: &Contents) -> String {
    if c.records.is_empty() {
        return "工作台账：尚无记录。\n".into();
    }
    c.records
        .iter()
        .map(|(y, v)| crate::audit::verdict(*y, v))
        .collect()
}

/// `fayuan restore --check FILE` or `fayuan restore FILE --to DIR`.
pub(super) fn restore(
    file: &Path,
    check: bool,
    to: Option<&Path>,
    as_of: Option<chrono::DateTime<chrono_tz::Tz>>,
) -> Result<i32> {
    if check {
        let checked = backup::check(file, as_of)?;
        println!("备份可以恢复：{}", file.display());
        println!("{}", counted(&checked.contents));
        println!("—— 恢复后的 fayuan status ——");
        print!("{}", checked.status);
        println!("—— 恢复后的 fayuan audit --verify ——");
        if checked.record.is_empty() {
            println!("工作台账：尚无记录。");
        }
        print!("{}", checked.record);
        return Ok(if checked.whole {
            exit::OK
        } else {
            exit::FAILED
        });
    }
    let Some(to) = to else {
        return Err(crate::error::Error::Usage(
            "restore: --check FILE, or FILE --to DIR (an empty or new folder)".into(),
        ));
    };
    let r = backup::restore(file, to)?;
    let about = &r.contents.about;
    println!("已恢复到 {}", to.display());
    println!("{}", counted(&r.contents));
    print!("{}", records(&r.contents));
    println!(
        "备份时：数据目录 {}，报告目录 {}。",
        about.data_dir, about.output_dir
    );
    println!(
        "停止 fayuan 后，把 {} 放回数据目录、{} 中的文件放回流水线文件夹、{} 放回报告目录；或先在此查看：",
        r.tree.data().display(),
        r.tree.pipelines().display(),
        r.tree.output().root().display()
    );
    println!(
        "  fayuan --pipeline {} --data-dir {} --output-dir {} status",
        r.tree.pipelines().join(&about.pipeline).display(),
        r.tree.data().display(),
        r.tree.output().root().display()
    );
    Ok(exit::OK)
}
