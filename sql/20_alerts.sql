-- Alerts (异常预警), SPEC §4, except `restated` (a comparison with the last report, added by the
-- program). Thresholds come from the pipeline definition through `params`. In `message`,
-- {figure:FMT} and {threshold:FMT} are filled in by the report layer, rounded half away from
-- zero (四舍五入): FMT is pct (52.30%), pp (−5.20个百分点), yuan (1,234.50元), int or num.
-- twin: alerts.csv
-- column: rule | 规则 | text
-- column: severity | 级别代码 | text
-- column: severity_zh | 级别 | text
-- column: unit_code | 单位代码 | text
-- column: unit_name | 单位 | text
-- column: figure | 数值 | number
-- column: threshold | 阈值 | number
-- column: message | 说明 | text
WITH
units_only AS (SELECT * FROM completion WHERE unit_code <> 'total'),
fund AS (SELECT * FROM funding WHERE unit_code <> 'total'),
qual AS (SELECT * FROM quality WHERE unit_code <> 'total'),
-- Spike: this month's cases against the unit's own earlier months (robust z with the median
-- absolute deviation, floored at spike_mad_floor cases so that identical months do not make
-- every change infinite).
hist AS (
  SELECT r.unit_code, CAST(r.cases_approved AS DOUBLE) AS x
  FROM used r CROSS JOIN params p
  WHERE r.month_num < p.month
),
hist_median AS (
  SELECT unit_code, MEDIAN(x) AS med, COUNT(x) AS n FROM hist GROUP BY unit_code
),
hist_mad AS (
  SELECT h.unit_code, MEDIAN(ABS(h.x - m.med)) AS mad
  FROM hist h JOIN hist_median m ON h.unit_code = m.unit_code
  GROUP BY h.unit_code
),
this_month AS (
  SELECT r.unit_code, CAST(r.cases_approved AS DOUBLE) AS x
  FROM used r CROSS JOIN params p
  WHERE r.month_num = p.month
),
spike AS (
  SELECT t.unit_code, t.x, m.med, m.n,
         0.6745 * (t.x - m.med) / GREATEST(d.mad, p.spike_mad_floor) AS z
  FROM this_month t
  JOIN hist_median m ON t.unit_code = m.unit_code
  JOIN hist_mad d ON t.unit_code = d.unit_code
  CROSS JOIN params p
),
alerts AS (
  SELECT 'missing' AS rule, 'critical' AS severity, s.unit_code, s.unit_name,
         CAST(NULL AS DOUBLE) AS figure, CAST(NULL AS DOUBLE) AS threshold,
         CONCAT(p.period_zh, '数据未报送（截至 ', p.as_of_zh, '，截止 ', p.deadline_zh, '）') AS message
  FROM submissions s CROSS JOIN params p
  WHERE NOT s.reported

  UNION ALL
  SELECT 'late' AS rule, 'info' AS severity, s.unit_code, s.unit_name,
         CAST(NULL AS DOUBLE) AS figure, CAST(NULL AS DOUBLE) AS threshold,
         CONCAT(p.period_zh, '数据于 ', REPLACE(SUBSTR(s.first_arrived_at, 1, 16), 'T', ' '), ' 报送，晚于截止时间 ', p.deadline_zh) AS message
  FROM submissions s CROSS JOIN params p
  WHERE s.late

  UNION ALL
  SELECT 'rejected' AS rule, 'critical' AS severity, COALESCE(u.unit_code, r.unit_codes) AS unit_code,
         COALESCE(u.unit_name, '（无法识别单位）') AS unit_name,
         CAST(r.rows_rejected AS DOUBLE) AS figure, CAST(NULL AS DOUBLE) AS threshold,
         CONCAT('文件“', r.file_name, '”', CASE WHEN r.outcome = 'partial' THEN '部分行被拒收' ELSE '被拒收' END,
                '（', REPLACE(SUBSTR(r.arrived_at, 1, 16), 'T', ' '), '）：', r.first_problem,
                CASE WHEN r.problem_count > 1 THEN CONCAT(' 等 ', CAST(r.problem_count AS VARCHAR), ' 个问题') ELSE '' END) AS message
  FROM rejections r
  CROSS JOIN params p
  LEFT JOIN units u ON u.unit_code = r.unit_codes
  WHERE r.arrived_at >= p.window_start AND r.arrived_at <= p.as_of

  UNION ALL
  SELECT 'behind_schedule' AS rule,
         c.schedule_gap_band AS severity,
         c.unit_code, c.unit_name, c.schedule_gap AS figure,
         CASE c.schedule_gap_band WHEN 'critical' THEN -p.behind_critical ELSE -p.behind_warning END AS threshold,
         '完成进度落后序时进度 {figure:pp}（预警线：落后 {threshold:pp}）' AS message
  FROM units_only c CROSS JOIN params p
  WHERE c.schedule_gap_band <> 'ok'

  UNION ALL
  SELECT 'case_share' AS rule, 'critical' AS severity, f.unit_code, f.unit_name,
         f.case_share AS figure, p.case_share_min AS threshold,
         '办案补贴及直接费用占比 {figure:pct}，低于 {threshold:pct} 的要求' AS message
  FROM fund f CROSS JOIN params p
  WHERE f.case_share_band = 'critical'

  UNION ALL
  SELECT 'overspend' AS rule, 'warning' AS severity, f.unit_code, f.unit_name,
         f.ytd_spend AS figure, f.ytd_received AS threshold,
         '累计业务经费支出 {figure:yuan}，超过累计到位经费 {threshold:yuan}' AS message
  FROM fund f
  WHERE f.ytd_spend > f.ytd_received

  UNION ALL
  SELECT 'arrival' AS rule, CASE WHEN p.month = 12 THEN 'critical' ELSE 'warning' END AS severity,
         f.unit_code, f.unit_name, f.arrival_rate AS figure,
         CASE WHEN p.month = 12 THEN 1.0 ELSE CAST(p.month AS DOUBLE) / 12 END AS threshold,
         CASE WHEN p.month = 12 THEN '资金到位率 {figure:pct}，年底未达到 {threshold:pct}'
              ELSE '资金到位率 {figure:pct}，低于序时进度 {threshold:pct}' END AS message
  FROM fund f CROSS JOIN params p
  WHERE (p.month = 12 AND f.arrival_rate < 1.0)
     OR (p.month < 12 AND f.arrival_rate < CAST(p.month AS DOUBLE) / 12)

  UNION ALL
  SELECT 'expenditure' AS rule, 'critical' AS severity, f.unit_code, f.unit_name,
         f.expenditure_rate AS figure, 1.0 AS threshold,
         '业务经费支出率 {figure:pct}，年底未达到 {threshold:pct}' AS message
  FROM fund f CROSS JOIN params p
  WHERE p.month = 12 AND f.expenditure_rate < 1.0

  UNION ALL
  SELECT 'per_case_input' AS rule, 'warning' AS severity, f.unit_code, f.unit_name,
         f.per_case_input AS figure, f.per_case_standard AS threshold,
         '案均投入 {figure:yuan}/件，低于 {threshold:yuan}/件 的标准' AS message
  FROM fund f
  WHERE f.per_case_input < f.per_case_standard

  UNION ALL
  SELECT 'spike' AS rule, 'warning' AS severity, k.unit_code, u.unit_name, k.x AS figure, k.med AS threshold,
         CASE WHEN k.x = 0 AND k.med >= p.spike_zero_median
              THEN CONCAT('本月受理审批 0 件，此前', CAST(k.n AS VARCHAR), '个月的中位数为 {threshold:num} 件')
              ELSE CONCAT('本月受理审批 {figure:int} 件，明显偏离此前', CAST(k.n AS VARCHAR), '个月的中位数 {threshold:num} 件') END AS message
  FROM spike k
  JOIN units u ON u.unit_code = k.unit_code
  CROSS JOIN params p
  WHERE k.n >= p.spike_min_history
    AND (ABS(k.z) > p.spike_z OR (k.x = 0 AND k.med >= p.spike_zero_median))

  UNION ALL
  SELECT 'inconsistent' AS rule, 'warning' AS severity, q.unit_code, q.unit_name,
         CAST(q.complaints_resolved AS DOUBLE) AS figure, CAST(q.complaints AS DOUBLE) AS threshold,
         '累计投诉办结 {figure:int} 件，多于累计投诉 {threshold:int} 件' AS message
  FROM qual q
  WHERE q.complaints_resolved > q.complaints

  UNION ALL
  SELECT 'inconsistent' AS rule, 'warning' AS severity, c.unit_code, c.unit_name,
         CAST(c.ytd_closed AS DOUBLE) AS figure, CAST(c.ytd_approved + u.carry_over AS DOUBLE) AS threshold,
         '累计办结 {figure:int} 件，多于累计受理审批与上年结转之和 {threshold:int} 件' AS message
  FROM units_only c
  JOIN units u ON u.unit_code = c.unit_code
  WHERE c.ytd_closed > c.ytd_approved + u.carry_over
)
-- Words and order of each severity come from `severities` (made from analyze::Severity).
SELECT a.rule, a.severity, s.severity_zh,
       a.unit_code, a.unit_name, a.figure, a.threshold, a.message,
       s.severity_order,
       COALESCE(u.ord, 999999) AS ord
FROM alerts a
JOIN severities s ON s.severity = a.severity
LEFT JOIN units u ON u.unit_code = a.unit_code
ORDER BY severity_order, ord, a.rule
