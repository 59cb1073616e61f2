-- Year over year (同比), for a pipeline that names `previous` (issue 15): the month and the year
-- to date against the same months of last year, growth as a fraction (null where last year had
-- no figure), and the open cases carried into this year as last year's figures give them
-- (last year's carry-over + approved − closed, never below 0) beside the configured
-- `carry_over` (a proposal: the bureau copies it into the pipeline file).
-- twin: yoy.csv
-- requires: previous
-- column: unit_code | 单位代码 | text
-- column: unit_name | 单位 | text
-- column: month_approved | 本月受理审批（件） | int
-- column: ly_month_approved | 去年同月（件） | int
-- column: month_growth | 本月同比增长 | percent
-- column: ytd_approved | 本年累计（件） | int
-- column: ly_ytd_approved | 去年同期累计（件） | int
-- column: ytd_growth | 累计同比增长 | percent
-- column: ly_months | 去年已报月数 | int
-- column: ly_year_approved | 去年全年受理审批（件） | int
-- column: ly_year_closed | 去年全年办结（件） | int
-- column: proposed_carry_over | 建议上年结转（件） | int
-- column: carry_over | 已配置上年结转（件） | int
WITH this_month AS (
  SELECT r.unit_code, r.cases_approved
  FROM used r CROSS JOIN params p
  WHERE r.month_num = p.month
),
this_ytd AS (
  SELECT unit_code, SUM(cases_approved) AS ytd
  FROM used
  GROUP BY unit_code
),
ly_month AS (
  SELECT l.unit_code, l.cases_approved
  FROM last_year l CROSS JOIN params p
  WHERE l.month_num = p.month
),
ly_ytd AS (
  SELECT l.unit_code, SUM(l.cases_approved) AS ytd
  FROM last_year l CROSS JOIN params p
  WHERE l.month_num <= p.month
  GROUP BY l.unit_code
),
ly_all AS (
  SELECT unit_code, SUM(cases_approved) AS approved, SUM(cases_closed) AS closed, COUNT(*) AS months
  FROM last_year
  GROUP BY unit_code
),
per_unit AS (
  SELECT u.ord, u.unit_code, u.unit_name,
         tm.cases_approved AS month_approved, lm.cases_approved AS ly_month_approved,
         COALESCE(ty.ytd, 0) AS ytd_approved, ly.ytd AS ly_ytd_approved,
         COALESCE(la.months, 0) AS ly_months,
         la.approved AS ly_year_approved, la.closed AS ly_year_closed,
         CASE WHEN la.unit_code IS NULL THEN NULL
              ELSE GREATEST(COALESCE(lu.carry_over, 0) + la.approved - la.closed, 0) END AS proposed_carry_over,
         u.carry_over
  FROM units u
  LEFT JOIN this_month tm ON tm.unit_code = u.unit_code
  LEFT JOIN this_ytd ty ON ty.unit_code = u.unit_code
  LEFT JOIN ly_month lm ON lm.unit_code = u.unit_code
  LEFT JOIN ly_ytd ly ON ly.unit_code = u.unit_code
  LEFT JOIN ly_all la ON la.unit_code = u.unit_code
  LEFT JOIN last_year_units lu ON lu.unit_code = u.unit_code
),
yoy_rows AS (
  SELECT * FROM per_unit
  UNION ALL
  SELECT CAST(1000000 AS BIGINT) AS ord, 'total' AS unit_code, '合计' AS unit_name,
         SUM(month_approved) AS month_approved, SUM(ly_month_approved) AS ly_month_approved,
         SUM(ytd_approved) AS ytd_approved, SUM(ly_ytd_approved) AS ly_ytd_approved,
         MAX(ly_months) AS ly_months,
         SUM(ly_year_approved) AS ly_year_approved, SUM(ly_year_closed) AS ly_year_closed,
         SUM(proposed_carry_over) AS proposed_carry_over, SUM(carry_over) AS carry_over
  FROM per_unit
)
SELECT yr.ord, yr.unit_code, yr.unit_name, yr.month_approved, yr.ly_month_approved,
       CAST(yr.month_approved - yr.ly_month_approved AS DOUBLE) / NULLIF(yr.ly_month_approved, 0) AS month_growth,
       yr.ytd_approved, yr.ly_ytd_approved,
       CAST(yr.ytd_approved - yr.ly_ytd_approved AS DOUBLE) / NULLIF(yr.ly_ytd_approved, 0) AS ytd_growth,
       yr.ly_months, yr.ly_year_approved, yr.ly_year_closed, yr.proposed_carry_over, yr.carry_over
FROM yoy_rows yr
ORDER BY yr.ord
