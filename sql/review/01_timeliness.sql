-- 按时报送 over the year (SPEC §11): per unit, the months 1..m whose first accepted submission
-- arrived at or after that month's deadline (late, as in 15_submissions.sql) and the months
-- with none (missing), as of the report's time; and the city's sums.
-- Inputs: arrived (01_arrived.sql), units, params, deadlines (month_num → the month's deadline).
-- column: unit_code | 单位代码 | text
-- column: unit_name | 单位 | text
-- column: months_due | 应报送（月） | int
-- column: months_late | 逾期报送（月） | int
-- column: months_missing | 未报送（月） | int
-- Only months whose deadline has passed are due (a review made before the year is over counts
-- nothing after them as missing).
WITH firsts AS (
  SELECT a.unit_code, a.month_num, MIN(a.arrived_at) AS first_arrived_at
  FROM arrived a
  GROUP BY a.unit_code, a.month_num
),
due AS (
  SELECT d.month_num
  FROM deadlines d CROSS JOIN params pr
  WHERE d.month_num <= pr.month AND d.deadline < pr.as_of
),
due_count AS (
  SELECT CAST(COUNT(*) AS BIGINT) AS months_due FROM due
),
marks AS (
  SELECT fa.unit_code, fa.month_num,
         CASE WHEN fa.first_arrived_at >= d.deadline THEN 1 ELSE 0 END AS late
  FROM firsts fa
  JOIN deadlines d ON d.month_num = fa.month_num
  JOIN due ON due.month_num = fa.month_num
),
per_unit AS (
  SELECT u.ord, u.unit_code, u.unit_name,
         COALESCE(SUM(m.late), 0) AS months_late,
         CAST(COUNT(m.month_num) AS BIGINT) AS months_reported
  FROM units u
  LEFT JOIN marks m ON m.unit_code = u.unit_code
  GROUP BY u.ord, u.unit_code, u.unit_name
),
rows AS (
  SELECT pu.ord, pu.unit_code, pu.unit_name, dc.months_due, pu.months_late,
         dc.months_due - pu.months_reported AS months_missing
  FROM per_unit pu CROSS JOIN due_count dc
)
SELECT * FROM rows
UNION ALL
SELECT CAST(1000000 AS BIGINT) AS ord, 'total' AS unit_code, '合计' AS unit_name,
       SUM(months_due) AS months_due, SUM(months_late) AS months_late,
       SUM(months_missing) AS months_missing
FROM rows
ORDER BY ord
