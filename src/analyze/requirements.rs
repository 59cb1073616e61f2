//! The year's review's requirements (SPEC §11): the one list of them. The review SQL names a
//! failed requirement from it (table `requirement_names`), the review's workbook lists it on its
//! 考核要求 sheet, the memo words each failure with its name.

use crate::config::Pipeline;
pub use crate::requirements::{Group, REQUIREMENTS, Requirement};
use polars::prelude::*;

/// The one-row table `requirement_names`: per requirement a column `name_<id>` (its name),
/// `counts_<id>` (whether it counts toward 总体结论: `[review] verdict_includes`) and `plan_<id>`
/// (whether it is the plan's own).
pub(super) fn requirement_names_frame(pipeline: &Pipeline) -> PolarsResult<DataFrame> {
    let includes = &pipeline.def.review.verdict_includes;
    let mut columns = Vec::new();
    for r in REQUIREMENTS {
        columns.push(Column::new(format!("name_{}", r.id).into(), [r.name]));
        columns.push(Column::new(
            format!("counts_{}", r.id).into(),
            [includes.iter().any(|i| i == r.id)],
        ));
        columns.push(Column::new(
            format!("plan_{}", r.id).into(),
            [r.group == Group::Plan],
        ));
    }
    DataFrame::new(1, columns)
}
