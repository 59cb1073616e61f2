//! Issue 21: a year without a person, in simulation — in the manner of FoundationDB's simulation
//! and TigerBeetle's VOPR, at the scale of a reporting daemon. The real `fayuan daemon` runs on a
//! fast clock (`--as-of 2025-01-01 --clock-rate R`) against real servers (aiosmtpd, Dovecot, its
//! own web server, an HTTP source); this driver plays the eight units through the year from a
//! seed — each month each unit sends its figures through one door (mail, upload, the inbox folder,
//! the HTTP source) at a scripted time, some late, one month missing, wrong files then
//! corrections, identical resends, a cumulative figure typed as the month's, a soft check
//! explained later, a bulk sheet from the staff — while injecting faults at seeded times: the
//! mail server down or refusing, the IMAP server restarted and once renumbered, the daemon killed
//! with SIGKILL (and started again, as systemd would), the disk full for an hour, a poison file
//! and a poison mail. At the end the invariants are checked against the driver's own records.
//!
//! `FAYUAN_SIM_SEED` picks the history (CI: a fixed seed), `FAYUAN_SIM_MONTHS` how many months
//! (CI: 3; a whole year: 12), `FAYUAN_SIM_RATE` the clock rate. A failing run prints the seed,
//! the faults injected and the first broken invariant; the same seed replays the same script
//! (the servers are real, so interleavings may differ: the invariants hold for every one).

mod findings;
mod script;
mod world;

use crate::support::imap::{self, PASSWORD};
use crate::support::smtp::{Server, free_port, python_ready};
use crate::support::*;
use chrono::{DateTime, Duration as Span};
use chrono_tz::Tz;
use findings::*;
use script::*;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};
use world::*;

