-- Spike (SPEC §4, v2), computed once for the alerts (20_alerts.sql reads `spike`): one row per
-- unit with at least the minimum history, with its direction (up, down, zero) or none.
WITH
-- This month's cases x against the unit's own earlier months of the year.
-- Robust z = 0.6745·(x − median)/max(MAD, floor) beyond ±z, compared exactly: medians are
-- whole or half cases, so doubled (med2, mad2) they are whole numbers, and
-- 0.6745·(x − med)/M > z_milli/1000 ⇔ 6745·(2x − med2) > 10·z_milli·M2.
-- Upward only when x is also above 1.5 × the largest earlier month (a December push is not a
-- spike), downward only when below 0.5 × the smallest; or x = 0 when the median is ≥ 5.
hist AS (
  SELECT r.unit_code, r.cases_approved AS x
  FROM used r CROSS JOIN params p
  WHERE r.month_num < p.month
),
hist_median AS (
  SELECT unit_code, MEDIAN(CAST(x AS DOUBLE)) AS med, COUNT(x) AS n,
         MAX(x) AS largest, MIN(x) AS smallest, SUM(x) AS earlier_sum
  FROM hist GROUP BY unit_code
),
hist_mad AS (
  SELECT h.unit_code, MEDIAN(ABS(CAST(h.x AS DOUBLE) - m.med)) AS mad
  FROM hist h JOIN hist_median m ON h.unit_code = m.unit_code
  GROUP BY h.unit_code
),
this_month AS (
  SELECT r.unit_code, r.cases_approved AS x
  FROM used r CROSS JOIN params p
  WHERE r.month_num = p.month
),
ly_same AS (
  SELECT l.unit_code, l.cases_approved AS ly_x
  FROM last_year l CROSS JOIN params p
  WHERE l.month_num = p.month
),
ly_before AS (
  SELECT l.unit_code, SUM(l.cases_approved) AS ly_earlier
  FROM last_year l CROSS JOIN params p
  WHERE l.month_num < p.month
  GROUP BY l.unit_code
),
spike_in AS (
  SELECT t.unit_code, t.x, m.med, m.n, m.largest, m.smallest, m.earlier_sum,
         ls.ly_x, lb.ly_earlier,
         COALESCE(ls.ly_x IS NOT NULL AND lb.ly_earlier > 0 AND m.earlier_sum > 0
                  AND 1000 * ABS(t.x * lb.ly_earlier - ls.ly_x * m.earlier_sum)
                      <= p.spike_last_year_milli * ls.ly_x * m.earlier_sum, FALSE) AS like_last_year,
         6745 * (2 * t.x - CAST(ROUND(2 * m.med) AS BIGINT)) AS lhs,
         10 * p.spike_z_milli * GREATEST(CAST(ROUND(2 * d.mad) AS BIGINT), p.spike_mad_floor2) AS rhs,
         CAST(ROUND(2 * m.med) AS BIGINT) AS med2
  FROM this_month t
  JOIN hist_median m ON t.unit_code = m.unit_code
  JOIN hist_mad d ON t.unit_code = d.unit_code
  LEFT JOIN ly_same ls ON ls.unit_code = t.unit_code
  LEFT JOIN ly_before lb ON lb.unit_code = t.unit_code
  CROSS JOIN params p
  WHERE m.n >= p.spike_min_history
),
spike AS (
  SELECT k.*,
         CASE WHEN k.like_last_year THEN NULL
              WHEN k.x = 0 AND k.med2 >= p.spike_zero_median2 THEN 'zero'
              WHEN k.lhs > k.rhs AND 1000 * k.x > p.spike_above_milli * k.largest THEN 'up'
              WHEN k.lhs < -k.rhs AND 1000 * k.x < p.spike_below_milli * k.smallest THEN 'down'
              ELSE NULL END AS direction,
         -- A cumulative figure typed as the month's: x is the earlier months' total plus a
         -- month that would itself be ordinary (not above 1.5 × the largest).
         k.x - k.earlier_sum AS implied,
         k.earlier_sum > 0 AND k.x >= k.earlier_sum
           AND 1000 * (k.x - k.earlier_sum) <= p.spike_above_milli * k.largest AS cumulative
  FROM spike_in k CROSS JOIN params p
)
SELECT * FROM spike
