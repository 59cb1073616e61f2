//! The year's review's requirements (SPEC §11, issue 23): the one list of them, pure data. The
//! definition's check knows their ids (`[review] verdict_includes`), the review SQL names a failed
//! requirement from it (table `requirement_names`, made in `analyze`), the review's workbook lists
//! it on its 考核要求 sheet, the memo words each failure with its name.

/// One requirement: its id, the name people read, the review frame's figure and verdict
/// columns, and how the figure is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requirement {
    pub id: &'static str,
    pub name: &'static str,
    pub figure: &'static str,
    pub pass: &'static str,
    pub method: &'static str,
    /// The plan's own requirement or the bureau's management rule.
    pub group: Group,
}

/// Whose requirement it is: the plan sets 完成率, 到位率, 支出率 and 占比; the bureau adds its
/// management rules (按时报送, 核实事项, 满意度, 投诉办结, 案均投入 — 700 元/件 is the 2024
/// standard each county may adjust). `[review] verdict_includes` says which count toward 总体结论
/// (default: the plan's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Plan,
    Bureau,
}

impl Group {
    pub fn zh(self) -> &'static str {
        match self {
            Group::Plan => "方案考核要求",
            Group::Bureau => "管理要求",
        }
    }
}

/// The ids of the plan's own requirements: `[review] verdict_includes` by default.
pub fn plan_ids() -> Vec<String> {
    REQUIREMENTS
        .iter()
        .filter(|r| r.group == Group::Plan)
        .map(|r| r.id.to_string())
        .collect()
}

/// In the order of the 考核验收 sheet's columns. The thresholds are the pipeline's (`[review]`,
/// `[alerts] case_share_min`, `[funding] per_case_standard`).
pub const REQUIREMENTS: [Requirement; 9] = [
    Requirement {
        id: "completion",
        name: "年度目标完成率",
        figure: "completion_rate",
        pass: "completion_pass",
        method: "全年受理审批案件数 ÷ 年度目标",
        group: Group::Plan,
    },
    Requirement {
        id: "arrival",
        name: "资金到位率",
        figure: "arrival_rate",
        pass: "arrival_pass",
        method: "全年到位经费 ÷ 计划安排经费",
        group: Group::Plan,
    },
    Requirement {
        id: "expenditure",
        name: "业务经费支出率",
        figure: "expenditure_rate",
        pass: "expenditure_pass",
        method: "全年业务经费支出 ÷ 全年到位经费",
        group: Group::Plan,
    },
    Requirement {
        id: "case_share",
        name: "办案补贴及直接费用占比",
        figure: "case_share",
        pass: "case_share_pass",
        method: "全年办案补贴及直接费用 ÷ 全年业务经费支出",
        group: Group::Plan,
    },
    Requirement {
        id: "per_case_input",
        name: "案均投入",
        figure: "per_case_input",
        pass: "per_case_input_pass",
        method: "全年到位经费 ÷ 全年受理审批案件数",
        group: Group::Bureau,
    },
    Requirement {
        id: "satisfaction",
        name: "满意度",
        figure: "satisfaction_rate",
        pass: "satisfaction_pass",
        method: "全年满意人数 ÷ 全年回访人数（无回访记录为未达标）",
        group: Group::Bureau,
    },
    Requirement {
        id: "complaint_resolution",
        name: "投诉办结率",
        figure: "complaint_resolution_rate",
        pass: "complaint_resolution_pass",
        method: "全年投诉办结件数 ÷ 全年投诉件数（无投诉为达标）",
        group: Group::Bureau,
    },
    Requirement {
        id: "on_time",
        name: "按时报送",
        figure: "months_late",
        pass: "on_time_pass",
        method: "每月数据首次报送时间不晚于报送截止时间",
        group: Group::Bureau,
    },
    Requirement {
        id: "checks",
        name: "核实事项说明",
        figure: "checks_unexplained",
        pass: "checks_pass",
        method: "数据核实提示均已在“说明”栏写明原因",
        group: Group::Bureau,
    },
];
