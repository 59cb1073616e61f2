//! The command line of SPEC §8. Parsed arguments are turned into a [`Context`] here; clap
//! types go no further.

use crate::app::Context;
use crate::config::{self, Pipeline};
use crate::error::{Error, Result, exit};
use crate::ingest::{self, validate};
use crate::layout::DataDir;
use crate::period::Clock;
use crate::period::{self, Period};
use crate::store::Outcome;
use crate::{notify, sample, status};
use clap::{Parser, Subcommand};

pub mod credentials;
mod every;
mod keep;
mod preflight;
mod supervise;
use std::path::{Path, PathBuf};

#[derive(Debug, Parser)]
#[command(
    name = "fayuan",
    version,
    about = "Monthly legal aid livelihood-project reporting: ingest county submissions, check, analyse, report.",
    after_help = "Exit codes: 0 success, 1 the run failed, 2 bad usage or configuration, 3 validation found errors."
)]
pub struct Args {
    /// Pipeline definition (default: the one *.toml in pipelines/).
    #[arg(long, global = true, env = "FAYUAN_PIPELINE")]
    pub pipeline: Option<PathBuf>,
    /// Where inbox/, archive/, quarantine/, the store and the outbox live (default: from the pipeline).
    #[arg(long, global = true, env = "FAYUAN_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Where reports are written.
    #[arg(
        long,
        global = true,
        env = "FAYUAN_OUTPUT_DIR",
        default_value = "output"
    )]
    pub output_dir: PathBuf,
    /// Treat this moment (Beijing time) as now, e.g. "2025-07-06 09:00". The daemon's and the
    /// web server's clock runs on from it.
    #[arg(long, global = true, env = "FAYUAN_AS_OF")]
    pub as_of: Option<String>,
    /// With `daemon` or `serve` and --as-of: run that clock this many times as fast as real time
    /// (3600 = an hour a second), to rehearse a year on a copy of the data.
    #[arg(long, global = true, env = "FAYUAN_CLOCK_RATE")]
    pub clock_rate: Option<f64>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Ingest what is waiting, build the period's report in output/<pipeline>/<P>/, send the digest.
    Run {
        /// The month to report, e.g. 2025-06.
        #[arg(long)]
        period: Period,
        /// Build the report without sending the digest.
        #[arg(long)]
        no_email: bool,
        /// Make and send a new digest even if this period was sent before.
        #[arg(long)]
        force: bool,
        /// Files or folders to copy into the inbox first (as with `ingest`).
        paths: Vec<PathBuf>,
    },
    /// The year's review (考核验收): output/<pipeline>/review-<Y>/ with the workbook, review.csv
    /// and memo.txt, from what the store holds now (a December report makes it too).
    Review {
        /// The pipeline's year, e.g. 2025.
        #[arg(long)]
        year: i32,
    },
    /// Deliver everything waiting in the outbox now (digests, receipts, reminders, notices),
    /// without waiting out back-offs; exit 1 while the period's digest (or, without --period,
    /// anything) is still undelivered.
    Send {
        #[arg(long)]
        period: Option<Period>,
    },
    /// Take new submissions from the inbox now. Files or folders given are first copied into
    /// the inbox (the originals are left as they are).
    Ingest {
        paths: Vec<PathBuf>,
        /// 补录: the files given were sent by the county at this time (Beijing), e.g.
        /// "2025-07-03 10:00" — a backlog typed in by the data staff. Their lateness is judged
        /// by it, and they are marked 补录 in status and the workbook.
        #[arg(long, requires = "paths")]
        received: Option<String>,
    },
    /// Check files against the submission format without taking them in (exit 3 on errors).
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Whether fayuan is well (for cron, Zabbix, a container's HEALTHCHECK): one line per
    /// problem; exit 0 well, 1 a warning, 2 something critical.
    Health,
    /// Who has reported for a month, when, and which version is in force.
    Status {
        /// The month, e.g. 2025-06 (default: the month before now).
        #[arg(long)]
        period: Option<Period>,
    },
    /// Write each unit's fill-in template for a month: <单位>_<P>_月报表.xlsx (data validation,
    /// live checks, a 说明 cell, a 执行情况 sheet; protected so only input cells change).
    Template {
        /// The month, e.g. 2025-07.
        #[arg(long)]
        period: Period,
        /// Only these units (codes, e.g. 341522); default: every unit.
        #[arg(long = "unit")]
        units: Vec<String>,
        /// Folder to write into (default: output/<pipeline>/templates/<P>/).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Run the schedules: ingest, reminders, the monthly report (SIGTERM/Ctrl-C to stop).
    Daemon,
    /// Return a unit's month for correction (退回) with --reason; its contacts get a notice with
    /// the month's template; --cancel withdraws an open return. --by: who (the staff's name).
    Return {
        #[arg(long)]
        unit: String,
        #[arg(long)]
        period: Period,
        #[arg(long, default_value = "")]
        reason: String,
        #[arg(long, default_value = "数据员")]
        by: String,
        #[arg(long)]
        cancel: bool,
    },
    /// Confirm (确认) a unit's month: its figures are locked; a later version waits (待确认的更正)
    /// until the month is confirmed again. --by: who.
    Confirm {
        #[arg(long)]
        unit: String,
        #[arg(long)]
        period: Period,
        #[arg(long, default_value = "数据员")]
        by: String,
    },
    /// Supervision items (督办事项): open one on --unit with --text and --due (2025-08-15),
    /// --close N, or list the open ones; --by: who.
    Supervise {
        #[arg(long)]
        unit: Option<String>,
        #[arg(long)]
        text: Option<String>,
        #[arg(long)]
        due: Option<String>,
        #[arg(long)]
        close: Option<u32>,
        #[arg(long, default_value = "数据员")]
        by: String,
    },
    /// The record (工作台账) of files taken and messages sent, for --year (default: the
    /// pipeline's), one --unit or all, --since a day (2025-07-01); --verify: no line changed or
    /// deleted (else exit 1).
    Audit {
        #[arg(long)]
        year: Option<i32>,
        #[arg(long)]
        unit: Option<String>,
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        verify: bool,
    },
    /// Serve the web pages only (the daemon serves them too): the bureau's status page and each
    /// unit's page at its secret link (`[web]` in the pipeline; SIGTERM/Ctrl-C to stop).
    Serve,
    /// Print each unit's page link (derived from FAYUAN_WEB_SECRET).
    Links {
        /// The links of the units' 负责人 for signing off their months (`[web] county_signoff`).
        #[arg(long)]
        signoff: bool,
    },
    /// Check the pipeline definition and list every problem.
    Check,
    /// Back up the data folder, the pipeline's folder and its reports into one .tar in --to DIR
    /// (with SHA256SUMS), read back and checked before it says done; ingest, reports and
    /// deliveries wait meanwhile.
    Backup {
        #[arg(long)]
        to: PathBuf,
    },
    /// Restore a backup: --check FILE restores into a scratch folder and shows its status and
    /// record check; FILE --to DIR restores into an empty (or new) folder.
    Restore {
        file: PathBuf,
        #[arg(long, conflicts_with = "to")]
        check: bool,
        #[arg(long, required_unless_present = "check")]
        to: Option<PathBuf>,
    },
    /// Write sample submissions for the pipeline's units (mixed formats, as counties send them).
    Sample {
        /// Folder to write into (created if missing; existing files are never overwritten).
        #[arg(long)]
        out: PathBuf,
        /// Months 1..=M of the pipeline's year.
        #[arg(long, default_value_t = 3)]
        months: u32,
        #[arg(long, default_value_t = 2025)]
        seed: u64,
        /// Make a synthetic pipeline of this many units (DIR/pipeline.toml, DIR/inbox/) instead
        /// of samples for the current pipeline's units.
        #[arg(long)]
        units: Option<usize>,
    },
}

pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FAYUAN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

fn context(args: &Args) -> Result<Context> {
    let path = match &args.pipeline {
        Some(p) => p.clone(),
        None => config::default_pipeline_path(std::path::Path::new("pipelines"))?,
    };
    context_for(args, &path)
}

/// The context of one pipeline file with the global options.
fn context_for(args: &Args, path: &Path) -> Result<Context> {
    let pipeline = Pipeline::load(path)?;
    for w in &pipeline.warnings {
        tracing::warn!("{w}");
    }
    let as_of = as_of(args)?;
    let runs_on = matches!(args.command, Command::Daemon | Command::Serve);
    if let Some(rate) = args.clock_rate {
        if !runs_on {
            return Err(Error::Usage(
                "--clock-rate: only `fayuan daemon` and `fayuan serve` run on a clock; a command keeps the moment it started (or --as-of)".into(),
            ));
        }
        if as_of.is_none() {
            return Err(Error::Usage(
                "--clock-rate needs --as-of: a clock that runs faster than real time must start at a chosen moment (e.g. --as-of \"2025-01-01 00:00\")".into(),
            ));
        }
        if !(rate.is_finite() && rate > 0.0 && rate <= 1_000_000.0) {
            return Err(Error::Usage(format!(
                "--clock-rate {rate}: expected a number more than 0 and at most 1000000 (simulated seconds per real second)"
            )));
        }
    }
    // A command keeps the moment it started (or --as-of) as "now" throughout; the daemon and
    // the web server run on from it.
    let clock = match (runs_on, as_of) {
        (true, Some(t)) => Clock::scaled_from(t, args.clock_rate.unwrap_or(1.0)),
        (true, None) => Clock::system(),
        (false, Some(t)) => Clock::Fixed(t),
        (false, None) => Clock::Fixed(Clock::system().now()),
    };
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| pipeline.data_dir.clone());
    let data_dir = DataDir::new(data_dir);
    crate::app::open_data_format(&data_dir)?;
    Ok(Context {
        data_dir,
        output_dir: crate::layout::OutputDir::new(args.output_dir.clone()),
        pipeline,
        clock,
        as_of_given: args.as_of.is_some(),
    })
}

