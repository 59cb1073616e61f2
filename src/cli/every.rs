//! The commands that, without `--pipeline`, take every pipeline of `pipelines/` when there are
//! several (a new year's two): `daemon` (one process), `check`, `health` and `backup` (each in
//! turn).

use super::{Args, Command, context_for, health, isolate_readers, keep, preflight};
use crate::config;
use crate::error::{Error, Result, exit};
use std::path::{Path, PathBuf};

/// `fayuan daemon`, `check`, `health` and `backup` without --pipeline: every pipeline in
/// pipelines/ (when there are several; `None`: one or none, the usual way).
pub(super) fn every_pipeline(args: &Args) -> Result<Option<i32>> {
    let all = matches!(
        args.command,
        Command::Daemon | Command::Check | Command::Health | Command::Backup { .. }
    );
    if !all || args.pipeline.is_some() {
        return Ok(None);
    }
    let files = config::pipeline_files(Path::new("pipelines")).unwrap_or_default();
    if files.len() < 2 {
        return Ok(None);
    }
    if args.data_dir.is_some() {
        return Err(Error::Usage(format!(
            "--data-dir with {} pipelines: each keeps its own data folder (folders.data_dir); run one with --pipeline FILE --data-dir DIR",
            files.len()
        )));
    }
    if !matches!(args.command, Command::Daemon) {
        return each_pipeline(args, &files).map(Some);
    }
    let ctxs = files
        .iter()
        .map(|f| context_for(args, f))
        .collect::<Result<Vec<_>>>()?;
    for c in ctxs.iter().filter(|c| c.pipeline.web_configured) {
        preflight::web_ready(&c.pipeline)?;
    }
    isolate_readers(&ctxs);
    super::service_manager();
    crate::daemon::daemon_all(ctxs).map(Some)
}

/// `check`, `health` or `backup` of every pipeline in turn, each one's problems listed even when another's
/// definition does not load; the worst exit code.
fn each_pipeline(args: &Args, files: &[PathBuf]) -> Result<i32> {
    let mut code = exit::OK;
    for f in files {
        let done = context_for(args, f).and_then(|ctx| match args.command {
            Command::Health => {
                println!("{}：", ctx.pipeline.file.display());
                health(&ctx)
            }
            Command::Backup { ref to } => keep::backup(&ctx, to),
            _ => preflight::check(&ctx),
        });
        code = code.max(match done {
            Ok(c) => c,
            Err(e) => {
                eprintln!("fayuan: {e}");
                e.exit_code()
            }
        });
    }
    Ok(code)
}
