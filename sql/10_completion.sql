-- Completion (完成进度), SPEC §3: year-to-date cases against the annual target and 序时进度.
-- twin: completion.csv
-- column: unit_code | 单位代码 | text
-- column: unit_name | 单位 | text
-- column: target | 年度目标（件） | int
-- column: ytd_approved | 累计受理审批（件） | int
-- column: ytd_closed | 累计办结（件） | int
-- column: completion_rate | 完成率 | percent
-- column: schedule_rate | 序时进度 | percent
-- column: schedule_gap | 与序时进度差距 | pp
-- column: closure_rate | 结案率 | percent
-- column: remaining | 剩余任务（件） | int
-- column: required_monthly | 剩余月均需完成（件） | number
-- column: projected_year_end | 按当前进度预计全年（件） | number
-- column: months_reported | 已报送月数 | int
-- column: rank_completion | 完成率排名 | int
WITH per_unit AS (
  SELECT u.ord, u.unit_code, u.unit_name, u.target,
         COALESCE(SUM(r.cases_approved), 0) AS ytd_approved,
         COALESCE(SUM(r.cases_closed), 0) AS ytd_closed,
         COUNT(r.period) AS months_reported
  FROM units u
  LEFT JOIN used r ON r.unit_code = u.unit_code
  GROUP BY u.ord, u.unit_code, u.unit_name, u.target
),
ranked AS (
  SELECT *, CAST(ytd_approved AS DOUBLE) / target AS completion_rate,
         RANK() OVER (ORDER BY CAST(ytd_approved AS DOUBLE) / target DESC) AS rank_completion
  FROM per_unit
),
total AS (
  SELECT CAST(1000000 AS BIGINT) AS ord, 'total' AS unit_code, '合计' AS unit_name, SUM(target) AS target,
         SUM(ytd_approved) AS ytd_approved, SUM(ytd_closed) AS ytd_closed,
         CAST(NULL AS INTEGER) AS months_reported,
         CAST(SUM(ytd_approved) AS DOUBLE) / SUM(target) AS completion_rate,
         CAST(NULL AS INTEGER) AS rank_completion
  FROM per_unit
),
rows AS (
  SELECT ord, unit_code, unit_name, target, ytd_approved, ytd_closed, months_reported,
         completion_rate, CAST(rank_completion AS INTEGER) AS rank_completion
  FROM ranked
  UNION ALL
  SELECT ord, unit_code, unit_name, target, ytd_approved, ytd_closed, months_reported,
         completion_rate, rank_completion
  FROM total
),
result AS (
SELECT r.ord, r.unit_code, r.unit_name, r.target, r.ytd_approved, r.ytd_closed,
       r.completion_rate,
       -- 序时进度 counts the months due (`due_month`: m − 1 before the month's deadline)
       CAST(p.due_month AS DOUBLE) / 12 AS schedule_rate,
       r.completion_rate - CAST(p.due_month AS DOUBLE) / 12 AS schedule_gap,
       CAST(r.ytd_closed AS DOUBLE) / NULLIF(r.ytd_approved, 0) AS closure_rate,
       GREATEST(r.target - r.ytd_approved, 0) AS remaining,
       CASE WHEN p.month = 12 THEN CAST(NULL AS DOUBLE)
            ELSE CAST(GREATEST(r.target - r.ytd_approved, 0) AS DOUBLE) / (12 - p.month) END AS required_monthly,
       CAST(r.ytd_approved AS DOUBLE) * 12 / p.month AS projected_year_end,
       r.months_reported,
       r.rank_completion
FROM rows r
CROSS JOIN params p
)
-- The band of the gap (ok / warning / critical): the one home of the behind-schedule rule; the
-- alert and the colours of the workbook and digest read it. Compared exactly, in whole numbers
-- (SPEC §4): gap < −w ⇔ ytd/target − m/12 < −w_bp/10000 ⇔, times 120000·target,
-- 120000·ytd − 10000·m·target < −12·w_bp·target. A gap of exactly −5.00 pp is not below −5 pp.
-- In December the year is measured: any case short of the annual target is critical.
SELECT result.*,
       CASE WHEN p.due_month = 12 AND result.ytd_approved < result.target THEN 'critical'
            WHEN 120000 * result.ytd_approved - 10000 * p.due_month * result.target
                 < -12 * p.behind_critical_bp * result.target THEN 'critical'
            WHEN 120000 * result.ytd_approved - 10000 * p.due_month * result.target
                 < -12 * p.behind_warning_bp * result.target THEN 'warning'
            ELSE 'ok' END AS schedule_gap_band
FROM result CROSS JOIN params p
ORDER BY ord
