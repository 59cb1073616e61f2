//! The values a message template gets, as types (issue 37 §2): the code that sends the message
//! builds one, and `check` renders the bureau's own template from the same type's `example()` —
//! the example cannot drift from what is sent. The digest and the documents are in
//! `documents.rs`.

use serde::Serialize;

/// A message template's values.
pub trait Message: Serialize {
    /// Its template in `texts/`.
    const TEMPLATE: &'static str;
    /// Other templates that take the same values (a ladder's steps).
    const ALSO: &'static [&'static str] = &[];
    /// Values as a real message would have them, for `check`.
    fn example() -> Self;
}

/// What every message may name: the plan's title, the city, the office that sends it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Heading {
    pub title: String,
    pub city: String,
    pub office: String,
}

impl Heading {
    pub(super) fn example() -> Heading {
        Heading {
            title: "法律援助民生实事".into(),
            city: "六安市".into(),
            office: "六安市司法局".into(),
        }
    }
}

/// The receipt a county gets for its mail (texts/receipt.txt).
#[derive(Debug, Serialize)]
pub struct Receipt {
    #[serde(flatten)]
    pub heading: Heading,
    /// The mail's subject (empty: none).
    pub mail_subject: String,
    /// When the mail reached the server, as people read it.
    pub received: String,
    /// The month being collected.
    pub period_zh: String,
    pub attachments: Vec<Attachment>,
    /// Files of the mail not taken, one line each.
    pub skipped: Vec<String>,
    /// What is said of the mail as a whole.
    pub notes: Vec<String>,
    /// The sender's unit, when it is one: has its month come, what waits for a 说明.
    pub unit_status: Option<ReceiptUnit>,
}

/// One attachment of a receipt, as the store recorded it.
#[derive(Debug, Default, Serialize)]
pub struct Attachment {
    /// Its number in the mail, from 1.
    pub n: usize,
    pub name: String,
    /// `waiting` (not recorded yet), or the store's outcome: accepted, partial, rejected,
    /// duplicate.
    pub outcome: &'static str,
    pub rows_accepted: i64,
    pub rows_rejected: i64,
    /// The months it brought, each with the version it became, in month order.
    pub months: Vec<MonthVersion>,
    pub problems: String,
    /// When the same bytes came first (a duplicate).
    pub first_seen: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct MonthVersion {
    pub period_zh: String,
    pub version: i64,
}

#[derive(Debug, Serialize)]
pub struct ReceiptUnit {
    pub name: String,
    pub reported: bool,
    /// What waits for a 说明, in words.
    pub pending: Vec<String>,
}

impl Message for Receipt {
    const TEMPLATE: &'static str = "receipt.txt";
    fn example() -> Receipt {
        Receipt {
            heading: Heading::example(),
            mail_subject: "霍邱县2025年6月月报".into(),
            received: "2025年7月3日 09:00".into(),
            period_zh: "2025年6月".into(),
            attachments: vec![Attachment {
                n: 1,
                name: "霍邱县_2025-06.xlsx".into(),
                outcome: "accepted",
                rows_accepted: 1,
                rows_rejected: 0,
                months: vec![MonthVersion {
                    period_zh: "2025年6月".into(),
                    version: 1,
                }],
                problems: String::new(),
                first_seen: None,
            }],
            skipped: vec!["说明.docx：不是月报表文件，未处理".into()],
            notes: Vec::new(),
            unit_status: Some(ReceiptUnit {
                name: "霍邱县".into(),
                reported: true,
                pending: vec!["6月满意度低于90%（满意 7 人，回访 8 人）".into()],
            }),
        }
    }
}

/// A unit's 退回通知 (texts/return.txt).
#[derive(Debug, Serialize)]
pub struct Return {
    #[serde(flatten)]
    pub heading: Heading,
    pub unit: String,
    pub period_zh: String,
    pub reason: String,
    pub now: String,
}

impl Message for Return {
    const TEMPLATE: &'static str = "return.txt";
    fn example() -> Return {
        Return {
            heading: Heading::example(),
            unit: "霍邱县".into(),
            period_zh: "2025年6月".into(),
            reason: "刑事案件数与台账不符，请核实".into(),
            now: "2025年7月8日 10:00".into(),
        }
    }
}

/// A 督办事项's notice to its unit (texts/supervision.txt).
#[derive(Debug, Serialize)]
pub struct Supervision {
    #[serde(flatten)]
    pub heading: Heading,
    pub id: u32,
    pub unit: String,
    pub due: String,
    pub text: String,
    pub now: String,
}

impl Message for Supervision {
    const TEMPLATE: &'static str = "supervision.txt";
    fn example() -> Supervision {
        Supervision {
            heading: Heading::example(),
            id: 1,
            unit: "霍邱县".into(),
            due: "2025-08-15".into(),
            text: "支出率连续三个月低于序时进度，请书面说明原因及整改措施".into(),
            now: "2025年7月20日 10:00".into(),
        }
    }
}

/// A reminder to a unit that has not reported a month (texts/reminder.txt; a ladder's steps:
/// reminder-overdue.txt, reminder-urge.txt).
#[derive(Debug, Serialize)]
pub struct Reminder {
    #[serde(flatten)]
    pub heading: Heading,
    pub unit: String,
    pub period_zh: String,
    pub deadline: String,
    pub now: String,
    pub how_to_send: String,
    /// The unit's page, when the pages are served.
    pub unit_url: Option<String>,
    /// A ladder's step: its name, the days past the deadline, whether the unit's leader is told.
    pub step: Option<String>,
    pub days_late: Option<i64>,
    pub leader_cc: bool,
}

impl Message for Reminder {
    const TEMPLATE: &'static str = "reminder.txt";
    const ALSO: &'static [&'static str] = &["reminder-overdue.txt", "reminder-urge.txt"];
    fn example() -> Reminder {
        Reminder {
            heading: Heading::example(),
            unit: "霍邱县".into(),
            period_zh: "2025年6月".into(),
            deadline: "2025年7月5日".into(),
            now: "2025年7月3日 09:00".into(),
            how_to_send: "请将月报表发送至 data@example.cn。".into(),
            unit_url: Some("https://fayuan.example.cn/u/341522/0123456789abcdef".into()),
            step: Some("逾期通知".into()),
            days_late: Some(1),
            leader_cc: true,
        }
    }
}

