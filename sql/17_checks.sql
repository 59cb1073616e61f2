-- Soft checks (核实性审核): figures that are unusual but may be right. A row that trips one is
-- accepted, and the county explains it with a 说明 (`note`: the template's 说明 cell, or else the
-- 说明 typed on its page for that check and month, table `explained`). One row per
-- (unit, month, check) tripped in months 1..m, with the county's words where it gave them.
-- The checks and their thresholds are the pipeline's `[[soft_checks]]` (table `soft_checks`,
-- thresholds in thousandths); every comparison is exact (whole cases, whole 分, doubled medians).
-- `detail` names the figures as {figure:FMT} and {threshold:FMT} (the row's two amounts), filled
-- in by format.rs after the SQL, so no double is turned into text here.
-- Each judges only a large enough sample (`min_median2`, `min_surveyed`, `min_dissatisfied`):
-- "3 of 4 satisfied" or a jump from a median of 2 cases asks nobody for a 说明.
-- twin: checks.csv
-- column: unit_code | 单位代码 | text
-- column: unit_name | 单位 | text
-- column: period | 统计月份 | text
-- column: check_id | 检查项代码 | text
-- column: check_text | 检查项 | text
-- column: detail | 数值 | text
-- column: explained | 已说明 | bool
-- column: note | 说明 | text
WITH tripped AS (
  -- x > t × median ⇔ 2000·x > t_milli·med2
  SELECT f.unit_code, f.period, f.month_num, f.note, c.check_id,
         CONCAT('本月 ', CAST(f.cases_approved AS VARCHAR), ' 件，此前', CAST(f.n AS VARCHAR),
                '个月中位数 ', f.med_text, ' 件') AS detail,
         CAST(NULL AS DOUBLE) AS figure, CAST(NULL AS DOUBLE) AS threshold
  FROM check_facts f CROSS JOIN soft_checks c
  WHERE c.check_id = 'approvals_jump' AND f.n >= 1 AND f.med2 > 0 AND f.med2 >= c.min_median2
    AND 2000 * f.cases_approved > c.threshold_milli * f.med2
  UNION ALL
  -- x < median / t ⇔ 2·x·t_milli < 1000·med2
  SELECT f.unit_code, f.period, f.month_num, f.note, c.check_id,
         CONCAT('本月 ', CAST(f.cases_approved AS VARCHAR), ' 件，此前', CAST(f.n AS VARCHAR),
                '个月中位数 ', f.med_text, ' 件') AS detail,
         CAST(NULL AS DOUBLE) AS figure, CAST(NULL AS DOUBLE) AS threshold
  FROM check_facts f CROSS JOIN soft_checks c
  WHERE c.check_id = 'approvals_drop' AND f.n >= 1 AND f.med2 > 0 AND f.med2 >= c.min_median2
    AND f.cases_approved > 0
    AND 2 * f.cases_approved * c.threshold_milli < 1000 * f.med2
  UNION ALL
  SELECT f.unit_code, f.period, f.month_num, f.note, c.check_id,
         '办案补贴及直接费用{figure:yuan}，业务经费支出{threshold:yuan}' AS detail,
         CAST(f.spend_case_fen AS DOUBLE) / 100 AS figure, CAST(f.spend_total_fen AS DOUBLE) / 100 AS threshold
  FROM check_facts f CROSS JOIN soft_checks c
  WHERE c.check_id = 'case_share_month' AND f.spend_total_fen > 0 AND 1000 * f.spend_case_fen < c.threshold_milli * f.spend_total_fen
  UNION ALL
  SELECT f.unit_code, f.period, f.month_num, f.note, c.check_id,
         CONCAT('满意 ', CAST(f.satisfied AS VARCHAR), ' 人，回访 ', CAST(f.surveyed AS VARCHAR), ' 人') AS detail,
         CAST(NULL AS DOUBLE) AS figure, CAST(NULL AS DOUBLE) AS threshold
  FROM check_facts f CROSS JOIN soft_checks c
  WHERE c.check_id = 'satisfaction_month' AND f.surveyed > 0 AND 1000 * f.satisfied < c.threshold_milli * f.surveyed
    AND (f.surveyed >= c.min_surveyed OR f.surveyed - f.satisfied >= c.min_dissatisfied)
  UNION ALL
  SELECT f.unit_code, f.period, f.month_num, f.note, c.check_id,
         '累计到位{figure:yuan}，计划安排{threshold:yuan}' AS detail,
         CAST(f.received_fen AS DOUBLE) / 100 AS figure, CAST(f.budget_fen AS DOUBLE) / 100 AS threshold
  FROM check_facts f CROSS JOIN soft_checks c
  WHERE c.check_id = 'funds_over_budget' AND f.budget_fen > 0 AND 1000 * f.received_fen > c.threshold_milli * f.budget_fen
  UNION ALL
  SELECT f.unit_code, f.period, f.month_num, f.note, c.check_id, '本月 0 件' AS detail,
         CAST(NULL AS DOUBLE) AS figure, CAST(NULL AS DOUBLE) AS threshold
  FROM check_facts f CROSS JOIN soft_checks c
  WHERE c.check_id = 'no_cases' AND f.cases_approved = 0
)
SELECT u.ord, t.unit_code, u.unit_name, t.period, t.month_num, t.check_id, c.wording AS check_text,
       t.detail, t.figure, t.threshold,
       (t.note <> '' OR COALESCE(x.note, '') <> '') AS explained,
       CASE WHEN t.note <> '' THEN t.note ELSE COALESCE(x.note, '') END AS note
FROM tripped t
JOIN soft_checks c ON c.check_id = t.check_id
JOIN units u ON u.unit_code = t.unit_code
LEFT JOIN explained x ON x.unit_code = t.unit_code AND x.month_num = t.month_num
                     AND x.check_id = t.check_id
ORDER BY u.ord, t.month_num, t.check_id
