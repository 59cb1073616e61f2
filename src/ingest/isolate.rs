//! Opening workbooks in a separate process, so that no county file can take fayuan down.
//!
//! The spreadsheet library trusts what a file declares: a workbook can make it reserve memory
//! for billions of cells (the allocation fails and the process aborts — no panic to catch), or
//! spin for minutes. The fayuan binary therefore starts copies of itself (`fayuan
//! __read-worker`), one per ingest thread, each with its address space capped
//! (`limits.reader_memory_mb`), and hands them workbooks over a pipe. A worker that dies or
//! overruns `limits.read_seconds` is killed; its file is rejected with the reason and the next
//! file gets a fresh worker. CSV and JSON are parsed by fayuan's own bounded code in process.
//!
//! Invariant: [`read`] returns tables or a Chinese [`FileError`] for any bytes, and neither a
//! crash nor a hang of the reader reaches the caller. Without [`enable`] (the library used by
//! tests) workbooks are read in process, with panics caught. Enabled, a workbook is never read in
//! process: when no worker can start ([`workers_ready`] says why), the ingest leaves workbooks in
//! the inbox and the daemon tells the staff (issue 37 §4).

use super::read::{self, Cell, FileError, Format, Layout, Limits, Table};
use chrono::{Datelike, NaiveDate};
use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The argument that makes the fayuan binary a reader worker (see `main.rs`).
pub const WORKER_ARG: &str = "__read-worker";

/// How workers are started: the binary, and the memory each may use.
struct Config {
    exe: PathBuf,
    memory_mb: u64,
}

static CONFIG: OnceLock<Config> = OnceLock::new();

/// Makes [`read`] open workbooks in worker processes started from `exe` (the running fayuan
/// binary). Called once by the binary; later calls change nothing.
pub fn enable(exe: PathBuf, memory_mb: u64) {
    let _ = CONFIG.set(Config { exe, memory_mb });
}

/// Whether a workbook can be read now: this thread's worker is running, or one was started
/// (`Err`: why none can start — the staff are told, the workbooks wait in the inbox). Always
/// `Ok` where workers are not enabled.
pub fn workers_ready() -> Result<(), NoReader> {
    let Some(config) = CONFIG.get() else {
        return Ok(());
    };
    WORKER.with(|w| {
        let mut slot = w.borrow_mut();
        if slot.is_none() {
            *slot = Some(spawn(config).map_err(|e| no_reader(config, e))?);
        }
        Ok(())
    })
}

/// Whether a reader worker can start at all (one is started and let go): asked once per ingest
/// before a batch is begun. Always `Ok` where workers are not enabled.
pub fn workers_can_start() -> Result<(), NoReader> {
    let Some(config) = CONFIG.get() else {
        return Ok(());
    };
    spawn(config).map(drop).map_err(|e| no_reader(config, e))
}

fn no_reader(config: &Config, e: io::Error) -> NoReader {
    NoReader(format!(
        "读取工作簿的进程无法启动（{}：{e}）：工作簿留在收件箱，修复后自动收取",
        config.exe.display()
    ))
}

/// Why no reader worker can start, in Chinese for the staff.
#[derive(Debug, Clone, PartialEq)]
pub struct NoReader(pub String);

/// Whether a file is a workbook (read by a worker where workers are enabled).
pub fn is_workbook(name: &str) -> bool {
    read::format_of(name) == Some(Format::Workbook)
}

/// Reads a file into tables: workbooks in a worker process where enabled, the rest here.
pub fn read(name: &str, bytes: &[u8], limits: &Limits) -> Result<Vec<Table>, FileError> {
    match (CONFIG.get(), read::format_of(name)) {
        (Some(config), Some(Format::Workbook)) => {
            read::precheck(name, bytes.len() as u64, limits)?;
            WORKER.with(|w| via_worker(&mut w.borrow_mut(), config, name, bytes, limits))
        }
        _ => read::read(name, bytes, limits),
    }
}

struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

