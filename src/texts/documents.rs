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

/// The year's 考核验收报告 (texts/acceptance-report.txt): its title, addressee and body.
#[derive(Debug, Serialize)]
pub struct AcceptanceValues {
    #[serde(flatten)]
    pub heading: Heading,
    pub year: i32,
    /// Some month is not in yet: the report is provisional.
    pub provisional: bool,
    /// Whom it goes to (`[docs] acceptance_to`).
    pub to: String,
    pub per100k_line: String,
    pub summary: Vec<String>,
    /// 一 方案考核要求, 二 市局管理要求: each requirement with the units that met and missed it.
    pub groups: Vec<RequirementGroup>,
    pub verdict: String,
    /// Months still waiting for a 负责人's sign-off.
    pub unsigned: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct RequirementGroup {
    pub number: &'static str,
    pub name: &'static str,
    pub requirements: Vec<Requirement>,
}

#[derive(Debug, Serialize)]
pub struct Requirement {
    pub name: &'static str,
    /// The requirement in words (≥ 70%).
    pub words: String,
    pub met: Vec<String>,
    /// Each unit that missed it, with its figure.
    pub missed: Vec<String>,
}

impl Message for AcceptanceValues {
    const TEMPLATE: &'static str = "acceptance-report.txt";
    fn example() -> AcceptanceValues {
        AcceptanceValues {
            heading: Heading::example(),
            year: 2025,
            provisional: false,
            to: "六安市人民政府".into(),
            per100k_line: "全市全年每10万人法律援助供给量143.50件，达到年度目标（138.02件）。"
                .into(),
            summary: vec![
                "全市全年受理审批法律援助案件6,064件，完成年度目标（6,064件）的100.00%。".into(),
            ],
            groups: vec![RequirementGroup {
                number: "一",
                name: "方案考核要求",
                requirements: vec![Requirement {
                    name: "资金到位率",
                    words: "100%".into(),
                    met: vec!["霍邱县".into()],
                    missed: vec!["霍山县（97.10%）".into()],
                }],
            }],
            verdict: "全市总体结论：未达标。".into(),
            unsigned: vec!["霍邱县2025年11—12月".into()],
        }
    }
}

/// The monthly 工作通报 (texts/notice.txt): its title, addressee and body.
#[derive(Debug, Serialize)]
pub struct NoticeValues {
    #[serde(flatten)]
    pub heading: Heading,
    pub year: i32,
    pub month: u32,
    /// December's, once due: the year has closed.
    pub year_end: bool,
    /// Made before the month's deadline (征求意见稿).
    pub draft: bool,
    pub deadline_zh: String,
    pub period_zh: String,
    pub ytd_zh: String,
    /// 全市 (or the pipeline's own word).
    pub area: String,
    pub ytd: String,
    pub target: String,
    pub reached: bool,
    pub over: bool,
    pub shortfall: String,
    pub completion: String,
    pub schedule: String,
    /// The total's gap to the schedule, in percentage points, unsigned.
    pub gap: String,
    pub behind_total: bool,
    pub per100k: String,
    pub per100k_annual: String,
    pub per100k_target: String,
    pub per100k_reached: bool,
    pub warning_pp: String,
    /// The units behind (with their gap or shortfall) and their names alone.
    pub behind: Vec<String>,
    pub behind_names: Vec<String>,
    pub arrival_month: u32,
    pub checkpoints: String,
    pub arrival_schedule: String,
    /// The units below each money line (到位率, 支出率, 占比).
    pub arrival_f: Finding,
    pub expenditure_f: Finding,
    pub share_f: Finding,
    pub share_min: String,
    pub arrival: String,
    pub expenditure: String,
    pub case_share: String,
    pub missing: Vec<String>,
    pub late: Vec<String>,
    pub pending: Vec<String>,
    pub as_of: String,
    pub unsigned: Vec<String>,
    pub deadline_day: u32,
    pub deadline_rule: &'static str,
}

/// One money rule's findings: each unit whose band is not ok, with its figure (`items`), and the
/// units' names alone — a sentence built from it names exactly the units the rule finds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Finding {
    pub items: Vec<String>,
    pub names: Vec<String>,
}

