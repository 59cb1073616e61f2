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

/// The error report placed beside a rejected (or partly accepted) file, for county staff
/// (texts/error-report.txt).
pub(super) fn error_report(
    pipeline: &crate::config::Pipeline,
    entry: &FileEntry,
    checked: &Checked,
) -> crate::error::Result<String> {
    pipeline
        .texts
        .body_of(&crate::texts::contexts::ErrorReport {
            heading: pipeline.heading(),
            file_name: entry.file_name.clone(),
            arrived_at: entry.arrived_at.to_string(),
            sha256: entry.sha256.clone(),
            partial: entry.outcome == Outcome::Partial,
            rows_accepted: entry.rows_accepted,
            rows_rejected: entry.rows_rejected,
            problem_count: checked.problem_count,
            unlisted: checked.unlisted(),
            problems: problem_lines(&entry.file_name, checked),
        })
}

impl super::Summary {
    /// What an ingest took, in words, for the command line: every file (only those that need
    /// attention when there are many), the problems of those not accepted, the counts.
    pub fn describe(&self) -> String {
        use crate::store::Outcome;
        let mark = |o: Outcome| match o {
            Outcome::Accepted => "✓",
            Outcome::Partial => "△",
            Outcome::Rejected => "✗",
            Outcome::Duplicate => "=",
        };
        let mut out = String::new();
        for l in &self.left {
            out.push_str(&format!("… {}：暂未收取——{}\n", l.name, l.reason));
        }
        if self.files.is_empty() {
            out.push_str("收件箱中没有新文件。\n");
            return out;
        }
        let brief = self.files.len() > 50;
        for f in self
            .files
            .iter()
            .filter(|f| !brief || f.outcome != Outcome::Accepted)
        {
            out.push_str(&format!(
                "{} {}：{}（{} 行）→ {}\n",
                mark(f.outcome),
                f.file_name,
                f.outcome.zh(),
                f.rows_accepted,
                f.stored_as
            ));
            if f.outcome != Outcome::Accepted {
                for line in f.problems.lines() {
                    out.push_str(&format!("    {line}\n"));
                }
            }
        }
        out.push_str(&format!(
            "共 {} 个文件：接收 {}，部分接收 {}，拒收 {}，重复 {}。\n",
            self.files.len(),
            self.count(Outcome::Accepted),
            self.count(Outcome::Partial),
            self.count(Outcome::Rejected),
            self.count(Outcome::Duplicate)
        ));
        out
    }
}