thread_local! {
    /// One worker per thread that reads (rayon's ingest threads), started on first use.
    static WORKER: RefCell<Option<Worker>> = const { RefCell::new(None) };
}

fn spawn(config: &Config) -> io::Result<Worker> {
    if crate::faults::armed("reader-spawn").is_some() {
        return Err(io::Error::other("fault point reader-spawn"));
    }
    let mut child = Command::new(&config.exe)
        .arg(WORKER_ARG)
        .arg(config.memory_mb.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        let _ = child.kill();
        return Err(io::Error::other("worker pipes missing"));
    };
    Ok(Worker {
        child,
        stdin,
        stdout,
    })
}

fn via_worker(
    slot: &mut Option<Worker>,
    config: &Config,
    name: &str,
    bytes: &[u8],
    limits: &Limits,
) -> Result<Vec<Table>, FileError> {
    if slot.is_none() {
        // The ingest asked `workers_ready` before this file; a worker that died on the file
        // before is started again here. One that cannot start now (the machine out of
        // processes) fails this file, kept in quarantine with the reason — never read here.
        match spawn(config) {
            Ok(w) => *slot = Some(w),
            Err(e) => {
                tracing::error!(file = %name, error = %e, "cannot start a reader worker");
                return Err(FileError(
                    "读取工作簿的进程无法启动，文件未能读取，已暂存；请联系市局数据员".into(),
                ));
            }
        }
    }
    let Some(worker) = slot.as_mut() else {
        return Err(FileError("读取工作簿的进程无法启动".into()));
    };
    // The worker stops itself at read_seconds; the grace covers starting and answering.
    let deadline = Instant::now() + limits.read_time + Duration::from_secs(2);
    match exchange(worker, name, bytes, limits, deadline) {
        Ok(answer) => answer,
        Err(e) => {
            let timed_out = e.kind() == io::ErrorKind::TimedOut;
            let mut dead = slot.take();
            let status = dead.as_mut().and_then(|w| {
                let _ = w.child.kill();
                w.child.wait().ok()
            });
            tracing::warn!(file = %name, error = %e, ?status, "reader worker failed; file rejected");
            Err(FileError(if timed_out {
                format!(
                    "读取超时：超过 {} 秒仍未读完，文件过大或结构异常。请在 Excel/WPS 中打开确认后重新保存并报送",
                    limits.read_time.as_secs()
                )
            } else {
                "文件结构异常，读取时超出内存限制或无法解析，已拒收。请在 Excel/WPS 中打开确认后另存为新的 .xlsx 文件报送".into()
            }))
        }
    }
}

fn exchange(
    w: &mut Worker,
    name: &str,
    bytes: &[u8],
    limits: &Limits,
    deadline: Instant,
) -> io::Result<Result<Vec<Table>, FileError>> {
    let mut req = Vec::with_capacity(64 + name.len());
    put_bytes(&mut req, name.as_bytes());
    for v in [
        limits.max_file_bytes,
        limits.max_unpacked_bytes,
        limits.max_rows as u64,
        limits.max_columns as u64,
        limits.read_time.as_secs(),
    ] {
        req.extend_from_slice(&v.to_le_bytes());
    }
    req.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    w.stdin.write_all(&req)?;
    w.stdin.write_all(bytes)?;
    w.stdin.flush()?;
    let mut len = [0u8; 8];
    read_full(&mut w.stdout, &mut len, deadline)?;
    let len = u64::from_le_bytes(len);
    if len > MAX_ANSWER {
        return Err(io::Error::other("answer too large"));
    }
    let mut body = vec![0u8; len as usize];
    read_full(&mut w.stdout, &mut body, deadline)?;
    decode_answer(&body).ok_or_else(|| io::Error::other("answer not understood"))
}

/// An answer is at most this long (10,000 rows × 200 columns of short text fit many times).
const MAX_ANSWER: u64 = 1 << 30;

