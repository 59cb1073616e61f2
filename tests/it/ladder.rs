//! The 催报 ladder (issue 25 item 3) over a month, the daemon started once a day with its clock
//! moved day by day: exactly the configured steps to the units that have not reported, the
//! leader and the data staff in copy of the 督办, nothing after a unit reports, and the bureau's
//! page says where each unit stands.

use crate::support::daemon::{Daemon, wait_for};
use crate::support::smtp::{Server, free_port, pipeline, python_ready};
use crate::support::*;
use std::time::Duration;

const TOKEN: &str = "bureau-token-for-the-ladder-0123";

const LADDER: &str = r#"
[[reminders]]
name = "截止前提醒"
day = -3

[[reminders]]
name = "截止日提醒"
day = 0

[[reminders]]
name = "逾期通知"
day = 1
template = "reminder-overdue.txt"

[[reminders]]
name = "督办"
day = 3
cc = ["leader", "staff"]
template = "reminder-urge.txt"
"#;

/// (To, Cc, subject, body) of each message the server received, one per message.
fn messages(server: &Server) -> Vec<(String, String, String, String)> {
    let mut seen = std::collections::BTreeMap::new();
    for (_, raw) in server.received() {
        let m = mail_parser::MessageParser::default().parse(&raw).unwrap();
        let addrs = |a: Option<&mail_parser::Address>| {
            let mut v: Vec<String> = a
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.address())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            v.sort();
            v.join(",")
        };
        let id = m.message_id().unwrap_or_default().to_string();
        seen.insert(
            id,
            (
                addrs(m.to()),
                addrs(m.cc()),
                m.subject().unwrap_or_default().to_string(),
                m.body_text(0).unwrap_or_default().to_string(),
            ),
        );
    }
    seen.into_values().collect()
}

