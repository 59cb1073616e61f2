-- 考核验收 (SPEC §11, issue 15): each requirement of the plan per unit and for the city, with
-- its figure and whether it is met, and the overall verdict (met only when every requirement
-- is). Read from the December analyses, so every figure is the December report's.
-- Exact, in whole cases, 分 and basis points:
--   年度目标完成率 ≥ review.completion_min (100%): 10000·ytd ≥ bp·target
--   资金到位率 100%, 业务经费支出率 100%, 办案补贴及直接费用占比 ≥ 70%, 案均投入 ≥ 700 元/件:
--     the bands of 12_funding.sql (the same rules as the year-end alerts)
--   满意度 ≥ review.satisfaction_min: 10000·satisfied ≥ bp·surveyed (none surveyed: not met)
--   投诉办结率 ≥ review.complaint_resolution_min (no complaint: met)
--   按时报送: no month late, none missing (01_timeliness.sql)
--   核实事项: every soft check of the year explained (17_checks.sql)
-- Two groups, each with its own conclusion: the plan's own requirements (完成率, 到位率, 支出率,
-- 占比) and the bureau's management rules (案均投入, 满意度, 投诉办结, 按时报送, 核实事项);
-- 总体结论 counts those `[review] verdict_includes` names (requirement_names.counts_<id>;
-- default the plan's four). `failed` lists every requirement not met, of either group.
-- twin (written by the review): review.csv
-- column: unit_code | 单位代码 | text
-- column: unit_name | 单位 | text
-- column: verdict | 总体结论 | verdict
-- column: plan_pass | 方案考核要求结论 | verdict
-- column: bureau_pass | 管理要求结论 | verdict
-- column: failed | 未达标事项 | text
-- column: target | 年度目标（件） | int
-- column: ytd_approved | 全年受理审批（件） | int
-- column: completion_rate | 年度目标完成率 | percent
-- column: completion_pass | 完成率结论 | verdict
-- column: arrival_rate | 资金到位率 | percent
-- column: arrival_pass | 到位率结论 | verdict
-- column: expenditure_rate | 业务经费支出率 | percent
-- column: expenditure_pass | 支出率结论 | verdict
-- column: case_share | 办案补贴及直接费用占比 | percent
-- column: case_share_pass | 占比结论 | verdict
-- column: per_case_input | 案均投入（元/件） | money
-- column: per_case_input_pass | 案均投入结论 | verdict
-- column: satisfaction_rate | 满意度 | percent
-- column: satisfaction_pass | 满意度结论 | verdict
-- column: complaint_resolution_rate | 投诉办结率 | percent
-- column: complaint_resolution_pass | 投诉办结率结论 | verdict
-- column: months_due | 应报送（月） | int
-- column: months_late | 逾期报送（月） | int
-- column: months_missing | 未报送（月） | int
-- column: on_time_pass | 按时报送结论 | verdict
-- column: checks | 核实事项（项） | int
-- column: checks_unexplained | 未说明（项） | int
-- column: checks_pass | 核实事项结论 | verdict
WITH chk_units AS (
  SELECT ck.unit_code, COUNT(*) AS checks,
         SUM(CASE WHEN ck.explained THEN 0 ELSE 1 END) AS checks_unexplained
  FROM checks ck
  GROUP BY ck.unit_code
),
chk AS (
  SELECT * FROM chk_units
  UNION ALL
  SELECT 'total' AS unit_code, COALESCE(SUM(checks), 0) AS checks,
         COALESCE(SUM(checks_unexplained), 0) AS checks_unexplained
  FROM chk_units
),
facts AS (
  SELECT c.ord, c.unit_code, c.unit_name, c.target, c.ytd_approved, c.completion_rate,
         10000 * c.ytd_approved >= pr.review_completion_bp * c.target AS completion_pass,
         f.arrival_rate, COALESCE(f.arrival_band = 'ok', FALSE) AS arrival_pass,
         f.expenditure_rate, COALESCE(f.expenditure_band = 'ok', FALSE) AS expenditure_pass,
         f.case_share, COALESCE(f.case_share_band = 'ok', FALSE) AS case_share_pass,
         f.per_case_input, COALESCE(f.per_case_input_band = 'ok', FALSE) AS per_case_input_pass,
         q.satisfaction_rate,
         q.surveyed > 0 AND 10000 * q.satisfied >= pr.review_satisfaction_bp * q.surveyed AS satisfaction_pass,
         q.complaint_resolution_rate,
         q.complaints = 0 OR 10000 * q.complaints_resolved >= pr.review_complaint_bp * q.complaints AS complaint_resolution_pass,
         t.months_due, t.months_late, t.months_missing,
         t.months_late = 0 AND t.months_missing = 0 AS on_time_pass,
         COALESCE(k.checks, 0) AS checks, COALESCE(k.checks_unexplained, 0) AS checks_unexplained,
         COALESCE(k.checks_unexplained, 0) = 0 AS checks_pass
  FROM completion c
  JOIN funding f ON f.unit_code = c.unit_code
  JOIN quality q ON q.unit_code = c.unit_code
  JOIN timeliness t ON t.unit_code = c.unit_code
  LEFT JOIN chk k ON k.unit_code = c.unit_code
  CROSS JOIN params pr
),
named AS (
  -- The names of the requirements not met, from the one list of them (requirement_names).
  SELECT fc.*,
         CONCAT(CASE WHEN fc.completion_pass THEN '' ELSE CONCAT('、', rn.name_completion) END,
                CASE WHEN fc.arrival_pass THEN '' ELSE CONCAT('、', rn.name_arrival) END,
                CASE WHEN fc.expenditure_pass THEN '' ELSE CONCAT('、', rn.name_expenditure) END,
                CASE WHEN fc.case_share_pass THEN '' ELSE CONCAT('、', rn.name_case_share) END,
                CASE WHEN fc.per_case_input_pass THEN '' ELSE CONCAT('、', rn.name_per_case_input) END,
                CASE WHEN fc.satisfaction_pass THEN '' ELSE CONCAT('、', rn.name_satisfaction) END,
                CASE WHEN fc.complaint_resolution_pass THEN '' ELSE CONCAT('、', rn.name_complaint_resolution) END,
                CASE WHEN fc.on_time_pass THEN '' ELSE CONCAT('、', rn.name_on_time) END,
                CASE WHEN fc.checks_pass THEN '' ELSE CONCAT('、', rn.name_checks) END) AS failed_list,
         ((NOT (rn.plan_completion) OR fc.completion_pass)
             AND (NOT (rn.plan_arrival) OR fc.arrival_pass)
             AND (NOT (rn.plan_expenditure) OR fc.expenditure_pass)
             AND (NOT (rn.plan_case_share) OR fc.case_share_pass)
             AND (NOT (rn.plan_per_case_input) OR fc.per_case_input_pass)
             AND (NOT (rn.plan_satisfaction) OR fc.satisfaction_pass)
             AND (NOT (rn.plan_complaint_resolution) OR fc.complaint_resolution_pass)
             AND (NOT (rn.plan_on_time) OR fc.on_time_pass)
             AND (NOT (rn.plan_checks) OR fc.checks_pass)) AS plan_pass,
         ((NOT (NOT rn.plan_completion) OR fc.completion_pass)
             AND (NOT (NOT rn.plan_arrival) OR fc.arrival_pass)
             AND (NOT (NOT rn.plan_expenditure) OR fc.expenditure_pass)
             AND (NOT (NOT rn.plan_case_share) OR fc.case_share_pass)
             AND (NOT (NOT rn.plan_per_case_input) OR fc.per_case_input_pass)
             AND (NOT (NOT rn.plan_satisfaction) OR fc.satisfaction_pass)
             AND (NOT (NOT rn.plan_complaint_resolution) OR fc.complaint_resolution_pass)
             AND (NOT (NOT rn.plan_on_time) OR fc.on_time_pass)
             AND (NOT (NOT rn.plan_checks) OR fc.checks_pass)) AS bureau_pass,
         ((NOT (rn.counts_completion) OR fc.completion_pass)
             AND (NOT (rn.counts_arrival) OR fc.arrival_pass)
             AND (NOT (rn.counts_expenditure) OR fc.expenditure_pass)
             AND (NOT (rn.counts_case_share) OR fc.case_share_pass)
             AND (NOT (rn.counts_per_case_input) OR fc.per_case_input_pass)
             AND (NOT (rn.counts_satisfaction) OR fc.satisfaction_pass)
             AND (NOT (rn.counts_complaint_resolution) OR fc.complaint_resolution_pass)
             AND (NOT (rn.counts_on_time) OR fc.on_time_pass)
             AND (NOT (rn.counts_checks) OR fc.checks_pass)) AS counted_pass
  FROM facts fc
  CROSS JOIN requirement_names rn
)
-- The conclusions come first, next to the unit, so that the printed first page has them.
SELECT nm.ord, nm.unit_code, nm.unit_name,
       CASE WHEN nm.counted_pass THEN 'pass' ELSE 'fail' END AS verdict,
       nm.plan_pass, nm.bureau_pass, SUBSTR(nm.failed_list, 2) AS failed,
       nm.target, nm.ytd_approved, nm.completion_rate,
       nm.completion_pass, nm.arrival_rate, nm.arrival_pass, nm.expenditure_rate,
       nm.expenditure_pass, nm.case_share, nm.case_share_pass, nm.per_case_input,
       nm.per_case_input_pass, nm.satisfaction_rate, nm.satisfaction_pass,
       nm.complaint_resolution_rate, nm.complaint_resolution_pass, nm.months_due, nm.months_late,
       nm.months_missing, nm.on_time_pass, nm.checks, nm.checks_unexplained, nm.checks_pass
FROM named nm
ORDER BY nm.ord