impl Message for NoticeValues {
    const TEMPLATE: &'static str = "notice.txt";
    /// A June with one unit behind, one short on 到位率 and one on 占比.
    fn example() -> NoticeValues {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        NoticeValues {
            heading: Heading::example(),
            year: 2025,
            month: 6,
            year_end: false,
            draft: false,
            deadline_zh: "2025-07-05 24:00".into(),
            period_zh: "2025年6月".into(),
            ytd_zh: "2025年1—6月".into(),
            area: "全市".into(),
            ytd: "2990".into(),
            target: "6064".into(),
            reached: false,
            over: false,
            shortfall: "3074".into(),
            completion: "49.31%".into(),
            schedule: "50.00%".into(),
            gap: "0.69".into(),
            behind_total: true,
            per100k: "66.60".into(),
            per100k_annual: "133.19".into(),
            per100k_target: "135.10".into(),
            per100k_reached: false,
            warning_pp: "5".into(),
            behind: s(&["霍邱县（落后5.20个百分点）"]),
            behind_names: s(&["霍邱县"]),
            arrival_month: 6,
            checkpoints: "3、6、9、12".into(),
            arrival_schedule: "50.00%".into(),
            arrival_f: Finding {
                items: s(&["霍山县（45.00%）"]),
                names: s(&["霍山县"]),
            },
            expenditure_f: Finding::default(),
            share_f: Finding {
                items: s(&["金寨县（69.50%）"]),
                names: s(&["金寨县"]),
            },
            share_min: "70%".into(),
            arrival: "50.00%".into(),
            expenditure: "91.52%".into(),
            case_share: "80.07%".into(),
            missing: s(&["霍山县"]),
            late: s(&["舒城县"]),
            pending: s(&["叶集区6月满意度低于90%（满意12人，回访40人）"]),
            as_of: "2025年7月6日".into(),
            unsigned: s(&["霍邱县2025年6月"]),
            deadline_day: 5,
            deadline_rule: "（遇法定节假日顺延）",
        }
    }
}

/// The values of the alerts fayuan's own records raise (texts/alerts.txt, one block per rule);
/// each alert fills the fields its block names.
#[derive(Debug, Default, Serialize)]
pub struct AlertValues {
    /// `returned`: the month (2025年6月), why, who, when (2025-07-08 10:00).
    pub month_zh: String,
    pub reason: String,
    /// `returned`, `supervision`: the staff member.
    pub by: String,
    /// `returned`: when it was returned; `source`: when the source was last asked.
    pub at: String,
    /// `unconfirmed`, `unsigned`: the year and its months (`1—3月`; `unsigned`: `1—3`).
    pub year: i32,
    pub months: String,
    /// `supervision`: the item's number, past its due day, its text and due day.
    pub id: u32,
    pub overdue: bool,
    pub text: String,
    pub due: String,
    /// `source`: the source's name.
    pub source: String,
    /// `source`, `job_failed`: the last failure's reason.
    pub detail: String,
    /// `job_failed`: the job, when it first and last failed, how often.
    pub job: String,
    pub first: String,
    pub last: String,
    pub times: usize,
}

impl Message for AlertValues {
    const TEMPLATE: &'static str = "alerts.txt";
    fn example() -> AlertValues {
        AlertValues {
            month_zh: "2025年6月".into(),
            reason: "刑事案件数与台账不符".into(),
            by: "张敏".into(),
            at: "2025-07-08 10:00".into(),
            year: 2025,
            months: "1—3".into(),
            id: 2,
            overdue: true,
            text: "补报6月执行情况".into(),
            due: "2025-08-15".into(),
            source: "province".into(),
            detail: "连接超时".into(),
            job: "ingest".into(),
            first: "2025-07-03 09:00".into(),
            last: "2025-07-03 11:00".into(),
            times: 3,
        }
    }
}

