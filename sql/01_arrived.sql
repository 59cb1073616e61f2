-- Every stored version of months 1..m of the report's year that had arrived by the as-of time.
-- Inputs: submissions (every stored version), params (one row: the period and the thresholds).
SELECT s.*, CAST(SUBSTR(s.period, 6, 2) AS INTEGER) AS month_num
FROM submissions s
CROSS JOIN params p
WHERE s.arrived_at <= p.as_of
  AND s.period >= p.year_start
  AND s.period <= p.period