/// Fills `buf` from the pipe, waiting at most until `deadline`.
fn read_full(from: &mut ChildStdout, buf: &mut [u8], deadline: Instant) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let mut got = 0;
    while got < buf.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        let mut fd = libc::pollfd {
            fd: from.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let wait = left.as_millis().clamp(1, i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd for the duration of the call.
        let ready = unsafe { libc::poll(&mut fd, 1, wait) };
        if ready < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if ready == 0 {
            return Err(io::ErrorKind::TimedOut.into());
        }
        let n = from.read(&mut buf[got..])?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        got += n;
    }
    Ok(())
}

/// The worker's main loop: caps its own memory, then answers requests until its input closes.
/// Returns the process exit code.
pub fn worker_main(memory_mb: &str) -> i32 {
    let Ok(mb) = memory_mb.parse::<u64>() else {
        return 2;
    };
    let cap = mb.saturating_mul(1 << 20);
    let limit = libc::rlimit {
        rlim_cur: cap,
        rlim_max: cap,
    };
    // SAFETY: setrlimit reads the struct only.
    unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) };
    let mut input = io::stdin().lock();
    let mut output = io::stdout().lock();
    loop {
        let Some((name, limits, bytes)) = read_request(&mut input) else {
            return 0;
        };
        let _ = crate::faults::point("reader", std::path::Path::new(&name));
        let answer = encode_answer(&read::read(&name, &bytes, &limits));
        let sent = output
            .write_all(&(answer.len() as u64).to_le_bytes())
            .and_then(|()| output.write_all(&answer))
            .and_then(|()| output.flush());
        if sent.is_err() {
            return 0;
        }
    }
}

fn read_request(input: &mut impl Read) -> Option<(String, Limits, Vec<u8>)> {
    let mut u32b = [0u8; 4];
    input.read_exact(&mut u32b).ok()?;
    let mut name = vec![0u8; u32::from_le_bytes(u32b).min(1 << 16) as usize];
    input.read_exact(&mut name).ok()?;
    let mut nums = [0u64; 6];
    for n in &mut nums {
        let mut b = [0u8; 8];
        input.read_exact(&mut b).ok()?;
        *n = u64::from_le_bytes(b);
    }
    let limits = Limits {
        max_file_bytes: nums[0],
        max_unpacked_bytes: nums[1],
        max_rows: nums[2] as usize,
        max_columns: nums[3] as usize,
        read_time: Duration::from_secs(nums[4]),
    };
    if nums[5] > limits.max_file_bytes {
        return None;
    }
    let mut bytes = vec![0u8; nums[5] as usize];
    input.read_exact(&mut bytes).ok()?;
    Some((String::from_utf8_lossy(&name).into_owned(), limits, bytes))
}

// The wire format: little-endian lengths, a tag byte per cell. Small, and decoded without trust.

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

