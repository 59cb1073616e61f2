//! The email digest over a real SMTP server (aiosmtpd, from PyPI) and webhooks against a real
//! HTTP server, both on 127.0.0.1, both run by `tests/servers.py`. Each received message is
//! parsed back, its workbook opened with calamine.

use crate::support::smtp::*;
use crate::support::*;
use mail_parser::{MessageParser, MimeHeaders};
use std::path::Path;

const TO: &str = "leader@example.gov.cn";
const CC: &str = "data-staff@example.gov.cn";

pub struct Setup {
    pub env: Env,
    _dir: tempfile::TempDir,
}

pub fn setup(edits: &[(&str, &str)]) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let env = Env::with_pipeline(&pipeline(dir.path(), edits));
    let r = env.run(&[
        "--as-of",
        "2025-07-04 09:00",
        "ingest",
        repo().join("samples/luan-2025").to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    Setup { env, _dir: dir }
}

pub fn run_with(env: &Env, url: &str, args: &[&str], extra_env: &[(&str, &str)]) -> Run {
    let mut vars = vec![("FAYUAN_SMTP_URL", url)];
    vars.extend_from_slice(extra_env);
    let mut all = vec!["--as-of", "2025-07-06 09:00"];
    all.extend_from_slice(args);
    env.run_env(&all, &vars)
}

/// What the subject must say, worked out from the samples: Σ cases / 6064 against 6/12, and the
/// alerts the plan's rules give on them (pinned, and worked out again here from the files).
fn expected_subject(_env: &Env, period: &str) -> String {
    assert_eq!(period, "2025-06");
    let rows = crate::report_rows(6);
    let ytd: f64 = rows
        .iter()
        .map(|r| r["cases_approved"].parse::<f64>().unwrap())
        .sum();
    let pct = (ytd / 6064.0 * 10000.0 + 0.5).floor() / 100.0;
    // The samples' June alerts: none. 案均投入 (Σ funds received / Σ cases) is under 700 元 for
    // three units (金寨县, 霍山县, 金安区), but 700 元/件 is a year's figure, judged in December
    // only (issue 31). No 提示: every file came on time, and the months under 90% satisfied are
    // all small samples ("7 of 8", "3 of 4": fewer than 20 surveyed and fewer than 3 not
    // satisfied), which ask for no 说明. Nothing else fires: every unit is within 5 pp of the
    // schedule, and June is a checkpoint where each has its half of the budget.
    const JUNE_ALERTS: usize = 0;
    let sum = |code: &str, key: &str| -> f64 {
        rows.iter()
            .filter(|r| r["unit_code"] == code)
            .map(|r| r[key].parse::<f64>().unwrap())
            .sum()
    };
    let mut codes: Vec<&str> = rows.iter().map(|r| r["unit_code"].as_str()).collect();
    codes.sort();
    codes.dedup();
    let per_case = codes
        .iter()
        .filter(|c| sum(c, "funds_received") / sum(c, "cases_approved") < 700.0)
        .count();
    let (mut small, mut judged) = (0, 0);
    for r in &rows {
        let surveyed: f64 = r["surveyed"].parse().unwrap();
        let satisfied: f64 = r["satisfied"].parse().unwrap();
        if surveyed > 0.0 && satisfied < 0.9 * surveyed {
            if surveyed >= 20.0 || surveyed - satisfied >= 3.0 {
                judged += 1;
            } else {
                small += 1;
            }
        }
    }
    assert_eq!((per_case, judged, small), (3, 0, 9), "the samples changed");
    for u in crate::indicators::UNITS {
        assert!(
            sum(u.0, "cases_approved") / u.2 >= 0.45,
            "{} behind schedule",
            u.1
        );
    }
    format!(
        "【法律援助民生实事】六安市2025年6月汇总：完成{pct:.2}%（序时50.00%），预警{JUNE_ALERTS}条"
    )
}

fn check_message(bytes: &[u8], subject: &str, tmp: &Path) {
    let msg = MessageParser::default()
        .parse(bytes)
        .expect("a MIME message");
    assert_eq!(msg.subject(), Some(subject));
    let to: Vec<String> = msg
        .to()
        .unwrap()
        .iter()
        .filter_map(|a| a.address().map(str::to_string))
        .collect();
    assert_eq!(to, [TO]);
    let html = msg.body_html(0).expect("an HTML body");
    assert!(
        html.contains("各单位完成情况") && html.contains("霍邱县") && html.contains("cid:chart"),
        "{html}"
    );
    let text = msg.body_text(0).expect("a text alternative");
    assert!(text.contains("异常预警"), "{text}");
    // The chart inline, the workbook attached under its Chinese name.
    let chart = msg
        .parts
        .iter()
        .find(|p| p.content_id() == Some("chart"))
        .expect("the chart part");
    assert!(chart.contents().starts_with(b"\x89PNG"));
    let name = "六安市法律援助民生实事汇总_2025-06.xlsx";
    let att = msg
        .attachments()
        .find(|a| a.attachment_name() == Some(name))
        .unwrap_or_else(|| panic!("no attachment named {name}"));
    let raw = String::from_utf8_lossy(bytes);
    assert!(raw.contains("filename*"), "RFC 2231 in Content-Disposition");
    assert!(
        raw.contains("name=\"=?UTF-8?B?"),
        "the name= fallback for older clients"
    );
    let path = tmp.join("attached.xlsx");
    std::fs::write(&path, att.contents()).unwrap();
    let book = calamine::open_workbook_auto(&path).unwrap();
    use calamine::Reader;
    assert_eq!(book.sheet_names()[1], "汇总");
    // The month's 工作通报 goes along, a Word document (a zip holding word/document.xml).
    let notice = "六安市法律援助民生实事工作通报_2025-06.docx";
    let doc = msg
        .attachments()
        .find(|a| a.attachment_name() == Some(notice))
        .unwrap_or_else(|| panic!("no attachment named {notice}"));
    assert!(doc.contents().starts_with(b"PK"));
    assert!(
        doc.content_type()
            .and_then(|c| c.subtype())
            .is_some_and(|t| t.contains("wordprocessingml")),
        "{:?}",
        doc.content_type()
    );
}

#[test]
fn plain_smtp_delivers_once_per_recipient_and_force_sends_again() {
    if !python_ready() {
        return;
    }
    let s = setup(&[]);
    let server = Server::start("smtp", free_port(), &s.env.tmp.path().join("mail"), &[]);
    let url = format!("smtp://127.0.0.1:{}", server.port);
    let r = run_with(&s.env, &url, &["run", "--period", "2025-06"], &[]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(server.recipients(), [TO, CC]);
    let subject = expected_subject(&s.env, "2025-06");
    check_message(&server.received()[0].1, &subject, s.env.tmp.path());
    // On the record (工作台账): the digest reached each of the two, once.
    let r = s.env.run(&["audit"]);
    let sent: Vec<&str> = r
        .stdout
        .lines()
        .filter(|l| l.contains("摘要邮件"))
        .collect();
    assert_eq!(sent.len(), 2, "{}", r.stdout);
    assert!(sent.iter().any(|l| l.contains(TO)) && sent.iter().any(|l| l.contains(CC)));
    assert_eq!(s.env.run(&["audit", "--verify"]).code, 0);
    // digest.html is saved beside the workbook, with the chart as a file.
    let html = std::fs::read_to_string(
        s.env
            .tmp
            .path()
            .join("output/luan-2025/2025-06/digest.html"),
    )
    .unwrap();
    assert!(html.contains("src=\"chart.png\""));
    // Again: nothing.
    let r = run_with(&s.env, &url, &["run", "--period", "2025-06"], &[]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(server.received().len(), 2, "{}", r.stdout);
    let r = run_with(&s.env, &url, &["send", "--period", "2025-06"], &[]);
    assert!(r.stdout.contains("没有待发送"), "{}", r.stdout);
    assert_eq!(server.received().len(), 2);
    // --force: one more each.
    let r = run_with(
        &s.env,
        &url,
        &["run", "--period", "2025-06", "--force"],
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(server.received().len(), 4);
    let status = run_with(&s.env, &url, &["status", "--period", "2025-06"], &[]);
    assert!(
        status.stdout.contains("摘要邮件 2025-06-01：已送达 2/2")
            && status.stdout.contains("2025-06-02：已送达 2/2"),
        "{}",
        status.stdout
    );
}

#[test]
fn starttls_with_auth_and_implicit_tls() {
    if !python_ready() {
        return;
    }
    let s = setup(&[]);
    let (ca, cert, key) = certificates(s.env.tmp.path());
    let (cert, key, ca) = (
        cert.to_str().unwrap(),
        key.to_str().unwrap(),
        ca.to_str().unwrap(),
    );
    let server = Server::start(
        "smtp",
        free_port(),
        &s.env.tmp.path().join("mail"),
        &["--auth", "fayuan:s3cret", "--starttls", cert, key],
    );
    let url = format!("smtp://fayuan@127.0.0.1:{}?tls=required", server.port);
    // A wrong password is a permanent failure: reported, kept in the outbox.
    let r = run_with(
        &s.env,
        &url,
        &["run", "--period", "2025-06"],
        &[
            ("FAYUAN_SMTP_PASSWORD", "wrong"),
            ("FAYUAN_SMTP_CA_FILE", ca),
        ],
    );
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("未能发送"), "{}", r.stdout);
    assert!(server.received().is_empty());
    let st = run_with(&s.env, &url, &["status", "--period", "2025-06"], &[]);
    assert!(
        st.stdout.contains("已送达 0/2") && st.stdout.contains("待发送"),
        "{}",
        st.stdout
    );
    // The right one: delivered.
    let r = run_with(
        &s.env,
        &url,
        &["send", "--period", "2025-06"],
        &[
            ("FAYUAN_SMTP_PASSWORD", "s3cret"),
            ("FAYUAN_SMTP_CA_FILE", ca),
        ],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(server.received().len(), 2);
    check_message(
        &server.received()[0].1,
        &expected_subject(&s.env, "2025-06"),
        s.env.tmp.path(),
    );
    // Without trusting the CA, TLS refuses the server's certificate.
    let r = run_with(
        &s.env,
        &url,
        &["run", "--period", "2025-06", "--force"],
        &[("FAYUAN_SMTP_PASSWORD", "s3cret")],
    );
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert_eq!(server.received().len(), 2);
    drop(server);

    // Implicit TLS (smtps://).
    let server = Server::start(
        "smtp",
        free_port(),
        &s.env.tmp.path().join("mail465"),
        &["--implicit-tls", cert, key],
    );
    let url = format!("smtps://127.0.0.1:{}", server.port);
    let r = run_with(
        &s.env,
        &url,
        &["send", "--period", "2025-06"],
        &[("FAYUAN_SMTP_CA_FILE", ca)],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(server.received().len(), 2);
}

#[test]
fn server_down_keeps_the_digest_until_send_delivers_it_once() {
    if !python_ready() {
        return;
    }
    let s = setup(&[]);
    let port = free_port();
    let url = format!("smtp://127.0.0.1:{port}");
    let r = run_with(&s.env, &url, &["run", "--period", "2025-06"], &[]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    // Retried (attempts = 4 per recipient) before giving up.
    let ledger = std::fs::read_to_string(s.env.data().join("deliveries/luan-2025.jsonl")).unwrap();
    assert_eq!(
        ledger.matches("\"event\":\"attempt\"").count(),
        8,
        "{ledger}"
    );
    let eml = s
        .env
        .data()
        .join("outbox/luan-2025/2025-06/2025-06-01/message.eml");
    assert!(eml.exists());
    let st = run_with(&s.env, &url, &["status", "--period", "2025-06"], &[]);
    assert!(st.stdout.contains("已送达 0/2"), "{}", st.stdout);
    let server = Server::start("smtp", port, &s.env.tmp.path().join("mail"), &[]);
    let r = run_with(&s.env, &url, &["send", "--period", "2025-06"], &[]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(server.received().len(), 2);
    // The message delivered is the one kept in the outbox, byte for byte.
    // (SMTP's end of DATA leaves the server one CRLF more.)
    let (got, kept) = (server.received()[0].1.clone(), std::fs::read(&eml).unwrap());
    assert_eq!(got.strip_suffix(b"\r\n").unwrap_or(&got), kept.as_slice());
    let r = run_with(&s.env, &url, &["send", "--period", "2025-06"], &[]);
    assert_eq!(r.code, 0);
    assert_eq!(server.received().len(), 2, "nothing twice");
}

#[test]
fn a_transient_failure_is_retried_into_one_delivery() {
    if !python_ready() {
        return;
    }
    let s = setup(&[]);
    let server = Server::start(
        "smtp",
        free_port(),
        &s.env.tmp.path().join("mail"),
        &["--transient", "1"],
    );
    let r = run_with(
        &s.env,
        &format!("smtp://127.0.0.1:{}", server.port),
        &["run", "--period", "2025-06"],
        &[],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let mut got = server.recipients();
    got.sort();
    assert_eq!(got, [CC, TO]);
    let ledger = std::fs::read_to_string(s.env.data().join("deliveries/luan-2025.jsonl")).unwrap();
    assert_eq!(
        ledger.matches("\"event\":\"attempt\"").count(),
        3,
        "one retry: {ledger}"
    );
}

#[test]
fn a_permanent_failure_for_one_recipient_spares_the_others() {
    if !python_ready() {
        return;
    }
    let s = setup(&[]);
    let server = Server::start(
        "smtp",
        free_port(),
        &s.env.tmp.path().join("mail"),
        &["--reject-rcpt", CC],
    );
    let url = format!("smtp://127.0.0.1:{}", server.port);
    let r = run_with(&s.env, &url, &["run", "--period", "2025-06"], &[]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout.contains(CC) && r.stdout.contains("550"),
        "{}",
        r.stdout
    );
    assert_eq!(server.recipients(), [TO]);
    let ledger = std::fs::read_to_string(s.env.data().join("deliveries/luan-2025.jsonl")).unwrap();
    assert_eq!(
        ledger
            .matches(&format!("\"event\":\"attempt\",\"recipient\":\"{CC}\""))
            .count(),
        1,
        "5xx is not retried: {ledger}"
    );
    // Sending again retries only the one that failed.
    let r = run_with(&s.env, &url, &["send", "--period", "2025-06"], &[]);
    assert_eq!(r.code, 1);
    assert_eq!(
        server.recipients(),
        [TO],
        "the leader is not sent a second copy"
    );
}

#[test]
fn an_oversized_workbook_is_not_attached_and_the_body_says_so() {
    if !python_ready() {
        return;
    }
    let s = setup(&[("max_attachment_mb = 10.0", "max_attachment_mb = 0.001")]);
    let server = Server::start("smtp", free_port(), &s.env.tmp.path().join("mail"), &[]);
    let r = run_with(
        &s.env,
        &format!("smtp://127.0.0.1:{}", server.port),
        &["run", "--period", "2025-06"],
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.stdout);
    let bytes = &server.received()[0].1;
    let msg = MessageParser::default().parse(bytes).unwrap();
    assert_eq!(
        msg.attachments()
            .filter(|a| a.attachment_name().is_some_and(|n| n.ends_with(".xlsx")))
            .count(),
        0
    );
    assert!(msg.body_html(0).unwrap().contains("超过邮件附件上限"));
    assert!(msg.body_text(0).unwrap().contains("超过邮件附件上限"));
}

#[test]
fn critical_alerts_go_to_the_webhook_and_a_failing_one_does_not_block_email() {
    if !python_ready() {
        return;
    }
    let hook_port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let env = Env::with_pipeline(&pipeline(
        dir.path(),
        &[(
            "# The units in the plan's order.",
            &format!(
                "[[webhooks]]\nkind = \"wecom\"\nurl = \"http://127.0.0.1:{hook_port}/send?key={{env:FAYUAN_TEST_WECOM_KEY}}\"\n\n# The units in the plan's order."
            ),
        )],
    ));
    // 市本级 has not sent June: a critical `missing` alert.
    env.drop_samples_except(&["市本级_2025-06.csv"]);
    let mail = Server::start("smtp", free_port(), &env.tmp.path().join("mail"), &[]);
    let hooks = Server::start(
        "http",
        hook_port,
        &env.tmp.path().join("hooks"),
        &["--fail", "1"],
    );
    let url = format!("smtp://127.0.0.1:{}", mail.port);
    let r = run_with(
        &env,
        &url,
        &["run", "--period", "2025-06"],
        &[("FAYUAN_TEST_WECOM_KEY", "k-42")],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("已推送严重预警"), "{}", r.stdout);
    let posts = hooks.received();
    assert_eq!(posts.len(), 2, "one failure (500), then success");
    let last: serde_json::Value = serde_json::from_slice(&posts[1].1).unwrap();
    assert_eq!(last["path"], "/send?key=k-42");
    assert_eq!(last["body"]["msgtype"], "markdown");
    let content = last["body"]["markdown"]["content"].as_str().unwrap();
    assert!(
        content.contains("市本级") && content.contains("未报送"),
        "{content}"
    );
    assert_eq!(mail.received().len(), 2);
    drop(hooks);

    // A webhook that never answers well: reported, the email still goes.
    let _hooks = Server::start(
        "http",
        hook_port,
        &env.tmp.path().join("hooks2"),
        &["--always-fail"],
    );
    let r = run_with(
        &env,
        &url,
        &["run", "--period", "2025-06", "--force"],
        &[("FAYUAN_TEST_WECOM_KEY", "k-42")],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("推送失败"), "{}", r.stdout);
    assert_eq!(mail.received().len(), 4);
}

#[test]
fn a_connection_dropped_mid_send_is_transient_and_delivered_once_later() {
    // Issue 33 §4: a server that drops the connection in the middle of a send has not refused
    // the message: it is retried (not given up), and delivered once when the server is well.
    if !python_ready() {
        return;
    }
    let s = setup(&[]);
    let control = s.env.tmp.path().join("control");
    std::fs::write(&control, "drop\n").unwrap();
    let server = Server::start(
        "smtp",
        free_port(),
        &s.env.tmp.path().join("mail"),
        &["--control", control.to_str().unwrap()],
    );
    let url = format!("smtp://127.0.0.1:{}", server.port);
    let r = run_with(&s.env, &url, &["run", "--period", "2025-06"], &[]);
    assert!(server.received().is_empty());
    let ledger =
        || std::fs::read_to_string(s.env.data().join("deliveries/luan-2025.jsonl")).unwrap();
    let l = ledger();
    assert!(
        l.contains("\"event\":\"failed\""),
        "{}{}\n{l}",
        r.stdout,
        r.stderr
    );
    assert!(
        !l.contains("\"transient\":false"),
        "a dropped connection is transient: {l}"
    );
    assert!(!l.contains("\"event\":\"gaveup\""), "{l}");
    // The server is well again: the next send delivers each recipient once.
    std::fs::remove_file(&control).unwrap();
    let r = run_with(&s.env, &url, &["send", "--period", "2025-06"], &[]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let mut got = server.recipients();
    got.sort();
    assert_eq!(got, [CC, TO]);
}

/// `[notify] unit_feedback` (issue 34; its values typed in issue 37): after June's report each
/// unit's contact gets its own results — its figures, ranked among all units, and its page —
/// once, through a real SMTP server; a second run sends none again.
#[test]
fn with_unit_feedback_each_unit_gets_its_own_results_once() {
    if !python_ready() {
        return;
    }
    let s = setup(&[(
        "\n[email]\n",
        "\n[notify]\nunit_feedback = true\n\n[email]\n",
    )]);
    let port = free_port();
    let server = Server::start("smtp", port, &s.env.tmp.path().join("mail"), &[]);
    let url = format!("smtp://127.0.0.1:{port}");
    let r = run_with(&s.env, &url, &["run", "--period", "2025-06"], &[]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("本单位情况邮件 8 封已放入发件箱"),
        "{}",
        r.stdout
    );
    let fed = |server: &Server| -> Vec<(String, String, String)> {
        server
            .received()
            .into_iter()
            .filter_map(|(file, raw)| {
                let m = MessageParser::default().parse(&raw)?;
                let subject = m.subject()?.to_string();
                subject.contains("本单位情况").then(|| {
                    (
                        file,
                        subject,
                        m.body_text(0).unwrap_or_default().to_string(),
                    )
                })
            })
            .collect()
    };
    let got = fed(&server);
    assert_eq!(got.len(), 8, "one to each unit's contact");
    let (_, subject, body) = got
        .iter()
        .find(|(file, _, _)| file.contains("huoqiu@example.gov.cn"))
        .expect("霍邱县's");
    assert_eq!(subject, "【法律援助民生实事】霍邱县2025年6月本单位情况");
    // 霍邱县's cases of January–June, summed here from the sample files themselves.
    let ytd: f64 = crate::report_rows(6)
        .iter()
        .filter(|r| r["unit_code"] == "341522")
        .map(|r| r["cases_approved"].parse::<f64>().unwrap())
        .sum();
    assert!(
        body.contains(&format!("累计受理审批：{ytd:.0}件（年度目标1,300件）"))
            || body.contains(&format!("累计受理审批：{ytd:.0}件（年度目标1300件）")),
        "{body}"
    );
    assert!(body.starts_with("霍邱县："), "{body}");
    // No link secret here: no page to name, and no "none" where its link would be.
    assert!(
        !body.contains("报送页面") && !body.contains("none"),
        "{body}"
    );
    assert!(
        body.contains("完成率排名：第") && body.contains("（共8个单位）"),
        "{body}"
    );
    let r = run_with(&s.env, &url, &["run", "--period", "2025-06"], &[]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(fed(&server).len(), 8, "nothing twice");
}