#[test]
fn a_year_without_a_person() {
    if !imap::dovecot_ready() || !python_ready() {
        return;
    }
    let seed = env_num("FAYUAN_SIM_SEED", 20250101);
    let months = env_num("FAYUAN_SIM_MONTHS", 3).clamp(2, 12) as u32;
    let rate = env_num("FAYUAN_SIM_RATE", 60_000) as f64;
    let began = Instant::now();
    let s = imap::setup_with(
        |imap| format!("imaps://127.0.0.1:{}", imap.port),
        "done_folder = \"fayuan-processed\"\nheld_folder = \"fayuan-held\"\npoll_seconds = 3600\n",
    );
    let imap::Setup {
        env,
        imap,
        smtp: unused,
        _dir: dir,
    } = s;
    drop(unused);
    // The web pages and the province's export (the HTTP source) for this run.
    let web_port = free_port();
    let source_dir = env.tmp.path().join("source");
    std::fs::create_dir_all(&source_dir).unwrap();
    let source = Server::start(
        "http",
        free_port(),
        &env.tmp.path().join("source-log"),
        &["--files", source_dir.to_str().unwrap()],
    );
    let mut text = std::fs::read_to_string(&env.pipeline).unwrap();
    text.push_str(&format!(
        "\n[web]\nlisten = \"127.0.0.1:{web_port}\"\n\n[[sources]]\nname = \"province\"\nurl = \"http://127.0.0.1:{}/{{period}}.json\"\nformat = \"json\"\ntimeout_seconds = 10\nmax_bytes = 1000000\nattempts = 1\n",
        source.port
    ));
    std::fs::write(&env.pipeline, text).unwrap();
    // The data folder on a tmpfs, so that the disk can fill for real (root only), seen through
    // the filesystem that forgets, so that the power can be cut (FUSE).
    let power = crate::forgetful::fuse_ready();
    let disk = if power {
        env.tmp.path().join("disk")
    } else {
        env.data()
    };
    std::fs::create_dir_all(&disk).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256m", "tmpfs"])
        .arg(&disk)
        .status()
        .is_ok_and(|st| st.success());
    if !mounted {
        skipped(
            "a_year_without_a_person (the disk-full fault)",
            "root, to mount a tmpfs",
            "run the tests as root, as CI does",
        );
    }
    let plan = script(seed, months, mounted, power);
    let forgetful = power.then(|| {
        crate::forgetful::Forgetful::over(&disk, &env.data(), &env.tmp.path().join("forgetfs.log"))
    });
    let smtp_port = free_port();
    let mut w = World {
        seed,
        months,
        rate,
        start: at(2025, 1, 1, 0, 0),
        t0: Instant::now(),
        smtp_port,
        smtp: None,
        smtp_dir: env.tmp.path().join("smtp"),
        control: env.tmp.path().join("smtp-control"),
        source_dir,
        _source: source,
        web_port,
        daemon: None,
        fault_env: String::new(),
        vars: vec![
            ("FAYUAN_IMAP_PASSWORD".into(), PASSWORD.into()),
            (
                "FAYUAN_IMAP_CA_FILE".into(),
                imap.ca.to_str().unwrap().into(),
            ),
            (
                "FAYUAN_SMTP_URL".into(),
                format!("smtp://127.0.0.1:{smtp_port}"),
            ),
            ("FAYUAN_WEB_TOKEN".into(), TOKEN.into()),
            ("FAYUAN_WEB_SECRET".into(), SECRET.into()),
            // syncfs does not reach a FUSE filesystem: each file and folder is synced instead.
            ("FAYUAN_TEST_KERNEL".into(), "4.19".into()),
        ],
        done: Vec::new(),
        injected: Vec::new(),
        kills: Vec::new(),
        memory: Vec::new(),
        mounted: mounted.then(|| disk.clone()),
        forgetful,
        cuts: 0,
        poison_mail: None,
        env,
        imap,
        _dir: dir,
    };
    // The poison mail, made now: the daemon is told its SHA-256 (a message no code expected).
    let poison = plan.sends.iter().find(|s| s.poison).unwrap();
    let bytes = imap::message(
        &plan.units[6].contact,
        "叶集区补充材料",
        "",
        &[(&imap::rfc2231(&poison.name), &poison.bytes)],
    );
    w.fault_env = format!("panic@mail-poison-{}", &sha(&bytes)[..12]);
    w.poison_mail = Some(bytes);
    w.smtp_up();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    w.t0 = Instant::now();
    w.start_daemon();
    // The timeline: sends, fault starts and ends, memory notes.
    let mut timeline: Vec<(DateTime<Tz>, Action)> = Vec::new();
    for (k, send) in plan.sends.iter().enumerate() {
        timeline.push((send.when, Action::Send(k)));
    }
    for (k, f) in plan.faults.iter().enumerate() {
        timeline.push((f.start(), Action::FaultStart(k)));
        match f {
            Fault::SmtpDown { until, .. }
            | Fault::Smtp4xx { until, .. }
            | Fault::Smtp5xx { until, .. }
            | Fault::DiskFull { until, .. } => timeline.push((*until, Action::FaultEnd(k))),
            _ => {}
        }
    }
    // The daemon's memory every six hours: its peak over the weeks after month 1's report and
    // over those after the last month's are compared (the same work: a month's report).
    let mut t = at(2025, 2, 1, 0, 0);
    while t < plan.end {
        let month = if t < next_month(1, 28, 0) {
            1
        } else if t >= next_month(months, 1, 0) {
            months
        } else {
            0
        };
        if month > 0 {
            timeline.push((t, Action::Memory(month)));
        }
        t += Span::hours(6);
    }
    timeline.sort_by_key(|(t, _)| *t);
    let mut down = 0;
    let mut refusals: Vec<String> = Vec::new();
    let mut tries: HashMap<usize, u32> = HashMap::new();
    let mut gave_up: Vec<String> = Vec::new();
    let mut queue: std::collections::VecDeque<(DateTime<Tz>, Action)> = timeline.into();
    while let Some((t, action)) = queue.pop_front() {
        w.until(t);
        match action {
            Action::Send(k) => {
                let send = plan.sends[k].clone();
                match w.send(&send, &plan.units, &rt) {
                    Some(d) => w.done.push(d),
                    None if tries.get(&k).copied().unwrap_or(0) >= 48 => {
                        // Two days of tries: the door is shut for good (a finding, not a loop).
                        w.log(format!("gave up sending {} after 48 tries", send.name));
                        gave_up.push(send.name.clone());
                    }
                    None => {
                        // The clerk tries again an hour later.
                        *tries.entry(k).or_insert(0) += 1;
                        let again = w.now() + Span::hours(1);
                        let at = queue
                            .iter()
                            .position(|(t, _)| *t > again)
                            .unwrap_or(queue.len());
                        queue.insert(at, (again, Action::Send(k)));
                    }
                }
            }
            Action::FaultStart(k) => {
                let f = plan.faults[k].clone();
                w.log(format!("fault: {f:?}"));
                match f {
                    Fault::SmtpDown { .. } => {
                        down += 1;
                        w.smtp = None;
                    }
                    Fault::Smtp4xx { .. } => refusals.push("4xx".into()),
                    Fault::Smtp5xx { .. } => refusals.push(format!("5xx {COPY}")),
                    Fault::ImapRestart(_) => w.imap.restart(),
                    Fault::ImapRenumber(_) => w.imap.renumber(),
                    Fault::Kill(t) => {
                        w.kill_daemon();
                        w.kills.push(t);
                        w.start_daemon();
                    }
                    Fault::PowerCut(t) => {
                        w.kill_daemon();
                        w.kills.push(t);
                        w.cuts += 1;
                        if let Some(fs) = &w.forgetful {
                            fs.cut_seeded(w.seed.wrapping_mul(1000).wrapping_add(w.cuts));
                        }
                        w.start_daemon();
                    }
                    Fault::DiskFull { .. } => {
                        // Filled beneath the filesystem that forgets, at once.
                        let disk = w.mounted.clone().unwrap();
                        let free = crate::support::outbox::free_bytes(&disk);
                        let _ = std::fs::write(
                            disk.join("filler"),
                            vec![0u8; free.saturating_sub(4096) as usize],
                        );
                    }
                }
                std::fs::write(&w.control, refusals.join("\n")).unwrap();
            }
            Action::FaultEnd(k) => {
                let f = plan.faults[k].clone();
                w.log(format!("fault ends: {f:?}"));
                match f {
                    Fault::SmtpDown { .. } => {
                        down -= 1;
                        if down == 0 {
                            w.smtp_up();
                        }
                    }
                    Fault::Smtp4xx { .. } => refusals.retain(|r| r != "4xx"),
                    Fault::Smtp5xx { .. } => refusals.retain(|r| !r.starts_with("5xx")),
                    Fault::DiskFull { .. } => {
                        let _ = std::fs::remove_file(w.mounted.clone().unwrap().join("filler"));
                    }
                    _ => {}
                }
                std::fs::write(&w.control, refusals.join("\n")).unwrap();
            }
            Action::Memory(m) => {
                if let Some(kb) = w.daemon.as_ref().and_then(|d| rss_kb(d.id())) {
                    w.memory.push((m, kb));
                }
            }
        }
        if let Some(d) = w.daemon.as_mut()
            && d.try_wait().unwrap().is_some()
        {
            // Died by itself: as systemd would, start it again (and say so: it is a finding).
            w.log("the daemon exited by itself; started again".into());
            w.start_daemon();
        }
    }
    // The end: everything calm, the outbox drains.
    w.until(plan.end);
    w.smtp_up();
    std::fs::write(&w.control, "").unwrap();
    let status = |w: &World| {
        let now = fayuan::period::instant_text(&w.now());
        let vars: Vec<(&str, &str)> = w
            .vars
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        w.env.run_env(&["--as-of", &now, "status"], &vars).stdout
    };
    let drained = Instant::now();
    while !status(&w).contains("发件箱：没有待发送的邮件")
        && drained.elapsed() < Duration::from_secs(120)
    {
        std::thread::sleep(Duration::from_millis(500));
    }
    let pid = w.daemon.as_ref().map(|d| d.id()).unwrap();
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let mut d = w.daemon.take().unwrap();
    let stopped = Instant::now();
    while d.try_wait().unwrap().is_none() && stopped.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let ran = began.elapsed();
    let mut report = Findings::check(&w, &plan, &status(&w));
    for name in gave_up {
        report
            .broken
            .insert(0, format!("{name}: its door never took it (48 tries)"));
    }
    eprintln!(
        "simulation: seed {}, {months} months at {rate}× in {:.0} s real; {} files sent ({} of {} never), {} faults, {} messages delivered; daemon memory peaks {:?} kB",
        w.seed,
        ran.as_secs_f64(),
        w.done.len(),
        plan.units[plan.missing.0].name,
        plan.missing.1,
        plan.faults.len(),
        report.delivered,
        w.memory
            .iter()
            .fold(BTreeMap::new(), |mut m: BTreeMap<u32, u64>, (k, kb)| {
                let e = m.entry(*k).or_default();
                *e = (*e).max(*kb);
                m
            })
    );
    if let Some(broken) = report.broken.first() {
        // What a person needs to look into it, kept past the temporary folder.
        let keep = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("sim-{seed}"));
        let _ = std::fs::remove_dir_all(&keep);
        std::fs::create_dir_all(&keep).unwrap();
        let _ = std::fs::copy(w.env.tmp.path().join("daemon.log"), keep.join("daemon.log"));
        let _ = Command::new("cp")
            .arg("-r")
            .arg(w.env.data())
            .arg(keep.join("data"))
            .status();
        let _ = Command::new("cp")
            .arg("-r")
            .arg(&w.smtp_dir)
            .arg(keep.join("smtp"))
            .status();
        panic!(
            "simulation seed {seed} ({months} months; replay: FAYUAN_SIM_SEED={seed} FAYUAN_SIM_MONTHS={months}):\nfirst broken invariant: {broken}\nall broken ({}):\n  {}\nfaults injected:\n  {}\nkept for a look: {}",
            report.broken.len(),
            report.broken.join("\n  "),
            w.injected.join("\n  "),
            keep.display()
        );
    }
}