fn encode_answer(answer: &Result<Vec<Table>, FileError>) -> Vec<u8> {
    let mut out = Vec::new();
    match answer {
        Err(e) => {
            out.push(1);
            put_bytes(&mut out, e.0.as_bytes());
        }
        Ok(tables) => {
            out.push(0);
            out.extend_from_slice(&(tables.len() as u32).to_le_bytes());
            for t in tables {
                match &t.layout {
                    Layout::Sheet(name) => {
                        out.push(0);
                        put_bytes(&mut out, name.as_bytes());
                    }
                    Layout::Csv => out.push(1),
                    Layout::Json => out.push(2),
                }
                out.extend_from_slice(&t.origin.0.to_le_bytes());
                out.extend_from_slice(&t.origin.1.to_le_bytes());
                out.extend_from_slice(&(t.rows.len() as u32).to_le_bytes());
                for row in &t.rows {
                    out.extend_from_slice(&(row.len() as u32).to_le_bytes());
                    for cell in row {
                        match cell {
                            Cell::Empty => out.push(0),
                            Cell::Text(s) => {
                                out.push(1);
                                put_bytes(&mut out, s.as_bytes());
                            }
                            Cell::Number(n) => {
                                out.push(2);
                                out.extend_from_slice(&n.to_le_bytes());
                            }
                            Cell::Date(d) => {
                                out.push(3);
                                out.extend_from_slice(&d.num_days_from_ce().to_le_bytes());
                            }
                            Cell::Bool(b) => out.extend_from_slice(&[4, u8::from(*b)]),
                            Cell::Error(s) => {
                                out.push(5);
                                put_bytes(&mut out, s.as_bytes());
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

struct Wire<'a>(&'a [u8]);

impl Wire<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn text(&mut self) -> Option<String> {
        let n = self.u32()? as usize;
        Some(String::from_utf8_lossy(self.take(n)?).into_owned())
    }
    /// A count of items that each take at least `min` bytes: no more than what is left.
    fn count(&mut self, min: usize) -> Option<usize> {
        let n = self.u32()? as usize;
        (n.saturating_mul(min) <= self.0.len()).then_some(n)
    }
}

fn decode_answer(body: &[u8]) -> Option<Result<Vec<Table>, FileError>> {
    let mut w = Wire(body);
    if w.u8()? == 1 {
        return Some(Err(FileError(w.text()?)));
    }
    let mut tables = Vec::new();
    for _ in 0..w.count(13)? {
        let layout = match w.u8()? {
            0 => Layout::Sheet(w.text()?),
            1 => Layout::Csv,
            2 => Layout::Json,
            _ => return None,
        };
        let origin = (w.u32()?, w.u32()?);
        let mut rows = Vec::new();
        for _ in 0..w.count(4)? {
            let mut row = Vec::new();
            for _ in 0..w.count(1)? {
                row.push(match w.u8()? {
                    0 => Cell::Empty,
                    1 => Cell::Text(w.text()?),
                    2 => Cell::Number(f64::from_le_bytes(w.take(8)?.try_into().ok()?)),
                    3 => {
                        let days = i32::from_le_bytes(w.take(4)?.try_into().ok()?);
                        Cell::Date(NaiveDate::from_num_days_from_ce_opt(days)?)
                    }
                    4 => Cell::Bool(w.u8()? != 0),
                    5 => Cell::Error(w.text()?),
                    _ => return None,
                });
            }
            rows.push(row);
        }
        tables.push(Table {
            layout,
            rows,
            origin,
        });
    }
    w.0.is_empty().then_some(Ok(tables))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_survive_the_wire() {
        let t = Table {
            layout: Layout::Sheet("月报".into()),
            rows: vec![
                vec![Cell::Text("单位代码".into()), Cell::Empty],
                vec![
                    Cell::Number(341522.0),
                    Cell::Date(NaiveDate::from_ymd_opt(2025, 6, 30).unwrap()),
                    Cell::Bool(true),
                    Cell::Error("#DIV/0!".into()),
                    Cell::Number(f64::NAN),
                ],
            ],
            origin: (2, 1),
        };
        let back = decode_answer(&encode_answer(&Ok(vec![t.clone()])))
            .unwrap()
            .unwrap();
        assert_eq!(back[0].layout, t.layout);
        assert_eq!(back[0].origin, (2, 1));
        assert_eq!(back[0].rows[0], t.rows[0]);
        assert_eq!(back[0].rows[1][..4], t.rows[1][..4]);
        assert!(matches!(back[0].rows[1][4], Cell::Number(n) if n.is_nan()));
        if let Cell::Date(d) = back[0].rows[1][1] {
            assert_eq!(d.month(), 6);
        }
        let err = decode_answer(&encode_answer(&Err(FileError("坏".into()))));
        assert_eq!(err, Some(Err(FileError("坏".into()))));
    }

    #[test]
    fn a_garbled_answer_is_refused_not_trusted() {
        let good = encode_answer(&Ok(vec![Table {
            layout: Layout::Csv,
            rows: vec![vec![Cell::Text("x".into())]],
            origin: (0, 0),
        }]));
        for cut in 0..good.len() {
            assert!(decode_answer(&good[..cut]).is_none(), "cut at {cut}");
        }
        // A row count of four billion in a short answer.
        assert!(
            decode_answer(&[0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255])
                .is_none()
        );
    }
}
