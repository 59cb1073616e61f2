//! The pipeline definition: the shipped one, and broken ones listing every problem at once.

use crate::support::*;

#[test]
fn shipped_pipeline_holds_the_plan() {
    let p = luan();
    let codes: Vec<&str> = p.units.iter().map(|u| u.code.as_str()).collect();
    // The plan's order: 霍邱县, 金寨县, 霍山县, 舒城县, 金安区, 裕安区, 叶集区, 市本级.
    assert_eq!(
        codes,
        [
            "341522", "341524", "341525", "341523", "341502", "341503", "341504", "341500"
        ]
    );
    let targets: Vec<i64> = p.units.iter().map(|u| u.target).collect();
    assert_eq!(targets, [1300, 780, 430, 980, 900, 1004, 260, 410]);
    assert_eq!(targets.iter().sum::<i64>(), 6064);
    // Budgets not given are target × 700 元 and marked derived.
    let huoqiu = p.unit("341522").unwrap();
    assert!(huoqiu.budget_derived);
    assert_eq!(huoqiu.budget, 1300.0 * 700.0);
    assert_eq!(huoqiu.population, Some(944_985));
    // SPEC v2 §1: every county has its 2020 census population; 市本级 has none by design, and
    // the seven add up to the city's published 4,393,699. No start-up warning.
    assert_eq!(p.unit("341525").unwrap().population, Some(286_197));
    assert_eq!(p.unit("341503").unwrap().population, Some(923_301));
    let city: i64 = p.units.iter().filter_map(|u| u.population).sum();
    assert_eq!(city, 4_393_699);
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    assert!(p.unit("341500").unwrap().whole_city);
}

/// The pipeline file with 霍山县's population (and its source) taken out.
pub fn without_huoshan_population() -> String {
    let text = std::fs::read_to_string(luan_pipeline_path()).unwrap();
    let cut = "target = 430\npopulation = 286197\npopulation_source = \"第七次全国人口普查（2020年）常住人口\"\n";
    assert!(text.contains(cut), "the shipped pipeline changed");
    text.replace(cut, "target = 430\n")
}

#[test]
fn a_unit_without_population_is_warned_about() {
    let (_dir, path) = broken(&without_huoshan_population());
    let p = fayuan::config::Pipeline::load(&path).unwrap();
    assert_eq!(p.unit("341525").unwrap().population, None);
    assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
    assert!(p.warnings[0].contains("霍山县"), "{:?}", p.warnings);
}

fn broken(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    std::fs::write(&path, text).unwrap();
    calendar_beside(dir.path());
    (dir, path)
}