/// A unit's own results after a monthly report (texts/feedback.txt, `[notify] unit_feedback`).
#[derive(Debug, Serialize)]
pub struct Feedback {
    #[serde(flatten)]
    pub heading: Heading,
    pub unit: String,
    pub period_zh: String,
    pub ytd_zh: String,
    /// The unit's figures as its page shows them.
    pub figures: Vec<Line>,
    /// The report's alerts about the unit.
    pub items: Vec<String>,
    /// What waits for a 说明.
    pub pending: Vec<String>,
    pub unit_url: Option<String>,
}

/// A labelled figure in words.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub label: String,
    pub value: String,
}

impl Message for Feedback {
    const TEMPLATE: &'static str = "feedback.txt";
    fn example() -> Feedback {
        Feedback {
            heading: Heading::example(),
            unit: "霍邱县".into(),
            period_zh: "2025年7月".into(),
            ytd_zh: "2025年1—7月".into(),
            figures: vec![Line {
                label: "完成率".into(),
                value: "55.20%".into(),
            }],
            items: vec!["办案补贴及直接费用占比66.17%，低于70%".into()],
            pending: vec!["1—7月（共7个月）办案补贴及直接费用占业务经费支出不足70%".into()],
            unit_url: Some("https://fayuan.example.cn/u/341522/0123456789abcdef".into()),
        }
    }
}

/// The group robots' summary of a report's critical alerts (texts/webhook.md).
#[derive(Debug, Serialize)]
pub struct Webhook {
    #[serde(flatten)]
    pub heading: Heading,
    /// The digest's subject.
    pub subject: String,
    /// How many critical alerts (at most 20 listed).
    pub count: usize,
    pub critical: Vec<Critical>,
}

#[derive(Debug, Serialize)]
pub struct Critical {
    pub unit: String,
    pub message: String,
}

impl Message for Webhook {
    const TEMPLATE: &'static str = "webhook.md";
    fn example() -> Webhook {
        Webhook {
            heading: Heading::example(),
            subject: "【法律援助民生实事】六安市2025年6月汇总：完成52.30%（序时50.00%），预警3条"
                .into(),
            count: 1,
            critical: vec![Critical {
                unit: "霍山县".into(),
                message: "2025年6月数据未报送".into(),
            }],
        }
    }
}

/// To the data staff: a job started failing (texts/notice-failure.txt), once per incident.
#[derive(Debug, Serialize)]
pub struct NoticeFailure {
    #[serde(flatten)]
    pub heading: Heading,
    /// The job: `report`, `ingest`, `reminders` ….
    pub job: String,
    pub period_zh: Option<String>,
    pub now: String,
    pub error: String,
}