/// The values of `fayuan status` and the bureau page's status (texts/status.txt).
#[derive(Debug, Default, Serialize)]
pub struct StatusValues {
    #[serde(flatten)]
    pub heading: Heading,
    pub period_zh: String,
    /// When it is as of (`2025年7月6日 09:00`) and the month's deadline, in words.
    pub now: String,
    pub deadline: String,
    /// Every unit in plan order.
    pub units: Vec<StatusUnit>,
    /// How many have reported; the names of those that have not.
    pub reported: usize,
    pub missing: Vec<String>,
    /// Units with figures that wait for a 说明.
    pub to_explain: Vec<String>,
    /// `[supervision] confirm_required`: "霍邱县 1月、2月" per unit (block `unconfirmed`), and
    /// that block as the body shows it.
    pub unconfirmed: Vec<String>,
    pub unconfirmed_line: String,
    /// The outbox's lines (`notify::status_lines`).
    pub outbox: Vec<String>,
    /// The last ten refused files, oldest first, of `rejected_count`.
    pub rejected: Vec<RefusedFile>,
    pub rejected_count: usize,
}

/// One unit's line of the status.
#[derive(Debug, Default, Serialize)]
pub struct StatusUnit {
    pub code: String,
    pub name: String,
    pub reported: bool,
    pub late: bool,
    pub version: i64,
    /// When the version in force arrived (`2025-07-04 09:00`), and the county's file.
    pub arrived: String,
    pub backfilled: bool,
    pub file: String,
    /// The soft checks waiting for its 说明.
    pub pending: Vec<String>,
    /// Versions that arrived after their month was confirmed.
    pub corrections: Vec<Correction>,
    /// Months returned for correction.
    pub returned: Vec<ReturnedMonth>,
}

/// A version waiting for 确认 (待确认的更正).
#[derive(Debug, Default, Serialize)]
pub struct Correction {
    pub month_zh: String,
    pub file: String,
    pub at: String,
}

/// A month returned for correction (已退回待修改).
#[derive(Debug, Default, Serialize)]
pub struct ReturnedMonth {
    pub month_zh: String,
    pub reason: String,
    pub by: String,
    pub at: String,
}

/// A refused file, as status lists it.
#[derive(Debug, Default, Serialize)]
pub struct RefusedFile {
    pub at: String,
    pub name: String,
    pub stored_as: String,
    /// Its first problem.
    pub problem: String,
}

impl Message for StatusValues {
    const TEMPLATE: &'static str = "status.txt";
    fn example() -> StatusValues {
        StatusValues {
            heading: Heading::example(),
            period_zh: "2025年6月".into(),
            now: "2025年7月6日 09:00".into(),
            deadline: "2025年7月5日".into(),
            units: vec![
                StatusUnit {
                    code: "341522".into(),
                    name: "霍邱县".into(),
                    reported: true,
                    late: true,
                    version: 2,
                    arrived: "2025-07-06 08:30".into(),
                    backfilled: false,
                    file: "霍邱县_2025-06.xlsx".into(),
                    pending: vec!["6月办案补贴占比低于70%（65.0%）".into()],
                    corrections: vec![Correction {
                        month_zh: "2025年5月".into(),
                        file: "霍邱县_2025-05_更正.xlsx".into(),
                        at: "2025-07-02 10:00".into(),
                    }],
                    returned: vec![ReturnedMonth {
                        month_zh: "2025年4月".into(),
                        reason: "刑事案件数与台账不符".into(),
                        by: "张敏".into(),
                        at: "2025-07-01 10:00".into(),
                    }],
                },
                StatusUnit {
                    code: "341525".into(),
                    name: "霍山县".into(),
                    ..StatusUnit::default()
                },
            ],
            reported: 1,
            missing: vec!["霍山县".into()],
            to_explain: vec!["霍邱县".into()],
            unconfirmed: vec!["霍邱县 1月、2月".into()],
            unconfirmed_line: "待确认（fayuan confirm 确认后锁定）：霍邱县 1月、2月\n".into(),
            outbox: vec!["发件箱：没有待发送的邮件".into()],
            rejected: vec![RefusedFile {
                at: "2025-07-03 09:00".into(),
                name: "金寨县_2025-06.csv".into(),
                stored_as: "（隔离区中的副本）".into(),
                problem: "第2行 受理审批案件数：“十二”不是数字".into(),
            }],
            rejected_count: 1,
        }
    }
}
