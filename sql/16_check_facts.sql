-- The facts the soft checks (17_checks.sql) compare, one row per used row of months 1..m: the
-- median of the unit's earlier months (doubled, exact), funds received so far, the budget in 分.
-- Computed once here, then read by every check.
WITH pairs AS (
  SELECT r.unit_code, r.month_num, h.month_num AS h_month, h.cases_approved AS h_cases,
         h.funds_received_fen AS h_received_fen
  FROM used r
  JOIN used h ON h.unit_code = r.unit_code
),
earlier AS (
  SELECT unit_code, month_num, MEDIAN(CAST(h_cases AS DOUBLE)) AS med, COUNT(h_cases) AS n
  FROM pairs
  WHERE h_month < month_num
  GROUP BY unit_code, month_num
),
ytd AS (
  SELECT unit_code, month_num, SUM(h_received_fen) AS received_fen
  FROM pairs
  WHERE h_month <= month_num
  GROUP BY unit_code, month_num
),
facts AS (
  SELECT r.unit_code, r.period, r.month_num, r.cases_approved, r.spend_total_fen, r.spend_case_fen,
         r.surveyed, r.satisfied, COALESCE(TRIM(r.note), '') AS note,
         e.med, COALESCE(e.n, 0) AS n, CAST(ROUND(2 * COALESCE(e.med, 0)) AS BIGINT) AS med2,
         y.received_fen, CAST(ROUND(u.budget * 100) AS BIGINT) AS budget_fen,
         -- the median as people write it: 100 or 100.5
         CONCAT(CAST(CAST(FLOOR(COALESCE(e.med, 0)) AS BIGINT) AS VARCHAR),
                CASE WHEN CAST(ROUND(2 * COALESCE(e.med, 0)) AS BIGINT) % 2 = 1 THEN '.5' ELSE '' END) AS med_text
  FROM used r
  LEFT JOIN earlier e ON e.unit_code = r.unit_code AND e.month_num = r.month_num
  LEFT JOIN ytd y ON y.unit_code = r.unit_code AND y.month_num = r.month_num
  JOIN units u ON u.unit_code = r.unit_code
)
SELECT * FROM facts
