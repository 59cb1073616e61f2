//! 指导督促 by mail: a return answers the mail that brought the figures, a supervision item is
//! answered by a reply and closed by the staff, a correction of a confirmed month is told it waits.

use crate::support::imap::*;
use crate::support::*;

/// A return (退回) of figures that came by mail answers that mail: in its thread, to the unit's
/// contact, with the month's template — and a return of figures that came otherwise starts a
/// message of its own.
#[test]
fn a_return_answers_the_mail_that_brought_the_figures() {
    if !dovecot_ready() {
        return;
    }
    let s = setup();
    let csv = format!("{HEADER}\r\n{}\r\n", csv_row("341522", 7, 12));
    let sent = message(
        HUOQIU,
        "霍邱县7月月报",
        "",
        &[(&rfc2231("霍邱县_2025-07.csv"), csv.as_bytes())],
    );
    let raw = String::from_utf8_lossy(&sent).to_string();
    let county_id = raw
        .lines()
        .find_map(|l| l.strip_prefix("Message-ID: "))
        .unwrap()
        .to_string();
    s.imap.deliver(&sent);
    let r = s.ingest("2025-08-03 10:00");
    assert!(r.stdout.contains("回执 1 封"), "{}{}", r.stdout, r.stderr);
    let url = format!("smtp://127.0.0.1:{}", s.smtp.port);
    let give_back = |month: &str, at: &str| {
        let r = s.env.run_env(
            &[
                "--as-of",
                at,
                "return",
                "--unit",
                "341522",
                "--period",
                month,
                "--reason",
                "办结案件数与台账不符",
                "--by",
                "张三",
            ],
            &[("FAYUAN_SMTP_URL", &url)],
        );
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    };
    give_back("2025-07", "2025-08-04 09:00");
    let notices: Vec<_> = s
        .receipts()
        .into_iter()
        .filter(|m| m.1.contains("退回修改") && m.0 == HUOQIU)
        .collect();
    assert_eq!(notices.len(), 1, "{notices:?}");
    let head = &notices[0].3;
    assert!(
        head.contains(&format!("In-Reply-To: {county_id}"))
            && head.contains(&format!("References: {county_id}")),
        "{head}"
    );
    // A person's message, not an automatic answer; the template rides along.
    assert!(!head.contains("Auto-Submitted"), "{head}");
    let raw = s
        .smtp
        .received()
        .into_iter()
        .find(|(f, b)| {
            f.ends_with(&format!("{HUOQIU}.eml"))
                && String::from_utf8_lossy(b).contains(&county_id)
                && !String::from_utf8_lossy(b).contains("Auto-Submitted")
        })
        .unwrap()
        .1;
    let m = mail_parser::MessageParser::default().parse(&raw).unwrap();
    assert_eq!(
        mail_parser::MimeHeaders::attachment_name(m.attachments().next().unwrap()),
        Some("霍邱县_2025-07_月报表.xlsx")
    );
    // June came through no mail (the samples' folder): its return starts a thread of its own.
    let r = s.env.run(&[
        "--as-of",
        "2025-08-04 09:10",
        "ingest",
        repo()
            .join("samples/luan-2025/霍邱县_2025-06.xlsx")
            .to_str()
            .unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    give_back("2025-06", "2025-08-04 09:20");
    let june: Vec<_> = s
        .receipts()
        .into_iter()
        .filter(|m| m.1.contains("2025年6月月报退回修改") && m.0 == HUOQIU)
        .collect();
    assert_eq!(june.len(), 1);
    assert!(!june[0].3.contains("In-Reply-To"), "{}", june[0].3);
}

/// A supervision item (督办事项): its notice goes to the unit, the unit's reply to that mail is
/// its answer (recorded with who, told in the receipt, shown by `fayuan supervise`), another
/// unit's reply in the same thread is not, and the staff close it.
#[test]
fn a_supervision_item_is_answered_by_a_reply_and_closed_by_the_staff() {
    if !dovecot_ready() {
        return;
    }
    let s = setup();
    let url = format!("smtp://127.0.0.1:{}", s.smtp.port);
    let r = s.env.run_env(
        &[
            "--as-of",
            "2025-07-20 10:00",
            "supervise",
            "--unit",
            "341522",
            "--text",
            "支出率连续三个月低于序时进度，请书面说明原因及整改措施",
            "--due",
            "2025-07-31",
            "--by",
            "张三",
        ],
        &[("FAYUAN_SMTP_URL", &url)],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("督办通知已发出（item-1）"),
        "{}",
        r.stdout
    );
    let notice: Vec<_> = s.receipts().into_iter().filter(|m| m.0 == HUOQIU).collect();
    assert_eq!(notice.len(), 1);
    assert_eq!(
        notice[0].1,
        "【法律援助民生实事】督办事项1：霍邱县（期限 2025-07-31）"
    );
    assert!(
        notice[0].2.contains("支出率连续三个月低于序时进度"),
        "{}",
        notice[0].2
    );
    // The notice's Message-ID, as the county's mail program sees it.
    let item_id = notice[0]
        .3
        .lines()
        .find_map(|l| l.strip_prefix("Message-ID: "))
        .unwrap()
        .to_string();
    assert_eq!(item_id, "<item-1.luan-2025@fayuan>");
    let reply = |from: &str| {
        let m = message(
            from,
            "Re: 督办事项1",
            &format!("In-Reply-To: {item_id}\r\nReferences: {item_id}\r\n"),
            &[],
        );
        // The body: the county's words (the helper's text), then the quoted notice.
        String::from_utf8(m).unwrap()
    };
    // 金寨县 answers 霍邱县's item: not its own.
    s.imap.deliver(reply("jinzhai@example.gov.cn").as_bytes());
    s.imap.deliver(reply(HUOQIU).as_bytes());
    let r = s.ingest("2025-07-22 09:00");
    assert!(r.stdout.contains("回执 2 封"), "{}{}", r.stdout, r.stderr);
    let receipts: Vec<_> = s
        .receipts()
        .into_iter()
        .filter(|m| m.1.starts_with("回执"))
        .collect();
    let to = |who: &str| receipts.iter().find(|m| m.0 == who).unwrap().2.clone();
    assert!(
        to(HUOQIU).contains("督办事项 1 的答复已收到，待市局审阅后办结。"),
        "{}",
        to(HUOQIU)
    );
    assert!(
        to("jinzhai@example.gov.cn")
            .contains("本邮件是对督办事项 1 的回复，未记为答复：督办事项 1 不是本单位未办结的事项"),
        "{}",
        to("jinzhai@example.gov.cn")
    );
    // The same answer sent again: recorded once.
    s.imap.deliver(reply(HUOQIU).as_bytes());
    s.ingest("2025-07-22 09:10");
    let listed = s
        .env
        .run(&["--as-of", "2025-07-22 10:00", "supervise"])
        .stdout;
    assert_eq!(listed.matches("答复：").count(), 1, "{listed}");
    assert!(
        listed.contains(&format!(
            "答复：2025-07-22 09:00 {HUOQIU}：请查收本月月报。"
        )),
        "{listed}"
    );
    let r = s.env.run(&[
        "--as-of",
        "2025-07-23 10:00",
        "supervise",
        "--close",
        "1",
        "--by",
        "张三",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let audit = s.env.run(&["audit", "--unit", "341522"]).stdout;
    for want in [
        "交办督办事项 1",
        "答复督办事项 1：请查收本月月报。",
        "办结督办事项 1",
    ] {
        assert!(audit.contains(want), "{want} in {audit}");
    }
    assert!(audit.contains(HUOQIU), "{audit}");
}

/// A correction of a month the staff confirmed: kept, and the receipt says it waits for them.
#[test]
fn a_correction_of_a_confirmed_month_is_told_it_waits_for_the_staff() {
    if !dovecot_ready() {
        return;
    }
    let s = setup();
    let send = |cases: i64, at: &str| {
        let csv = format!("{HEADER}\r\n{}\r\n", csv_row("341522", 7, cases));
        s.imap.deliver(&message(
            HUOQIU,
            "霍邱县7月月报",
            "",
            &[(&rfc2231("霍邱县_2025-07.csv"), csv.as_bytes())],
        ));
        let r = s.ingest(at);
        assert!(r.stdout.contains("回执 1 封"), "{}{}", r.stdout, r.stderr);
    };
    send(12, "2025-08-03 10:00");
    let r = s.env.run(&[
        "--as-of",
        "2025-08-04 09:00",
        "confirm",
        "--unit",
        "341522",
        "--period",
        "2025-07",
        "--by",
        "张三",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    send(14, "2025-08-05 10:00");
    let receipts: Vec<_> = s
        .receipts()
        .into_iter()
        .filter(|m| m.0 == HUOQIU && m.1.starts_with("回执"))
        .map(|m| m.2)
        .collect();
    assert_eq!(receipts.len(), 2);
    let note = "2025年7月数据此前已经市局确认，本次报送的新版本已收到，作为待确认的更正，经市局确认后采用。";
    // The second receipt says it, the first (before the confirmation) does not.
    assert_eq!(
        receipts.iter().filter(|r| r.contains(note)).count(),
        1,
        "{receipts:?}"
    );
    let st = s
        .env
        .run(&[
            "--as-of",
            "2025-08-05 11:00",
            "status",
            "--period",
            "2025-07",
        ])
        .stdout;
    assert!(st.contains("待确认的更正：2025年7月——"), "{st}");
}