/// `--as-of`, read.
fn as_of(args: &Args) -> Result<Option<chrono::DateTime<chrono_tz::Tz>>> {
    let Some(t) = &args.as_of else {
        return Ok(None);
    };
    let at = period::parse_instant(t).ok_or_else(|| {
        Error::Usage(format!(
            "--as-of {t:?}: expected a time such as \"2025-07-06 09:00\" (Beijing time)"
        ))
    })?;
    Ok(Some(at))
}

/// Runs a command; returns the exit code.
pub fn run(args: Args) -> Result<i32> {
    if let Some(code) = every::every_pipeline(&args)? {
        return Ok(code);
    }
    // A restore needs no pipeline of this machine: the backup carries its own.
    if let Command::Restore { file, check, to } = &args.command {
        return keep::restore(file, *check, to.as_deref(), as_of(&args)?);
    }
    let ctx = context(&args)?;
    isolate_readers(std::slice::from_ref(&ctx));
    match args.command {
        Command::Check => preflight::check(&ctx),
        Command::Backup { to } => keep::backup(&ctx, &to),
        Command::Restore { .. } => Err(Error::Internal("restore is run without a pipeline".into())),
        Command::Validate { files } => validate_files(&ctx, &files),
        Command::Ingest { paths, received } => {
            let received = match received {
                Some(t) => Some(ctx.received(&t)?),
                None => None,
            };
            let _lock = write_lock(&ctx, "ingest")?;
            let summary = take_in(&ctx, &paths, received)?;
            let refused = summary.count(Outcome::Rejected) + summary.count(Outcome::Partial);
            Ok(if !summary.waiting_for_reader().is_empty() {
                exit::FAILED
            } else if refused > 0 {
                exit::INVALID
            } else {
                exit::OK
            })
        }
        Command::Run {
            period,
            no_email,
            force,
            paths,
        } => run_period(&ctx, period, no_email, force, &paths),
        Command::Review { year } => {
            let _lock = write_lock(&ctx, "review")?;
            let (dir, memo) = crate::run::build_review(&ctx, year)?;
            print!("{memo}");
            println!("考核验收已生成：{}", dir.display());
            Ok(exit::OK)
        }
        Command::Send { period } => {
            let _lock = write_lock(&ctx, "send")?;
            send(&ctx, period)
        }
        Command::Template { period, units, out } => {
            write_templates(&ctx, period, &units, out.as_deref())
        }
        Command::Daemon => {
            if ctx.pipeline.web_configured {
                preflight::web_ready(&ctx.pipeline)?;
            }
            service_manager();
            crate::daemon::daemon_all(vec![ctx])
        }
        Command::Serve => {
            preflight::web_ready(&ctx.pipeline)?;
            serve(ctx)
        }
        Command::Audit {
            year,
            unit,
            since,
            verify,
        } => supervise::audit(&ctx, year, unit.as_deref(), since.as_deref(), verify),
        Command::Supervise { .. } => supervise::supervise(&ctx, args.command),
        Command::Return { .. } => supervise::return_month(&ctx, args.command),
        Command::Confirm { unit, period, by } => supervise::confirm(&ctx, &unit, period, &by),
        Command::Links { signoff } => links(&ctx, signoff),
        Command::Status { period } => show_status(&ctx, period),
        Command::Health => health(&ctx),
        Command::Sample {
            out,
            months,
            seed,
            units,
        } => {
            println!(
                "{}",
                sample::write(&ctx.pipeline, &out, months, seed, units)?
            );
            Ok(exit::OK)
        }
    }
}

