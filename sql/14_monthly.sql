-- Monthly detail (月度明细): cases approved per unit and month, the year so far.
-- twin: monthly.csv
-- column: unit_code | 单位代码 | text
-- column: unit_name | 单位 | text
-- column: m01 | 1月 | int
-- column: m02 | 2月 | int
-- column: m03 | 3月 | int
-- column: m04 | 4月 | int
-- column: m05 | 5月 | int
-- column: m06 | 6月 | int
-- column: m07 | 7月 | int
-- column: m08 | 8月 | int
-- column: m09 | 9月 | int
-- column: m10 | 10月 | int
-- column: m11 | 11月 | int
-- column: m12 | 12月 | int
-- column: ytd_approved | 累计 | int
WITH per_unit AS (
  SELECT u.ord, u.unit_code, u.unit_name,
         SUM(CASE WHEN r.month_num = 1 THEN r.cases_approved END) AS m01,
         SUM(CASE WHEN r.month_num = 2 THEN r.cases_approved END) AS m02,
         SUM(CASE WHEN r.month_num = 3 THEN r.cases_approved END) AS m03,
         SUM(CASE WHEN r.month_num = 4 THEN r.cases_approved END) AS m04,
         SUM(CASE WHEN r.month_num = 5 THEN r.cases_approved END) AS m05,
         SUM(CASE WHEN r.month_num = 6 THEN r.cases_approved END) AS m06,
         SUM(CASE WHEN r.month_num = 7 THEN r.cases_approved END) AS m07,
         SUM(CASE WHEN r.month_num = 8 THEN r.cases_approved END) AS m08,
         SUM(CASE WHEN r.month_num = 9 THEN r.cases_approved END) AS m09,
         SUM(CASE WHEN r.month_num = 10 THEN r.cases_approved END) AS m10,
         SUM(CASE WHEN r.month_num = 11 THEN r.cases_approved END) AS m11,
         SUM(CASE WHEN r.month_num = 12 THEN r.cases_approved END) AS m12,
         COALESCE(SUM(r.cases_approved), 0) AS ytd_approved
  FROM units u
  LEFT JOIN used r ON r.unit_code = u.unit_code
  GROUP BY u.ord, u.unit_code, u.unit_name
)
SELECT * FROM per_unit
UNION ALL
SELECT CAST(1000000 AS BIGINT) AS ord, 'total' AS unit_code, '合计' AS unit_name,
       SUM(m01) AS m01, SUM(m02) AS m02, SUM(m03) AS m03, SUM(m04) AS m04, SUM(m05) AS m05, SUM(m06) AS m06,
       SUM(m07) AS m07, SUM(m08) AS m08, SUM(m09) AS m09, SUM(m10) AS m10, SUM(m11) AS m11, SUM(m12) AS m12,
       SUM(ytd_approved) AS ytd_approved
FROM per_unit
ORDER BY ord
