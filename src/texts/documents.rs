//! The values of the digest (texts/digest.html, texts/digest.txt) as types (issue 37 §2): the
//! report builds them, and the check renders a bureau's digest from the same example.

use super::contexts::{Heading, Message};
use crate::palette;
use serde::Serialize;

/// The digest's values: one set for its subject, its HTML and its text.
#[derive(Debug, Serialize)]
pub struct DigestValues {
    #[serde(flatten)]
    pub heading: Heading,
    pub year: i32,
    pub period_zh: String,
    /// The year so far, in words (2025年1—6月).
    pub ytd: String,
    pub as_of: String,
    pub deadline: String,
    pub completion: String,
    pub schedule: String,
    /// Some unit has not reported: the figures may change.
    pub provisional: bool,
    pub missing: Vec<String>,
    pub headline: Vec<Headline>,
    pub units: Vec<UnitLine>,
    pub groups: Vec<Group>,
    pub alert_count: usize,
    pub info_count: usize,
    pub year_end: bool,
    /// Made before the month's deadline (暂定).
    pub draft: bool,
    pub gap_header: &'static str,
    /// December: the review's verdict and lines, and its workbook's name when attached.
    pub verdict: Option<String>,
    pub review: Vec<String>,
    pub review_book: Option<String>,
    pub pending: Vec<String>,
    pub narratives: Vec<String>,
    pub palette: std::collections::BTreeMap<&'static str, String>,
    pub chart_note: String,
    pub attachment_note: String,
    /// The subject, once made (empty while the subject itself is made).
    pub subject: String,
    /// The chart's source in the HTML (empty: none, or the text form).
    pub chart_src: String,
    /// For the form without the workbook (its block `without_workbook`).
    #[serde(flatten)]
    pub without: WithoutWorkbook,
}

/// What the digest says when its workbook had to be left out (block `without_workbook`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct WithoutWorkbook {
    /// The workbook's name.
    pub book: String,
    pub run_dir: String,
    /// The reports are on the bureau's pages too.
    pub on_the_web: bool,
}

/// A headline figure with its colour and note.
#[derive(Debug, Serialize)]
pub struct Headline {
    pub label: String,
    pub value: String,
    pub colour: String,
    pub note: String,
}

/// A unit's line in the table (or the total's).
#[derive(Debug, Serialize)]
pub struct UnitLine {
    pub name: String,
    pub ytd: String,
    pub target: String,
    pub rate: String,
    pub gap: String,
    pub colour: String,
    pub reported: &'static str,
    pub reported_colour: String,
    pub total: bool,
}

/// The alerts of one severity.
#[derive(Debug, Serialize)]
pub struct Group {
    pub name: &'static str,
    pub colour: String,
    pub items: Vec<AlertItem>,
}

#[derive(Debug, Serialize)]
pub struct AlertItem {
    pub unit: String,
    pub message: String,
}

impl Message for DigestValues {
    const TEMPLATE: &'static str = "digest.txt";
    const ALSO: &'static [&'static str] = &["digest.html"];
    fn example() -> DigestValues {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        DigestValues {
            heading: Heading::example(),
            year: 2025,
            period_zh: "2025年6月".into(),
            ytd: "2025年1—6月".into(),
            as_of: "2025年7月6日 09:00".into(),
            deadline: "2025年7月5日".into(),
            completion: "52.30%".into(),
            schedule: "50.00%".into(),
            provisional: true,
            missing: s(&["霍山县"]),
            headline: vec![Headline {
                label: "累计完成率".into(),
                value: "52.30%".into(),
                colour: palette::OK_TEXT.css(),
                note: "序时进度 50.00%".into(),
            }],
            units: vec![UnitLine {
                name: "霍邱县".into(),
                ytd: "700".into(),
                target: "1,300".into(),
                rate: "53.85%".into(),
                gap: "+3.85个百分点".into(),
                colour: palette::OK_FILL.css(),
                reported: "已报",
                reported_colour: palette::OK_TEXT.css(),
                total: false,
            }],
            groups: vec![Group {
                name: "严重",
                colour: palette::CRITICAL_TEXT.css(),
                items: vec![AlertItem {
                    unit: "霍山县".into(),
                    message: "2025年6月数据未报送".into(),
                }],
            }],
            alert_count: 3,
            info_count: 2,
            year_end: false,
            draft: false,
            gap_header: "与序时",
            verdict: Some("考核验收：8个单位中6个达标".into()),
            review: Vec::new(),
            review_book: Some("六安市法律援助民生实事考核验收_2025.xlsx".into()),
            pending: s(&["金寨县：4月未受理审批任何案件（本月 0 件）"]),
            narratives: s(&["霍邱县：本月开展法律援助进社区活动"]),
            palette: palette::for_templates(),
            chart_note: String::new(),
            attachment_note: String::new(),
            subject: "【法律援助民生实事】六安市2025年6月汇总：完成52.30%（序时50.00%），预警3条"
                .into(),
            chart_src: "chart.png".into(),
            without: WithoutWorkbook {
                book: "六安市法律援助民生实事汇总_2025-06.xlsx".into(),
                run_dir: "output/luan-2025/2025-06".into(),
                on_the_web: true,
            },
        }
    }
}
