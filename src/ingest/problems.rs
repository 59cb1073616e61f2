//! A file's problems as people read them: one line each naming the file, the first few recorded
//! with it in the store, and the error report placed beside a rejected file.

use super::validate::Checked;
use crate::store::{FileEntry, Outcome};

/// Each problem as one line that names the file: `霍邱县_2025-06.xlsx 月报!D5 受理审批案件数：…`.
pub fn problem_lines(name: &str, checked: &Checked) -> Vec<String> {
    checked
        .problems
        .iter()
        .map(|p| format!("{name} {p}"))
        .collect()
}

/// Problems listed in the store's record of a file (and so in `status`, the digest and the
/// workbook); the error report beside the file lists up to `limits.max_problems`.
pub(super) const RECORDED_PROBLEMS: usize = 20;

/// The problems as recorded with the file: the first few, then how many more there are.
pub(super) fn recorded_problems(name: &str, checked: &Checked) -> String {
    let lines = problem_lines(name, checked);
    let mut text = lines
        .iter()
        .take(RECORDED_PROBLEMS)
        .cloned()
        .collect::<Vec<_>>()
        .join("\n");
    let more = checked.problem_count.saturating_sub(RECORDED_PROBLEMS);
    if more > 0 {
        text.push_str(&format!("\n……另有 {more} 个问题，详见错误报告"));
    }
    text
}

/// The error report placed beside a rejected (or partly accepted) file, for county staff.
pub(super) fn error_report(title: &str, entry: &FileEntry, checked: &Checked) -> String {
    let verdict = match entry.outcome {
        Outcome::Partial => format!(
            "部分接收：已导入 {} 行，以下问题所在的 {} 行未导入。请更正后重新报送。",
            entry.rows_accepted, entry.rows_rejected
        ),
        _ => "已拒收，本文件的数据均未导入。请更正以下全部问题后重新报送整个文件。".into(),
    };
    let mut out = format!(
        "{title}月报 数据校验报告\n\n文件：{}\n收到时间：{}\nSHA-256：{}\n结论：{}\n\n问题清单（共 {} 个）：\n",
        entry.file_name, entry.arrived_at, entry.sha256, verdict, checked.problem_count
    );
    for (i, line) in problem_lines(&entry.file_name, checked).iter().enumerate() {
        out.push_str(&format!("{}. {line}\n", i + 1));
    }
    if checked.unlisted() > 0 {
        out.push_str(&format!(
            "……另有 {} 个问题未列出（共 {} 个）。请先更正以上问题，再检查整个文件。\n",
            checked.unlisted(),
            checked.problem_count
        ));
    }
    out.push_str(
        "\n报送要求：每行为一个单位一个月的本月数（非累计数）；表头须包含“单位代码”等规定列名；\n金额单位为元，最多两位小数；案件数为不小于0的整数。\n",
    );
    out
}