impl Message for NoticeFailure {
    const TEMPLATE: &'static str = "notice-failure.txt";
    fn example() -> NoticeFailure {
        NoticeFailure {
            heading: Heading::example(),
            job: "report".into(),
            period_zh: Some("2025年6月".into()),
            now: "2025年7月6日 09:00".into(),
            error: "analysis completion: …".into(),
        }
    }
}

/// To the data staff: a failing job works again (texts/notice-recovered.txt).
#[derive(Debug, Serialize)]
pub struct NoticeRecovered {
    #[serde(flatten)]
    pub heading: Heading,
    pub job: String,
    pub now: String,
}

impl Message for NoticeRecovered {
    const TEMPLATE: &'static str = "notice-recovered.txt";
    fn example() -> NoticeRecovered {
        NoticeRecovered {
            heading: Heading::example(),
            job: "report".into(),
            now: "2025年7月6日 09:10".into(),
        }
    }
}

/// To the data staff: a mailbox that cannot be read, or can again (texts/notice-mailbox.txt).
#[derive(Debug, Serialize)]
pub struct NoticeMailbox {
    #[serde(flatten)]
    pub heading: Heading,
    pub mailbox: String,
    pub user: String,
    /// Unreadable since (minute).
    pub since: String,
    /// Now; when it recovered, the minute it did.
    pub now: String,
    /// Why it cannot be read (none when it recovered).
    pub cause: Option<String>,
    pub recovered: bool,
}

impl Message for NoticeMailbox {
    const TEMPLATE: &'static str = "notice-mailbox.txt";
    fn example() -> NoticeMailbox {
        NoticeMailbox {
            heading: Heading::example(),
            mailbox: "bureau".into(),
            user: "fayuan@example.gov.cn".into(),
            since: "2025-07-03 22:10".into(),
            now: "2025-07-04 08:10".into(),
            cause: Some("登录失败（用户名或密码不对，或账号被停用）：…".into()),
            recovered: false,
        }
    }
}

/// To the data staff: a mail held aside (texts/notice-held.txt).
#[derive(Debug, Serialize)]
pub struct NoticeHeld {
    #[serde(flatten)]
    pub heading: Heading,
    pub mailbox: String,
    pub user: String,
    pub held_folder: String,
    pub from: String,
    pub mail_subject: String,
    pub received: String,
    pub why: String,
    /// The sender was told (a registered one).
    pub answered: bool,
    /// The kept message's SHA-256 (none: it was not downloaded).
    pub sha256: Option<String>,
}

impl Message for NoticeHeld {
    const TEMPLATE: &'static str = "notice-held.txt";
    fn example() -> NoticeHeld {
        NoticeHeld {
            heading: Heading::example(),
            mailbox: "county".into(),
            user: "reports@example.cn".into(),
            held_folder: "fayuan-held".into(),
            from: "someone@example.cn".into(),
            mail_subject: "你好".into(),
            received: "2025年7月3日 09:00".into(),
            why: "发件人不是任何单位登记的地址".into(),
            answered: false,
            sha256: Some("ab12…".into()),
        }
    }
}

/// To the data staff: what a delivery round gave up, or sent without the workbook
/// (texts/notice-undelivered.txt).
#[derive(Debug, Serialize)]
pub struct NoticeUndelivered {
    #[serde(flatten)]
    pub heading: Heading,
    pub now: String,
    pub gave_up: Vec<Undelivered>,
    pub small: Vec<Undelivered>,
}

/// One message of a [`NoticeUndelivered`].
#[derive(Debug, Serialize)]
pub struct Undelivered {
    /// Its kind in words (摘要, 回执 …).
    pub kind: String,
    pub id: String,
    pub subject: String,
    pub to: String,
    /// Why it was given up (none in `small`).
    pub why: Option<String>,
}

impl Message for NoticeUndelivered {
    const TEMPLATE: &'static str = "notice-undelivered.txt";
    fn example() -> NoticeUndelivered {
        let one = |why: Option<&str>| Undelivered {
            kind: "摘要".into(),
            id: "2025-06-01".into(),
            subject: "【…】汇总".into(),
            to: "leader@example.cn".into(),
            why: why.map(str::to_string),
        };
        NoticeUndelivered {
            heading: Heading::example(),
            now: "2025年7月6日 09:00".into(),
            gave_up: vec![one(Some("550 mailbox unavailable"))],
            small: vec![one(None)],
        }
    }
}

/// The receipt of a form filled on a county's page (texts/receipt-web.txt).
#[derive(Debug, Serialize)]
pub struct ReceiptWeb {
    #[serde(flatten)]
    pub heading: Heading,
    pub unit: String,
    pub period_zh: String,
    pub now: String,
    /// What the submission came to, in words.
    pub result: String,
}