/// Workbooks are opened by copies of this binary, so that none can take this process down (with
/// the largest memory limit of the pipelines run).
fn isolate_readers(ctxs: &[Context]) {
    let mb = ctxs
        .iter()
        .map(|c| c.pipeline.def.limits.reader_memory_mb)
        .max();
    // The running binary itself (not its path: after a package upgrade replaced the file, this
    // process's workers are still this version). Where /proc is not, the path it was started as.
    let exe = Path::new("/proc/self/exe");
    let exe = if exe.exists() {
        Some(exe.to_path_buf())
    } else {
        std::env::current_exe().ok()
    };
    if let (Some(exe), Some(mb)) = (exe, mb) {
        ingest::isolate::enable(exe, mb);
    }
}

/// `fayuan validate FILE…`: the checks, nothing taken in; exit 3 on any problem.
fn validate_files(ctx: &Context, files: &[PathBuf]) -> Result<i32> {
    let limits = ingest::read::Limits::of(&ctx.pipeline.def.limits);
    let mut bad = 0;
    for path in files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        // Size and format first: a 200 MB file is refused without being read.
        let bytes = std::fs::metadata(path).and_then(|md| {
            match ingest::read::precheck(&name, md.len(), &limits) {
                Ok(_) => std::fs::read(path).map(Ok),
                Err(e) => Ok(Err(e)),
            }
        });
        let checked = match bytes {
            Ok(Ok(bytes)) => validate::check(&name, &bytes, &ctx.pipeline),
            Ok(Err(why)) => validate::Checked::unreadable(why.0),
            Err(e) => {
                println!("✗ {}：无法读取文件（{e}）", path.display());
                bad += 1;
                continue;
            }
        };
        if checked.problems.is_empty() {
            println!("✓ {name}：通过，{} 行数据", checked.rows.len());
            continue;
        }
        bad += 1;
        println!("✗ {name}：发现 {} 个问题", checked.problem_count);
        for line in ingest::problem_lines(&name, &checked) {
            println!("  {line}");
        }
        if checked.unlisted() > 0 {
            println!("  ……另有 {} 个问题未列出", checked.unlisted());
        }
    }
    Ok(if bad > 0 { exit::INVALID } else { exit::OK })
}

