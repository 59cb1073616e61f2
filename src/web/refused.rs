//! The files refused, as the pages list them: under the name their sender gave, with whether a
//! later version replaced them — and on a unit's page never another unit's cells.

use crate::status::UnitRow;
use crate::store::{FileEntry, Outcome};
use serde::Serialize;

/// A refused file as the pages list it.
#[derive(Serialize)]
pub(super) struct Refused {
    name: String,
    arrived: String,
    problems: String,
    /// 已被第N版取代: a version of its month(s) accepted since is in force.
    replaced: Option<String>,
}

/// The name a person gave a file: the last part of its inbox name (an upload's inbox folder is
/// fayuan's own).
fn own_name(file_name: &str) -> &str {
    file_name.rsplit('/').next().unwrap_or(file_name)
}

/// The last ten files refused (newest first) among `files` that `keep` keeps, each under the
/// name its sender gave it, and whether a later accepted file of the same unit and month has
/// replaced it (the version in force, from `grid`).
pub(super) fn refused(
    files: &[FileEntry],
    grid: &[UnitRow],
    keep: impl Fn(&FileEntry) -> bool,
    own: Option<&str>,
) -> Vec<Refused> {
    files
        .iter()
        .filter(|f| f.outcome == Outcome::Rejected && keep(f))
        .rev()
        .take(10)
        .map(|f| {
            let name = own_name(&f.file_name);
            let replaced = f.periods.iter().find_map(|p| {
                    let later = files.iter().any(|g| {
                        matches!(g.outcome, Outcome::Accepted | Outcome::Partial)
                            && g.arrived_at > f.arrived_at
                            && g.names_period(*p)
                            && g.unit_codes.iter().any(|c| f.names_unit(c.as_str()))
                    });
                    let month = p.month();
                    let version = grid
                        .iter()
                        .filter(|r| f.names_unit(&r.code))
                        .flat_map(|r| r.months.iter())
                        .find(|c| c.month == month)?
                        .version?;
                    later.then(|| format!("{}月已被第{version}版取代", month))
                });
            // A unit's page never quotes another unit's cells: a file with several units' rows
            // (the city's bulk sheet) is named, its problems are not.
            let others = f
                .unit_codes
                .iter()
                .filter(|c| Some(c.as_str()) != own)
                .count();
            let problems = if own.is_some() && others > 0 {
                format!(
                    "此文件含多个单位的数据（另有 {others} 个单位），因有错误未被接收；错误涉及的单元格由市局数据人员处理，此处不列出其他单位的数据。本单位的数据以本页“各月报送情况”为准。"
                )
            } else {
                f.problems.replace(&f.file_name, name)
            };
            Refused {
                name: name.to_string(),
                arrived: f.arrived_at.minute(),
                problems,
                replaced,
            }
        })
        .collect()
}
