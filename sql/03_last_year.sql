-- The previous year's figures (a pipeline that names `previous`; no rows otherwise): per unit
-- and month, the latest version of the previous pipeline's stored rows that had arrived by the
-- as-of time.
-- Inputs: last_year_submissions (the previous pipeline's store), params.
WITH ly AS (
  SELECT l.unit_code, l.period, l.version, l.cases_approved, l.cases_closed,
         CAST(SUBSTR(l.period, 6, 2) AS INTEGER) AS month_num
  FROM last_year_submissions l
  CROSS JOIN params p
  WHERE l.arrived_at <= p.as_of
    AND l.period >= p.last_year_start
    AND l.period <= p.last_year_end
),
ly_newest AS (
  SELECT unit_code, period, MAX(version) AS version
  FROM ly
  GROUP BY unit_code, period
)
SELECT ly.unit_code, ly.month_num, ly.cases_approved, ly.cases_closed
FROM ly
JOIN ly_newest n ON ly.unit_code = n.unit_code AND ly.period = n.period AND ly.version = n.version