/// Copies the files given into the inbox, polls the sources, takes everything in, and says so.
fn take_in(
    ctx: &Context,
    paths: &[PathBuf],
    received: Option<period::Moment>,
) -> Result<ingest::Summary> {
    copy_in(ctx, paths, received)?;
    let summary = ingest_now(ctx)?;
    print_ingest(&summary);
    Ok(summary)
}

/// `fayuan run --period P`: take in, build the report, queue and send the digest, webhooks.
fn run_period(
    ctx: &Context,
    period: Period,
    no_email: bool,
    force: bool,
    paths: &[PathBuf],
) -> Result<i32> {
    // A month outside the pipeline's year would be judged against a year with no data
    // ("完成0.00%"): refused, as `review --year` is.
    if period.year() != ctx.pipeline.year() {
        return Err(crate::error::Error::Usage(format!(
            "--period {period}：流水线 {} 是{}年度的，只能生成{}年各月的报告（{}年请用该年度的流水线）",
            ctx.pipeline.name(),
            ctx.pipeline.year(),
            ctx.pipeline.year(),
            period.year()
        )));
    }
    let _lock = write_lock(ctx, "run")?;
    let summary = take_in(ctx, paths, None)?;
    // A report without the workbooks that wait for a reader would say they were not sent.
    summary.ready_for_report()?;
    let built = crate::run::build_report(ctx, period)?;
    println!("{}", built.subject);
    println!("报告已生成：{}", built.dir.display());
    if let Some(review) = &built.review {
        println!("年度考核验收已生成：{}", review.display());
    }
    if no_email {
        println!("未发送摘要邮件（--no-email）。");
        return Ok(exit::OK);
    }
    match notify::queue(
        &ctx.data_dir,
        &ctx.pipeline,
        period,
        &built.dir,
        ctx.now(),
        force,
    )? {
        Some(id) => println!("摘要邮件 {id} 已放入发件箱。"),
        None => println!(
            "{} 的摘要邮件此前已生成（重发请加 --force）；只补发未送达的收件人。",
            period.zh()
        ),
    }
    let p = &ctx.pipeline;
    let url = |code: &str| crate::web::secret(p).map(|s| crate::web::unit_url(p, &s, code));
    let fed = crate::run::queue_feedback(ctx, period, &built.dir, &url)?;
    if fed > 0 {
        println!("本单位情况邮件 {fed} 封已放入发件箱。");
    }
    let code = send(ctx, Some(period))?;
    for (kind, posted) in crate::app::runtime()?.block_on(crate::run::webhooks(ctx, &built)) {
        match posted {
            Ok(()) => println!("✓ 已推送严重预警到{kind}群机器人。"),
            Err(why) => println!("✗ {kind}群机器人推送失败：{why}（不影响邮件）"),
        }
    }
    Ok(code)
}

