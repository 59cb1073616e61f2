//! The values a message template gets, as types (issue 37 §2): the code that sends the message
//! builds one, and `check` renders the bureau's own template from the same type's `example()` —
//! the example cannot drift from what is sent. (The other templates' examples are still values
//! in `texts/mod.rs`.)

use serde::Serialize;

/// A message template's values.
pub trait Message: Serialize {
    /// Its template in `texts/`.
    const TEMPLATE: &'static str;
    /// Values as a real message would have them, for `check`.
    fn example() -> Self;
}

/// What every message may name: the plan's title, the city, the office that sends it.
#[derive(Debug, Clone, Serialize)]
pub struct Heading {
    pub title: String,
    pub city: String,
    pub office: String,
}

impl Heading {
    fn example() -> Heading {
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

/// A template's values as minijinja reads them.
pub fn value_of<T: Serialize>(values: T) -> minijinja::Value {
    minijinja::Value::from(minijinja::value::Serde(values))
}

/// The example of a typed template's values, if `name` is one.
pub fn example(name: &str) -> Option<minijinja::Value> {
    Some(match name {
        Receipt::TEMPLATE => value_of(Receipt::example()),
        Return::TEMPLATE => value_of(Return::example()),
        Supervision::TEMPLATE => value_of(Supervision::example()),
        _ => return None,
    })
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
        for name in [Receipt::TEMPLATE, Return::TEMPLATE, Supervision::TEMPLATE] {
            let typed = example(name).unwrap();
            assert_eq!(
                format!("{:?}", crate::texts::example(name)),
                format!("{typed:?}"),
                "{name}: check's example is the type's"
            );
        }
    }
}