/// `fayuan check` on a definition refuses it (exit 2) and names every one of `wants`.
fn check_refuses(path: &std::path::Path, wants: &[&str]) {
    let r = Env::with_pipeline(path).run(&["check"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    for want in wants {
        assert!(
            r.stderr.contains(want),
            "expected {want:?} in\n{}",
            r.stderr
        );
    }
}

#[test]
fn every_problem_of_a_definition_is_listed_at_once() {
    let text = std::fs::read_to_string(luan_pipeline_path())
        .unwrap()
        .replace("code = \"341524\"", "code = \"341522\"") // a code twice
        .replace("target = 430", "target = 0") // a target of zero
        .replace("deadline_day = 5", "deadline_day = 31")
        .replace("case_share_min = 0.70", "case_share_min = 70");
    let (_dir, path) = broken(&text);
    check_refuses(
        &path,
        &[
            "listed twice",
            "target must be more than 0",
            "deadline_day 31",
            "case_share_min 70",
            "total_target is 6064 but the units' targets add up to 5634",
        ],
    );
}

#[test]
fn every_threshold_is_checked_and_the_area_word_too() {
    let text = std::fs::read_to_string(luan_pipeline_path())
        .unwrap()
        .replace("spike_mad_floor = 1.0", "spike_mad_floor = -1.0")
        .replace("spike_zero_median = 5.0", "spike_zero_median = nan")
        .replace("per_case_standard = 700.0", "per_case_standard = inf")
        .replace(
            "office = \"六安市司法局\"",
            "office = \"六安市司法局\"\narea = \"\"",
        );
    let (_dir, path) = broken(&text);
    check_refuses(
        &path,
        &[
            "alerts.spike_mad_floor -1",
            "spike_zero_median ≤ 10000",
            "funding.per_case_standard inf",
            "pipeline.area \"\"",
        ],
    );
}

#[test]
fn unknown_keys_are_rejected() {
    let text = std::fs::read_to_string(luan_pipeline_path())
        .unwrap()
        .replace("target = 1300", "target = 1300\ntargte = 1");
    let (_dir, path) = broken(&text);
    let r = Env::with_pipeline(&path).run(&["ingest"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("targte"), "{}", r.stderr);
}

#[test]
fn a_population_needs_its_source() {
    let text = without_huoshan_population()
        .replace("target = 430\n", "target = 430\npopulation = 300000\n");
    let (_dir, path) = broken(&text);
    let r = Env::with_pipeline(&path).run(&["check"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("population_source is required"),
        "{}",
        r.stderr
    );
}

#[test]
fn environment_twins_and_default_pipeline() {
    // No --pipeline: the one *.toml in ./pipelines/ is used; settings come from FAYUAN_*.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("pipelines")).unwrap();
    std::fs::copy(luan_pipeline_path(), dir.path().join("pipelines/x.toml")).unwrap();
    calendar_beside(&dir.path().join("pipelines"));
    let data = dir.path().join("elsewhere");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fayuan"))
        .current_dir(dir.path())
        .env("FAYUAN_DATA_DIR", &data)
        .env("FAYUAN_AS_OF", "2025-02-10 08:00")
        .env_remove("FAYUAN_PIPELINE")
        .args(["status"])
        .output()
        .unwrap();
    let r = output(out);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The default period is the month before --as-of.
    assert!(r.stdout.contains("2025年1月"), "{}", r.stdout);
    assert!(r.stdout.contains("已报送 0/8"), "{}", r.stdout);
    let r = output(
        std::process::Command::new(env!("CARGO_BIN_EXE_fayuan"))
            .current_dir(dir.path())
            .env("FAYUAN_DATA_DIR", &data)
            .args(["--as-of", "yesterday", "status"])
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 2, "a bad --as-of is bad usage");
}

#[test]
fn email_schedules_and_sources_are_checked_with_the_rest() {
    let text = std::fs::read_to_string(luan_pipeline_path())
        .unwrap()
        .replace("to = [\"leader@example.gov.cn\"]", "to = [\"leader at example\"]")
        .replace("report = \"0 0 9 6 * *\"", "report = \"9 on the 6th\"")
        .replace("contact = \"yeji@example.gov.cn\"", "contact = \"yeji\"")
        .replace("# The units in the plan's order.", "[[sources]]\nname = \"p\"\nurl = \"ftp://x/{period}\"\nformat = \"xls\"\ntimeout_seconds = 1\nmax_bytes = 10\nattempts = 1\n\n# The units in the plan's order.");
    let (_dir, path) = broken(&text);
    check_refuses(
        &path,
        &[
            "email.to \"leader at example\"",
            "schedule.report \"9 on the 6th\"",
            "contact \"yeji\"",
            "url must be http(s)",
            "format \"xls\"",
        ],
    );
}

#[test]
fn a_mailbox_is_checked_with_the_rest() {
    let mut text = std::fs::read_to_string(luan_pipeline_path())
        .unwrap()
        .replace(
            "contact = \"huoqiu@example.gov.cn\"",
            "contact = \"huoqiu@example.gov.cn\"\ncontacts = [\"not an address\"]",
        );
    text.push_str("\n[web]\nlisten = \"everywhere\"\nmax_upload_mb = 0\n");
    text.push_str(
        "\n[[mailboxes]]\nname = \"da ta\"\nurl = \"http://mail.example.gov.cn\"\nuser = \"u\"\nmax_attachments = 0\nbulk_senders = [\"nobody\"]\n",
    );
    // Two mailboxes of one name would share a password, a ledger and folders.
    for _ in 0..2 {
        text.push_str(
            "\n[[mailboxes]]\nname = \"twice\"\nurl = \"imaps://127.0.0.1:993\"\nuser = \"u\"\n",
        );
    }
    let (_dir, path) = broken(&text);
    check_refuses(
        &path,
        &[
            "contact \"not an address\" is not an email address",
            "url http://mail.example.gov.cn: expected imaps://host:993 or imap://host:143",
            "name: letters, digits and - only",
            "mailboxes[3] (twice): name twice is listed twice",
            "1 ≤ max_attachments ≤ 50",
            "bulk sender \"nobody\" is not an email address",
            "web.listen \"everywhere\": an address and port",
            "web.max_upload_mb 0: expected more than 0",
        ],
    );
    // The password is never in the file: without its variable, `ingest` says which to set.
    let ok = std::fs::read_to_string(luan_pipeline_path()).unwrap()
        + "\n[[mailboxes]]\nname = \"data\"\nurl = \"imaps://127.0.0.1:1\"\nuser = \"u@example.gov.cn\"\n";
    let (_dir2, path) = broken(&ok);
    let r = Env::with_pipeline(&path).run_env(&["ingest"], &[("FAYUAN_IMAP_PASSWORD", "")]);
    assert!(
        r.stdout.contains("邮箱 data：获取失败")
            && r.stdout
                .contains("the password is read from FAYUAN_IMAP_PASSWORD only"),
        "{}{}",
        r.stdout,
        r.stderr
    );
}

#[test]
fn a_bureaus_wording_is_checked_at_load_and_used_in_real_messages() {
    let (dir, path) = broken(&std::fs::read_to_string(luan_pipeline_path()).unwrap());
    let texts = dir.path().join("texts");
    std::fs::create_dir(&texts).unwrap();
    // Three ways to get it wrong, all listed at once.
    std::fs::write(
        texts.join("receipt.txt"),
        "{% block subject %}回执{% block body %}",
    )
    .unwrap();
    std::fs::write(
        texts.join("reminder.txt"),
        "{% block subject %}提醒{% endblock %}{% block body %}{{ untit }}{% endblock %}",
    )
    .unwrap();
    std::fs::write(texts.join("greeting.txt"), "你好").unwrap();
    check_refuses(
        &path,
        &[
            "texts/receipt.txt",
            "texts/reminder.txt",
            "untit",
            "texts/greeting.txt",
        ],
    );
    let env = Env::with_pipeline(&path);
    for f in ["receipt.txt", "reminder.txt", "greeting.txt"] {
        std::fs::remove_file(texts.join(f)).unwrap();
    }
    // A good one: the error report beside a refused file speaks the bureau's words.
    std::fs::write(
        texts.join("error-report.txt"),
        "{% block body %}{{ office }}退回：{{ file_name }}\n\
         {% for p in problems %}- {{ p }}\n{% endfor %}请于本月{{ deadline_day | default(5) }}日前重报。\n{% endblock %}",
    )
    .unwrap();
    let r = env.run(&["check"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    env.drop_in(
        "金寨县_2025-06.csv",
        "单位代码,月份\n341524,2025-06\n".as_bytes(),
    );
    let r = env.run(&["--as-of", "2025-07-06T09:00:00+08:00", "ingest"]);
    assert!(r.code == 0 || r.code == 3, "{}{}", r.stdout, r.stderr);
    let report = env
        .files_under("quarantine")
        .into_iter()
        .find(|p| p.to_string_lossy().ends_with(".错误报告.txt"))
        .unwrap_or_else(|| panic!("no error report: {:?}", env.files_under("")));
    let text = std::fs::read_to_string(&report).unwrap();
    assert!(
        text.starts_with("六安市司法局退回：金寨县_2025-06.csv\n- "),
        "{text}"
    );
    assert!(text.ends_with("请于本月5日前重报。\n"), "{text}");
    assert!(!text.contains("数据校验报告"), "{text}");
}

#[test]
fn the_reviews_verdict_counts_only_known_requirements() {
    let text = std::fs::read_to_string(luan_pipeline_path()).unwrap()
        + "\n[review]\ncompletion_min = 1.0\nsatisfaction_min = 0.9\ncomplaint_resolution_min = 1.0\nverdict_includes = [\"completion\", \"punctuality\"]\n";
    let (_dir, path) = broken(&text);
    check_refuses(
        &path,
        &["review.verdict_includes: unknown requirement \"punctuality\""],
    );
}

#[test]
fn a_ladder_is_checked_with_the_rest() {
    let mut text = std::fs::read_to_string(luan_pipeline_path())
        .unwrap()
        .replace(
            "contact = \"huoqiu@example.gov.cn\"",
            "contact = \"huoqiu@example.gov.cn\"\nleader = \"the boss\"",
        );
    text.push_str(
        "\n[[reminders]]\nname = \"提醒\"\nday = -3\n\n[[reminders]]\nname = \"提醒\"\nday = -3\nto = [\"mayor\"]\ntemplate = \"greeting.txt\"\n\n[[reminders]]\nname = \"远\"\nday = 40\nto = []\n",
    );
    let (_dir, path) = broken(&text);
    check_refuses(
        &path,
        &[
            "contact \"the boss\" is not an email address",
            "reminders[2] (提醒): name must be given and unique",
            "reminders[2] (提醒): day -3 must be unique",
            "reminders[2] (提醒): \"mayor\" is not contact, leader or staff",
            "reminders[2] (提醒): template \"greeting.txt\": one of reminder.txt, reminder-overdue.txt, reminder-urge.txt",
            "reminders[3] (远): day 40 must be unique and within 25 days of the deadline",
            "reminders[3] (远): to must name someone",
        ],
    );
}

/// Issue 31: a report schedule before the deadline would only ever make 暂定 reports, which the
/// daemon does not mail — `check` says so (a warning: the pipeline still loads).
#[test]
fn a_report_schedule_before_the_deadline_is_warned_about() {
    let text = std::fs::read_to_string(luan_pipeline_path()).unwrap();
    assert!(!Env::new().run(&["check"]).stdout.contains("暂定报告"));
    let (_dir, path) =
        broken(&text.replace("report = \"0 0 9 6 * *\"", "report = \"0 0 9 4 * *\""));
    let r = Env::with_pipeline(&path).run(&["check"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("2025年1月、2025年2月")
            && r.stdout.contains("为暂定报告，守护进程不发送摘要邮件"),
        "{}",
        r.stdout
    );
}

#[test]
fn the_pages_do_not_start_half_configured_and_check_names_missing_secrets() {
    // Issue 34 §8: `serve`, and `daemon` with [web], refuse to start without the bureau's token
    // and the link secret (exit 2, both named); `check` names a missing SMTP password when
    // `username` is set, a mailbox's missing password, and a public_url on another port.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(luan_pipeline_path())
        .unwrap()
        .replace(
            "# username = \"fayuan@example.gov.cn\"",
            "username = \"fayuan@example.gov.cn\"",
        )
        + "\n[web]\nlisten = \"127.0.0.1:18123\"\npublic_url = \"http://127.0.0.1:8080\"\n\n[[mailboxes]]\nname = \"data\"\nurl = \"imaps://127.0.0.1:9993\"\nuser = \"data@example.gov.cn\"\nauthserv_id = \"mx.example.gov.cn\"\n";
    let path = dir.path().join("p.toml");
    std::fs::write(&path, text).unwrap();
    calendar_beside(dir.path());
    let env = Env::with_pipeline(&path);
    let clean = |args: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_fayuan"));
        cmd.current_dir(env.tmp.path())
            .arg("--pipeline")
            .arg(&env.pipeline)
            .arg("--data-dir")
            .arg(env.data())
            .args(args);
        for v in [
            "FAYUAN_WEB_TOKEN",
            "FAYUAN_WEB_SECRET",
            "FAYUAN_SMTP_PASSWORD",
            "FAYUAN_IMAP_PASSWORD",
            "FAYUAN_AS_OF",
        ] {
            cmd.env_remove(v);
        }
        output(cmd.output().unwrap())
    };
    for command in ["serve", "daemon"] {
        let r = clean(&[command]);
        assert_eq!(r.code, 2, "{command}: {}{}", r.stdout, r.stderr);
        assert!(
            r.stderr.contains("FAYUAN_WEB_TOKEN") && r.stderr.contains("FAYUAN_WEB_SECRET"),
            "{command}: {}",
            r.stderr
        );
        assert!(!env.data().join("daemon/heartbeat.json").exists());
    }
    let r = clean(&["check"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    for want in [
        "warning: email.username is set but FAYUAN_SMTP_PASSWORD is not",
        "warning: mailboxes \"data\": FAYUAN_IMAP_PASSWORD is not set",
        "warning: web: FAYUAN_WEB_SECRET is not set",
        "warning: web.public_url \"http://127.0.0.1:8080\": names this machine on port 8080, but the pages listen on 127.0.0.1:18123",
    ] {
        assert!(r.stdout.contains(want), "{want} in\n{}", r.stdout);
    }
}

/// `fayuan check` and `fayuan health` without --pipeline (the service's `ExecStartPre=fayuan
/// check` in /etc/fayuan, a new year's two pipelines): every pipeline in ./pipelines/, each one's
/// problems listed even when another's does not load, the worst exit code; the calendar and an
/// `.example.toml` are not pipelines.
#[test]
fn check_and_health_without_a_pipeline_take_every_pipeline_of_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    let pipelines = dir.path().join("pipelines");
    std::fs::create_dir(&pipelines).unwrap();
    std::fs::copy(luan_pipeline_path(), pipelines.join("a-2025.toml")).unwrap();
    std::fs::copy(luan_pipeline_path(), pipelines.join("b-2025.toml")).unwrap();
    std::fs::write(pipelines.join("c.example.toml"), "not a pipeline").unwrap();
    calendar_beside(&pipelines);
    let fayuan = |args: &[&str]| {
        output(
            std::process::Command::new(env!("CARGO_BIN_EXE_fayuan"))
                .current_dir(dir.path())
                .env_remove("FAYUAN_PIPELINE")
                .env_remove("FAYUAN_DATA_DIR")
                .args(args)
                .output()
                .unwrap(),
        )
    };
    let r = fayuan(&["check"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("pipelines/a-2025.toml: 8 units"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("pipelines/b-2025.toml: 8 units"),
        "{}",
        r.stdout
    );
    // Health: each pipeline named, each without a daemon (critical: exit 2).
    let r = fayuan(&["health"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        r.stdout.matches("守护进程没有心跳").count(),
        2,
        "{}",
        r.stdout
    );
    // One definition broken: its problem listed, the other still checked, exit 2.
    let text = std::fs::read_to_string(pipelines.join("a-2025.toml")).unwrap();
    std::fs::write(
        pipelines.join("a-2025.toml"),
        text.replace("deadline_day = 5", "deadline_day = 45"),
    )
    .unwrap();
    let r = fayuan(&["check"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("a-2025.toml") && r.stderr.contains("deadline_day"),
        "{}",
        r.stderr
    );
    assert!(
        r.stdout.contains("pipelines/b-2025.toml: 8 units"),
        "{}",
        r.stdout
    );
    // --data-dir with several pipelines is refused (each keeps its own).
    let r = fayuan(&["--data-dir", "x", "check"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
}

/// Issue 37 §3: the environment the pipeline names is read once, when it loads — an SMTP
/// address that cannot be used is a problem of the load, listed with the file's own (not found
/// at the first send), and no secret read with it is ever printed.
#[test]
fn the_environment_is_read_at_load_and_its_problems_listed_with_the_files() {
    let text = std::fs::read_to_string(luan_pipeline_path())
        .unwrap()
        .replace("deadline_day = 5", "deadline_day = 31");
    let (_dir, path) = broken(&text);
    let r = Env::with_pipeline(&path).run_env(
        &["check"],
        &[
            ("FAYUAN_SMTP_URL", "gopher://mail.example.gov.cn"),
            ("FAYUAN_SMTP_PASSWORD", "a-password-never-printed"),
        ],
    );
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("deadline_day 31"), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("FAYUAN_SMTP_URL \"gopher://mail.example.gov.cn\""),
        "{}",
        r.stderr
    );
    assert!(!format!("{}{}", r.stdout, r.stderr).contains("a-password-never-printed"));
    // A good address loads; the password stays out of every line.
    let env = Env::new();
    let r = env.run_env(
        &["check"],
        &[
            ("FAYUAN_SMTP_URL", "smtp://127.0.0.1:2525"),
            ("FAYUAN_SMTP_PASSWORD", "a-password-never-printed"),
            ("FAYUAN_LOG", "debug"),
        ],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(!format!("{}{}", r.stdout, r.stderr).contains("a-password-never-printed"));
}