/// `fayuan status`: who has reported, the daemon, the sources, what waits in the inbox.
fn show_status(ctx: &Context, period: Option<Period>) -> Result<i32> {
    let period = period.unwrap_or_else(|| Period::of(ctx.now().date_naive()).prev());
    print!(
        "{}",
        status::render(
            &ctx.pipeline,
            &ctx.data_dir,
            &ctx.output_dir,
            period,
            &ctx.now()
        )?
    );
    for line in crate::daemon::status_lines(ctx) {
        println!("{line}");
    }
    for l in ingest::left_in_inbox(&ctx.data_dir)? {
        println!("收件箱中未收取：{}——{}", l.name, l.reason);
    }
    Ok(exit::OK)
}

/// `fayuan health`: one line per problem (its detail beneath), or 正常; exit 0, 1 or 2.
fn health(ctx: &Context) -> Result<i32> {
    let problems = crate::health::check(ctx);
    print!("{}", crate::health::report(&problems));
    Ok(crate::health::exit_code(&problems))
}

/// `fayuan serve`: the web pages alone, until SIGTERM or Ctrl-C.
fn serve(ctx: Context) -> Result<i32> {
    eprintln!(
        "fayuan: 网页服务 http://{}/（单位页面链接用 fayuan links 查看；Ctrl-C 停止）",
        ctx.pipeline.def.web.listen
    );
    crate::daemon::serve_alone(ctx)
}

