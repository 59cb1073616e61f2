-- Every stored version of months 1..m of the report's year that had arrived by the as-of time.
-- Inputs: submissions (every stored version), params (one row: the period and the thresholds).
-- Money is also given in whole 分 (`*_fen`): sums of integers do not depend on the order in
-- which polars adds them, so a rerun gives the same figures to the last digit.
SELECT s.*, CAST(SUBSTR(s.period, 6, 2) AS INTEGER) AS month_num,
       CAST(ROUND(s.funds_received * 100) AS BIGINT) AS funds_received_fen,
       CAST(ROUND(s.spend_total * 100) AS BIGINT) AS spend_total_fen,
       CAST(ROUND(s.spend_case * 100) AS BIGINT) AS spend_case_fen
FROM submissions s
CROSS JOIN params p
WHERE s.arrived_at <= p.as_of
  AND s.period >= p.year_start
  AND s.period <= p.period
