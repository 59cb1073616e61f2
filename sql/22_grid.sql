-- The units × months grid (报送情况 on the web pages): each unit's state for each month 1..m, as
-- of the as-of time. The one home of these states; the pages only paint them.
--   returned 已退回  reported, and the month was returned for correction (退回) and no new
--                    version has come since
--   pending  待说明  reported, and a soft check of that month waits for the county's 说明
--   late     逾期    reported, the first file of the month after its deadline
--   ok       已报    reported in time
--   rejected 被拒    nothing accepted, and a file of the unit was refused while the month was
--                    being collected (arrived in the month after it: a refusal in October is
--                    about September, not about every month still missing)
--   missing  未报    nothing accepted, the deadline passed
--   none     —       nothing yet, not yet due
-- Inputs: units, deadlines (with the month each is collected in), params, arrived, used, checks,
-- rejections, returned (the open returns: unit_code, period).
WITH months AS (
  SELECT d.month_num, d.deadline, d.collected_in
  FROM deadlines d CROSS JOIN params p
  WHERE d.month_num <= p.month
),
cells AS (
  SELECT u.ord, u.unit_code, u.unit_name, m.month_num, m.deadline, m.collected_in
  FROM units u CROSS JOIN months m
),
first_arrival AS (
  SELECT unit_code, CAST(month_num AS BIGINT) AS month_num, MIN(arrived_at) AS first_arrived_at
  FROM arrived
  GROUP BY unit_code, month_num
),
current AS (
  SELECT unit_code, CAST(month_num AS BIGINT) AS month_num, CAST(version AS BIGINT) AS version
  FROM used
),
returned_months AS (
  SELECT DISTINCT r.unit_code, CAST(SUBSTR(r.period, 6, 2) AS BIGINT) AS month_num
  FROM returned r
  CROSS JOIN params p
  WHERE SUBSTR(r.period, 1, 4) = SUBSTR(p.period, 1, 4)
),
pending AS (
  SELECT unit_code, CAST(month_num AS BIGINT) AS month_num, COUNT(*) AS n_pending
  FROM checks
  WHERE NOT explained
  GROUP BY unit_code, month_num
),
refused AS (
  SELECT c.unit_code, c.month_num, COUNT(*) AS n_refused
  FROM cells c
  CROSS JOIN rejections rj
  CROSS JOIN params p
  WHERE rj.outcome = 'rejected'
    AND rj.arrived_at <= p.as_of
    AND SUBSTR(rj.arrived_at, 1, 7) = c.collected_in
    AND STRPOS(CONCAT(',', rj.unit_codes, ','), CONCAT(',', c.unit_code, ',')) > 0
  GROUP BY c.unit_code, c.month_num
),
graded AS (
SELECT c.ord, c.unit_code, c.unit_name, c.month_num, v.version,
       CASE
         WHEN v.version IS NOT NULL AND rt.unit_code IS NOT NULL THEN 'returned'
         WHEN v.version IS NOT NULL AND q.n_pending IS NOT NULL THEN 'pending'
         WHEN v.version IS NOT NULL AND f.first_arrived_at >= c.deadline THEN 'late'
         WHEN v.version IS NOT NULL THEN 'ok'
         WHEN rf.n_refused IS NOT NULL THEN 'rejected'
         WHEN p.as_of >= c.deadline THEN 'missing'
         ELSE 'none'
       END AS state
FROM cells c
CROSS JOIN params p
LEFT JOIN current v ON v.unit_code = c.unit_code AND v.month_num = c.month_num
LEFT JOIN first_arrival f ON f.unit_code = c.unit_code AND f.month_num = c.month_num
LEFT JOIN pending q ON q.unit_code = c.unit_code AND q.month_num = c.month_num
LEFT JOIN refused rf ON rf.unit_code = c.unit_code AND rf.month_num = c.month_num
LEFT JOIN returned_months rt ON rt.unit_code = c.unit_code AND rt.month_num = c.month_num
)
SELECT ord, unit_code, unit_name, month_num, version, state,
       CASE state WHEN 'returned' THEN '已退回' WHEN 'pending' THEN '待说明' WHEN 'late' THEN '逾期' WHEN 'ok' THEN '已报'
                  WHEN 'rejected' THEN '被拒' WHEN 'missing' THEN '未报' ELSE '—' END AS state_zh
FROM graded
ORDER BY ord, month_num