/// `fayuan links`: `<code> <name> <url of the unit's page>` per unit (SPEC §10).
fn links(ctx: &Context, signoff: bool) -> Result<i32> {
    print!("{}", crate::web::links(&ctx.pipeline, signoff)?);
    Ok(exit::OK)
}

/// `fayuan template`: each unit's fill-in template for the month.
fn write_templates(
    ctx: &Context,
    period: Period,
    codes: &[String],
    out: Option<&std::path::Path>,
) -> Result<i32> {
    let p = &ctx.pipeline;
    if period.year() != p.year() {
        return Err(Error::Usage(format!(
            "--period {period}: the pipeline's year is {}",
            p.year()
        )));
    }
    let unknown: Vec<&String> = codes.iter().filter(|c| p.unit(c).is_none()).collect();
    if !unknown.is_empty() {
        return Err(Error::Usage(format!(
            "--unit {unknown:?}: not a unit of this pipeline (known: {})",
            p.units
                .iter()
                .map(|u| u.code.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let dir = out
        .map(PathBuf::from)
        .unwrap_or_else(|| ctx.output_dir.templates(p.name(), period));
    for unit in p
        .units
        .iter()
        .filter(|u| codes.is_empty() || codes.contains(&u.code))
    {
        let bytes = crate::report::template::render(p, unit, period)?;
        let path = dir.join(crate::report::template::file_name(unit, period));
        crate::fsutil::replace_unsynced(&path, &bytes)?;
        println!("{}", path.display());
    }
    Ok(exit::OK)
}

/// A progress bar on a terminal (files, rate, ETA); nothing when output is piped, under CI or in
/// the daemon, where the summary line in the log says it all.
struct Bar(indicatif::ProgressBar);

impl ingest::Progress for Bar {
    fn start(&self, total: usize) {
        self.0.set_length(total as u64);
    }
    fn advance(&self, files: usize) {
        self.0.inc(files as u64);
    }
}

fn progress_bar() -> Option<Bar> {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() || std::env::var_os("CI").is_some() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} 收取 {pos}/{len} 个文件 [{bar:30}] {per_sec}，剩余约 {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Some(Bar(bar))
}

/// Ingest with a progress bar where a person is watching.
fn ingest_now(ctx: &Context) -> Result<ingest::Summary> {
    let bar = progress_bar();
    let summary = ingest::ingest_with(
        &ctx.pipeline,
        &ctx.data_dir,
        ctx.now(),
        bar.as_ref().map(|b| b as &dyn ingest::Progress),
    );
    if let Some(b) = bar {
        b.0.finish_and_clear();
    }
    summary
}

fn write_lock(ctx: &Context, what: &str) -> Result<crate::lock::WriteLock> {
    let wait = std::time::Duration::from_secs(ctx.pipeline.def.schedule.lock_wait_seconds);
    crate::lock::acquire(&ctx.data_dir, wait, what)
}

/// Delivers everything waiting in the outbox, now; exit 1 while the period's digest (without a
/// period: any message) has a recipient it has not reached.
fn send(ctx: &Context, period: Option<Period>) -> Result<i32> {
    let settings = notify::Settings::resolve(&ctx.pipeline, ctx.clock)?;
    let d = crate::app::runtime()?.block_on(notify::deliver_due(
        &ctx.data_dir,
        &ctx.pipeline,
        &settings,
        notify::Round {
            respect_backoff: false,
            retry: settings.retry,
        },
    ))?;
    let events = notify::ledger(&ctx.data_dir, &ctx.pipeline).read()?;
    let all = notify::messages(&events);
    let what = |id: &str| {
        all.iter()
            .find(|m| m.id == id)
            .map(|m| m.kind.zh())
            .unwrap_or("邮件")
    };
    for (id, r) in &d.sent {
        println!("✓ 已发送：{}（{id}）→ {r}", what(id));
    }
    for (id, r) in &d.small {
        println!(
            "  {}（{id}）→ {r}：附件过大被拒收，已改为不带工作簿发送",
            what(id)
        );
    }
    if !d.to_outbox.is_empty() {
        println!(
            "未配置 SMTP 服务器：{} 封（收件人）已写入发件箱（.eml）。",
            d.to_outbox.len()
        );
    }
    for (id, r, why) in &d.failed {
        println!(
            "✗ 未能发送：{}（{id}）→ {r}（{why}）——邮件留在发件箱，可用 fayuan send 重发",
            what(id)
        );
    }
    for (id, r, why) in &d.gave_up {
        println!(
            "✗ 已停止重试：{}（{id}）→ {r}：{why}（已通知数据人员）",
            what(id)
        );
    }
    if !d.tried() {
        println!("没有待发送的邮件。");
    }
    let undelivered = all.iter().any(|m| {
        let wanted = match period {
            Some(p) => m.kind == notify::MessageKind::Digest && m.period == p.to_string(),
            None => true,
        };
        wanted && m.recipients.iter().any(|r| !r.done)
    });
    Ok(if undelivered { exit::FAILED } else { exit::OK })
}

/// Copies the files given into the inbox and polls the HTTP sources, as the daemon's ingest
/// job does.
fn copy_in(ctx: &Context, paths: &[PathBuf], received: Option<period::Moment>) -> Result<()> {
    let copied = ingest::copy_into_inbox(&ctx.data_dir, paths, received)?;
    if !copied.is_empty() {
        println!("已将 {} 个文件复制到收件箱。", copied.len());
    }
    if !ctx.pipeline.def.mailboxes.is_empty() {
        let settings = notify::Settings::resolve(&ctx.pipeline, ctx.clock)?;
        let rt = crate::app::runtime()?;
        for m in &ctx.pipeline.def.mailboxes {
            match rt.block_on(crate::mailin::fetch_once(
                &ctx.pipeline,
                &ctx.data_dir,
                m,
                &settings,
                ctx.now(),
                // `fayuan ingest` holds the write lock for the whole command.
                None,
            )) {
                Ok(f) => println!(
                    "邮箱 {}：新邮件 {} 封，回执 {} 封，转人工 {} 封，收取附件 {} 个。",
                    m.name, f.messages, f.receipts, f.held, f.files
                ),
                Err(e) => println!("邮箱 {}：获取失败（{e}）", m.name),
            }
        }
    }
    if !ctx.pipeline.def.sources.is_empty() {
        let period = Period::of(ctx.now().date_naive()).prev();
        for (name, s) in crate::app::runtime()?.block_on(crate::sources::poll(
            &ctx.pipeline,
            &ctx.data_dir,
            period,
            ctx.now(),
        ))? {
            let zh = s.result.zh();
            println!(
                "数据源 {name}：{zh}{}",
                if s.detail.is_empty() {
                    String::new()
                } else {
                    format!("（{}）", s.detail)
                }
            );
        }
    }
    Ok(())
}

fn print_ingest(summary: &crate::ingest::Summary) {
    print!("{}", summary.describe());
}

/// The service manager's variables (`NOTIFY_SOCKET`, `WATCHDOG_USEC`, `WATCHDOG_PID`), read here
/// and given to the notify protocol before the daemon starts.
fn service_manager() {
    crate::service::init(
        std::env::var("NOTIFY_SOCKET").ok(),
        std::env::var("WATCHDOG_USEC").ok(),
        std::env::var("WATCHDOG_PID").ok(),
    );
}