#[test]
fn the_ladder_sends_each_step_once_with_the_leader_at_t_plus_3_and_stops_when_a_unit_reports() {
    if !python_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let path = pipeline(
        dir.path(),
        &[
            ("remind = \"0 0 9 3,5 * *\"", "remind = \"0 0 9 * * *\""),
            (
                "contact = \"huoshan@example.gov.cn\"",
                "contact = \"huoshan@example.gov.cn\"\nleader = \"huoshan-leader@example.gov.cn\"",
            ),
        ],
    );
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(LADDER);
    text.push_str(&format!("\n[web]\nlisten = \"127.0.0.1:{port}\"\n"));
    std::fs::write(&path, text).unwrap();
    let env = Env::with_pipeline(&path);
    // Everyone's June in before July 1 but 霍山县's (never) and 市本级's (on July 7).
    env.drop_samples_except(&["霍山县_2025-06.xlsx", "市本级_2025-06.csv"]);
    let mail = Server::start("smtp", free_port(), &env.tmp.path().join("mail"), &[]);
    let url = format!("smtp://127.0.0.1:{}", mail.port);
    let vars = [
        ("FAYUAN_SMTP_URL", url.as_str()),
        ("FAYUAN_WEB_TOKEN", TOKEN),
    ];
    let runs =
        || std::fs::read_to_string(env.data().join("runs/luan-2025.jsonl")).unwrap_or_default();
    // The deadline is the end of Saturday July 5 (a weekend does not roll it). The steps count
    // working days: T (the last day is off) is Friday July 4, T−3 Tuesday July 1, T+1 Monday
    // July 7, T+3 Wednesday July 9. Messages expected by the end of each day (each message
    // once; the digest of June on July 6).
    let days: [(u32, usize); 12] = [
        (1, 2), // 截止前提醒: 霍山县, 市本级
        (2, 2),
        (3, 2),
        (4, 4), // 截止日提醒: both
        (5, 4),
        (6, 5), // June's digest
        (7, 7), // 逾期通知: both
        (8, 7), // 市本级 reported this morning: nothing for it
        (9, 8), // 督办: 霍山县 only
        (10, 8),
        (16, 8), // the 督办 is a week old and sent: nothing
        (17, 8),
    ];
    for (n, (day, want)) in days.into_iter().enumerate() {
        if day == 8 {
            let f = "市本级_2025-06.csv";
            env.drop_in(
                f,
                &std::fs::read(repo().join("samples/luan-2025").join(f)).unwrap(),
            );
        }
        let d = Daemon::start(
            &env,
            &["--as-of", &format!("2025-07-{day:02} 09:01")],
            &vars,
        );
        wait_for("the reminder round", Duration::from_secs(90), || {
            runs().matches("\"job\":\"remind\"").count() == n + 1
        });
        wait_for("the messages", Duration::from_secs(60), || {
            messages(&mail).len() >= want
        });
        if day == 17 {
            // The bureau's page: where each unit stands on the ladder for June.
            let page = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async {
                    let u = format!("http://127.0.0.1:{port}/bureau?token={TOKEN}&period=2025-06");
                    wait_for("the pages", Duration::from_secs(30), || {
                        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
                    });
                    reqwest::get(u).await.unwrap().text().await.unwrap()
                });
            let ladder = page
                .split("id=\"ladder\"")
                .nth(1)
                .unwrap_or_else(|| panic!("{page}"));
            let ladder = &ladder[..ladder.find("</ul>").unwrap()];
            assert!(
                ladder.contains("霍山县：截止前提醒（2025-07-01 09:0")
                    && ladder.contains("→ 督办（2025-07-09 09:0"),
                "{ladder}"
            );
            let shibenji = ladder
                .split("<li>")
                .find(|l| l.starts_with("市本级："))
                .unwrap_or_else(|| panic!("{ladder}"));
            assert_eq!(shibenji.matches(" → ").count(), 2, "{shibenji}");
            assert!(
                shibenji.contains("逾期通知") && !shibenji.contains("督办"),
                "{shibenji}"
            );
        }
        assert_eq!(d.stop(), 0);
        assert_eq!(messages(&mail).len(), want, "by the end of July {day}");
    }
    let got = messages(&mail);
    let reminders: Vec<_> = got.iter().filter(|m| !m.2.contains("汇总")).collect();
    let to = |who: &str| -> Vec<&str> {
        let mut v: Vec<&str> = reminders
            .iter()
            .filter(|m| m.0 == who)
            .map(|m| m.2.as_str())
            .collect();
        v.sort();
        v
    };
    assert_eq!(reminders.len(), 7, "{got:#?}");
    let huoshan = to("huoshan@example.gov.cn");
    assert_eq!(huoshan.len(), 4, "{huoshan:?}");
    assert_eq!(to("shibenji@example.gov.cn").len(), 3);
    // The steps' wording: two plain reminders, the overdue notice, the 督办.
    assert_eq!(
        huoshan
            .iter()
            .filter(|s| s.contains("请报送霍山县2025年6月月报"))
            .count(),
        2
    );
    assert!(
        huoshan
            .iter()
            .any(|s| s.contains("霍山县2025年6月月报已逾期，请即报送"))
    );
    let urge = reminders
        .iter()
        .find(|m| m.2.contains("督办"))
        .expect("the 督办");
    assert_eq!(urge.0, "huoshan@example.gov.cn");
    // The leader and the data staff in copy of the 督办 (and of nothing else sent to units).
    assert_eq!(
        urge.1,
        "data-staff@example.gov.cn,huoshan-leader@example.gov.cn"
    );
    assert!(urge.2.contains("逾期4天"), "{}", urge.2);
    assert!(urge.3.contains("同时抄送贵单位分管负责人"), "{}", urge.3);
    assert!(
        reminders.iter().filter(|m| m.1.contains("leader")).count() == 1,
        "{reminders:#?}"
    );
    // The year's review counts the reminders that reached each unit (催报, the last column).
    let (huoshan, steps) = crate::actions::supervision_record(&env, "2025-07-16 12:00", "霍山县");
    assert_eq!(huoshan[5], "4", "{steps:?}");
    assert!(
        steps.iter().all(|s| s.contains(" 催报 fayuan ")),
        "{steps:?}"
    );
    // One line a step, its recipients together: the 督办 went to three people.
    assert!(
        steps[3].contains("督办")
            && steps[3].contains("huoshan-leader@example.gov.cn")
            && steps[3].contains("data-staff@example.gov.cn"),
        "{steps:?}"
    );
    let (shibenji, _) = crate::actions::supervision_record(&env, "2025-07-16 12:00", "市本级");
    assert_eq!(shibenji, ["0", "0", "0", "0", "0", "3"]);
}