impl Message for ReceiptWeb {
    const TEMPLATE: &'static str = "receipt-web.txt";
    fn example() -> ReceiptWeb {
        ReceiptWeb {
            heading: Heading::example(),
            unit: "霍邱县".into(),
            period_zh: "2025年7月".into(),
            now: "2025年8月3日 10:00".into(),
            result: "在线填报（2025年7月，填报人张三）：已接收，1 行（7月第2版）。".into(),
        }
    }
}

/// The error report beside a refused (or partly taken) file (texts/error-report.txt).
#[derive(Debug, Serialize)]
pub struct ErrorReport {
    #[serde(flatten)]
    pub heading: Heading,
    pub file_name: String,
    pub arrived_at: String,
    pub sha256: String,
    pub partial: bool,
    pub rows_accepted: i64,
    pub rows_rejected: i64,
    pub problem_count: usize,
    /// Problems beyond those listed.
    pub unlisted: usize,
    pub problems: Vec<String>,
}

impl Message for ErrorReport {
    const TEMPLATE: &'static str = "error-report.txt";
    fn example() -> ErrorReport {
        ErrorReport {
            heading: Heading::example(),
            file_name: "金寨县_2025-06.csv".into(),
            arrived_at: "2025-07-03T09:00:00+08:00".into(),
            sha256: "ab12…".into(),
            partial: false,
            rows_accepted: 0,
            rows_rejected: 1,
            problem_count: 1,
            unlisted: 0,
            problems: vec!["金寨县_2025-06.csv 第2行 受理审批案件数：“十二”不是整数".into()],
        }
    }
}

/// A template's values as minijinja reads them.
pub fn value_of<T: Serialize>(values: T) -> minijinja::Value {
    minijinja::Value::from(minijinja::value::Serde(values))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent<M: Message>() -> (String, String) {
        crate::texts::Texts::builtin()
            .send(&M::example())
            .expect("the built-in template renders its type's example")
    }

    /// Each typed template renders from its type's example, and the words come from the values
    /// (not from a hand-kept map beside the type): `check` renders a bureau's own template from
    /// the same example (`texts::example`).
    #[test]
    fn each_typed_template_renders_from_its_types_example() {
        let (subject, body) = sent::<Receipt>();
        assert_eq!(subject, "回执：霍邱县2025年6月月报");
        assert!(
            body.contains("1. 霍邱县_2025-06.xlsx：已接收，1 行：2025年6月（第1版）。"),
            "{body}"
        );
        assert!(body.contains("待说明：6月满意度低于90%"), "{body}");
        assert!(body.contains("六安市司法局已收到您的邮件"), "{body}");
        let (_, body) = sent::<Return>();
        assert!(body.contains("刑事案件数与台账不符，请核实"), "{body}");
        let (_, body) = sent::<Supervision>();
        assert!(body.contains("2025-08-15"), "{body}");
        let (subject, body) = sent::<NoticeMailbox>();
        assert!(subject.contains("邮箱 bureau 无法读取"), "{subject}");
        assert!(body.contains("登录失败"), "{body}");
        let (_, body) = sent::<NoticeUndelivered>();
        assert!(
            body.contains("→ leader@example.cn：550 mailbox unavailable"),
            "{body}"
        );
        let (subject, _) = sent::<Reminder>();
        assert!(subject.contains("请报送霍邱县2025年6月月报"), "{subject}");
        let report = crate::texts::Texts::builtin()
            .body_of(&ErrorReport::example())
            .unwrap();
        assert!(report.contains("“十二”不是整数"), "{report}");
        let names = [
            Receipt::TEMPLATE,
            Return::TEMPLATE,
            Supervision::TEMPLATE,
            Reminder::TEMPLATE,
            "reminder-overdue.txt",
            "reminder-urge.txt",
            NoticeFailure::TEMPLATE,
            NoticeRecovered::TEMPLATE,
            NoticeMailbox::TEMPLATE,
            NoticeHeld::TEMPLATE,
            NoticeUndelivered::TEMPLATE,
            ReceiptWeb::TEMPLATE,
            ErrorReport::TEMPLATE,
            Feedback::TEMPLATE,
            Webhook::TEMPLATE,
            "digest.txt",
            "digest.html",
            "acceptance-report.txt",
            "notice.txt",
        ];
        for name in names {
            let values =
                crate::texts::typed_example(name).unwrap_or_else(|| panic!("{name}: typed"));
            crate::texts::Texts::builtin()
                .body(name, &values)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}
