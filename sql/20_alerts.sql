-- Alerts (异常预警), SPEC §4, except `restated` (a comparison with the last report, added by the
-- program). Thresholds come from the pipeline definition through `params`. In `message`,
-- {figure:FMT} and {threshold:FMT} are filled in by the report layer, rounded half away from
-- zero (四舍五入): FMT is pct (52.30%), pp (−5.20个百分点), yuan (1,234.50元), int or num.
-- twin: alerts.csv
-- column: rule | 规则代码 | text
-- column: rule_zh | 预警类型 | text
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
-- The county's 说明 of the report's month, per unit.
-- The newest accepted version of each unit's month that had arrived by the as-of time: a
-- rejected file of one unit and one month that such a version came after is corrected, no alert.
corrected AS (
  SELECT unit_code, period, MAX(arrived_at) AS last_accepted
  FROM arrived
  GROUP BY unit_code, period
),
month_notes AS (
  SELECT r.unit_code, TRIM(r.note) AS note
  FROM used r CROSS JOIN params p
  WHERE r.month_num = p.month AND COALESCE(TRIM(r.note), '') <> ''
),
alerts AS (
  -- Before the deadline a month not yet in is a reminder (提示), after it 严重.
  SELECT 'missing' AS rule, CASE WHEN p.as_of <= p.deadline THEN 'info' ELSE 'critical' END AS severity,
         s.unit_code, s.unit_name,
         CAST(NULL AS DOUBLE) AS figure, CAST(NULL AS DOUBLE) AS threshold,
         CASE WHEN p.as_of <= p.deadline
              THEN CONCAT(p.period_zh, '数据尚未报送，截止 ', p.deadline_zh)
              ELSE CONCAT(p.period_zh, '数据未报送（截至 ', p.as_of_zh, '，截止 ', p.deadline_zh, '）') END AS message
  FROM submissions s CROSS JOIN params p
  WHERE NOT s.reported

  UNION ALL
  SELECT 'late' AS rule, 'info' AS severity, s.unit_code, s.unit_name,
         CAST(NULL AS DOUBLE) AS figure, CAST(NULL AS DOUBLE) AS threshold,
         CONCAT(p.period_zh, '数据于 ', REPLACE(SUBSTR(s.first_arrived_at, 1, 16), 'T', ' '), ' 报送，晚于截止时间 ', p.deadline_zh) AS message
  FROM submissions s CROSS JOIN params p
  WHERE s.late

  UNION ALL
  -- Every file rejected since the last digest that reached anyone (none falls between two).
  SELECT 'rejected' AS rule, 'critical' AS severity, COALESCE(u.unit_code, rj.unit_codes) AS unit_code,
         COALESCE(u.unit_name, '（无法识别单位）') AS unit_name,
         CAST(rj.rows_rejected AS DOUBLE) AS figure, CAST(NULL AS DOUBLE) AS threshold,
         CONCAT('文件“', rj.file_name, '”', CASE WHEN rj.outcome = 'partial' THEN '部分行被拒收' ELSE '被拒收' END,
                '（', REPLACE(SUBSTR(rj.arrived_at, 1, 16), 'T', ' '), '）：', rj.first_problem,
                CASE WHEN rj.problem_count > 1 THEN CONCAT(' 等 ', CAST(rj.problem_count AS VARCHAR), ' 个问题') ELSE '' END) AS message
  FROM rejections rj
  CROSS JOIN params p
  LEFT JOIN units u ON u.unit_code = rj.unit_codes
  LEFT JOIN corrected c ON c.unit_code = rj.unit_codes AND c.period = rj.periods
  WHERE rj.arrived_at > p.rejected_after AND rj.arrived_at <= p.as_of
    AND (c.last_accepted IS NULL OR c.last_accepted < rj.arrived_at)

  UNION ALL
  SELECT 'behind_schedule' AS rule,
         c.schedule_gap_band AS severity,
         c.unit_code, c.unit_name, c.schedule_gap AS figure,
         CASE c.schedule_gap_band WHEN 'critical' THEN -p.behind_critical ELSE -p.behind_warning END AS threshold,
         '完成进度落后序时进度{figure:pp}（预警线：落后{threshold:pp}）' AS message
  FROM units_only c CROSS JOIN params p
  WHERE c.schedule_gap_band <> 'ok' AND p.due_month < 12

  UNION ALL
  -- December: the annual target, case for case.
  SELECT 'annual_target' AS rule, 'critical' AS severity, c.unit_code, c.unit_name,
         CAST(c.ytd_approved AS DOUBLE) AS figure, CAST(c.target AS DOUBLE) AS threshold,
         CONCAT('年度目标未完成：完成', CAST(c.ytd_approved AS VARCHAR), '件，差',
                CAST(c.target - c.ytd_approved AS VARCHAR), '件（年度目标', CAST(c.target AS VARCHAR), '件）') AS message
  FROM units_only c CROSS JOIN params p
  WHERE p.due_month = 12 AND c.ytd_approved < c.target

  UNION ALL
  -- From October: the pace so far projected to the year end (ytd × 12 / m, whole cases down)
  -- falls short of the target — ytd·12 < target·m, exactly.
  SELECT 'projected_shortfall' AS rule, 'warning' AS severity, c.unit_code, c.unit_name,
         FLOOR(CAST(c.ytd_approved * 12 AS DOUBLE) / p.month) AS figure, CAST(c.target AS DOUBLE) AS threshold,
         CONCAT('按当前进度预计全年', CAST(CAST(FLOOR(CAST(c.ytd_approved * 12 AS DOUBLE) / p.month) AS BIGINT) AS VARCHAR),
                '件，差', CAST(c.target - CAST(FLOOR(CAST(c.ytd_approved * 12 AS DOUBLE) / p.month) AS BIGINT) AS VARCHAR),
                '件（年度目标', CAST(c.target AS VARCHAR), '件）') AS message
  FROM units_only c CROSS JOIN params p
  WHERE p.month BETWEEN 10 AND 11 AND c.ytd_approved * 12 < c.target * p.month

  UNION ALL
  SELECT 'case_share' AS rule, 'critical' AS severity, f.unit_code, f.unit_name,
         f.case_share AS figure, p.case_share_min AS threshold,
         CASE WHEN p.month = 12 THEN '年度要求未达到：办案补贴及直接费用占比低于{threshold:pct0}（全年{figure:pct}）'
              ELSE '办案补贴及直接费用占比{figure:pct}，低于{threshold:pct0}的要求' END AS message
  FROM fund f CROSS JOIN params p
  WHERE f.case_share_band = 'critical'

  -- Money rules in whole 分 (SPEC §4: exact).
  UNION ALL
  SELECT 'overspend' AS rule, 'warning' AS severity, f.unit_code, f.unit_name,
         f.ytd_spend AS figure, f.ytd_received AS threshold,
         '累计业务经费支出{figure:yuan}，超过累计到位经费{threshold:yuan}' AS message
  FROM fund f CROSS JOIN params p
  -- judged where 到位率 is (its checkpoints, December): before a quarter's transfer a county
  -- spends from its 预拨 or last year's balance
  WHERE f.spend_fen > f.received_fen AND p.arrival_month > 0
    AND (p.arrival_month = p.due_month OR p.month = 12)

  UNION ALL
  -- The money rules are decided in 12_funding.sql (the bands), exactly, in whole 分.
  SELECT 'arrival' AS rule, f.arrival_band AS severity,
         f.unit_code, f.unit_name, f.arrival_rate AS figure,
         CAST(p.arrival_month AS DOUBLE) / 12 AS threshold,
         CASE WHEN p.month = 12 THEN '年度要求未达到：资金到位率未达{threshold:pct0}（全年{figure:pct}）'
              ELSE CONCAT('资金到位率{figure:pct}，低于', CAST(p.arrival_month AS VARCHAR),
                          '月底应到位进度{threshold:pct}') END AS message
  FROM fund f CROSS JOIN params p
  WHERE f.arrival_band IN ('warning', 'critical')

  UNION ALL
  SELECT 'expenditure' AS rule, 'critical' AS severity, f.unit_code, f.unit_name,
         f.expenditure_rate AS figure, 1.0 AS threshold,
         '年度要求未达到：业务经费支出率未达{threshold:pct0}（全年{figure:pct}）' AS message
  FROM fund f
  WHERE f.expenditure_band = 'critical'

  UNION ALL
  SELECT 'per_case_input' AS rule, 'warning' AS severity, f.unit_code, f.unit_name,
         f.per_case_input AS figure, f.per_case_standard AS threshold,
         '案均投入{figure:yuan}/件，低于{threshold:yuan}/件的标准' AS message
  FROM fund f
  WHERE f.per_case_input_band = 'warning'

  UNION ALL
  SELECT 'spike' AS rule, 'warning' AS severity, k.unit_code, u.unit_name,
         CAST(k.x AS DOUBLE) AS figure, k.med AS threshold,
         CASE WHEN k.direction = 'zero'
              THEN CONCAT('本月受理审批0件，此前', CAST(k.n AS VARCHAR), '个月的中位数为{threshold:num}件')
              WHEN k.direction = 'up' AND k.cumulative
              THEN CONCAT('本月受理审批{figure:int}件，接近本年此前', CAST(k.n AS VARCHAR), '个月的累计',
                          CAST(k.earlier_sum AS VARCHAR), '件：疑似将累计数误填为本月数，若如此本月应为',
                          CAST(k.implied AS VARCHAR), '件（此前月中位数{threshold:num}件）')
              WHEN k.direction = 'up'
              THEN CONCAT('本月受理审批{figure:int}件，明显高于此前', CAST(k.n AS VARCHAR),
                          '个月（中位数{threshold:num}件，最多', CAST(k.largest AS VARCHAR), '件）')
              ELSE CONCAT('本月受理审批{figure:int}件，明显低于此前', CAST(k.n AS VARCHAR),
                          '个月（中位数{threshold:num}件，最少', CAST(k.smallest AS VARCHAR), '件）') END AS message
  FROM spike k
  JOIN units u ON u.unit_code = k.unit_code
  WHERE k.direction IS NOT NULL

  UNION ALL
  -- Soft checks: this month's (explained or not) and earlier months' still unexplained.
  -- (the detail's two amounts ride as figure and threshold to be filled in, then are cleared:
  -- they are not a rule's figure and threshold)
  SELECT 'soft_check' AS rule, 'info' AS severity, k.unit_code, k.unit_name,
         k.figure, k.threshold,
         CONCAT(CAST(k.month_num AS VARCHAR), '月：', k.check_text, '（', k.detail, '）',
                CASE WHEN k.explained THEN CONCAT('；已说明：', k.note) ELSE '；待说明' END) AS message
  FROM checks k CROSS JOIN params p
  WHERE k.month_num = p.month OR NOT k.explained

  UNION ALL
  SELECT 'inconsistent' AS rule, 'warning' AS severity, q.unit_code, q.unit_name,
         CAST(q.complaints_resolved AS DOUBLE) AS figure, CAST(q.complaints AS DOUBLE) AS threshold,
         '累计投诉办结{figure:int}件，多于累计投诉{threshold:int}件' AS message
  FROM qual q
  WHERE q.complaints_resolved > q.complaints

  UNION ALL
  SELECT 'inconsistent' AS rule, 'warning' AS severity, c.unit_code, c.unit_name,
         CAST(c.ytd_closed AS DOUBLE) AS figure, CAST(c.ytd_approved + u.carry_over AS DOUBLE) AS threshold,
         '累计办结{figure:int}件，多于累计受理审批与上年结转之和{threshold:int}件' AS message
  FROM units_only c
  JOIN units u ON u.unit_code = c.unit_code
  WHERE c.ytd_closed > c.ytd_approved + u.carry_over
)
-- Words and order of each severity come from `severities` (made from analyze::Severity), the
-- names of the rules from `rules` (analyze::RULES).
-- An alert about the month's figures carries the county's 说明 of that month (已说明：…).
SELECT a.rule, COALESCE(k.rule_zh, a.rule) AS rule_zh, a.severity, s.severity_zh,
       a.unit_code, a.unit_name, a.figure, a.threshold,
       CASE WHEN a.rule IN ('spike', 'case_share') AND n.note IS NOT NULL
            THEN CONCAT(a.message, '（已说明：', n.note, '）')
            ELSE a.message END AS message,
       s.severity_order,
       COALESCE(u.ord, 999999) AS ord
FROM alerts a
JOIN severities s ON s.severity = a.severity
LEFT JOIN rules k ON k.rule = a.rule
LEFT JOIN month_notes n ON n.unit_code = a.unit_code
LEFT JOIN units u ON u.unit_code = a.unit_code
ORDER BY severity_order, ord, a.rule
