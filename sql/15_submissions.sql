-- Submission status (报送情况) for the report's month: who reported, when, which version is used.
-- A unit is late when its first accepted submission for the month arrived after the deadline.
-- twin: submissions.csv
-- column: unit_code | 单位代码 | text
-- column: unit_name | 单位 | text
-- column: reported | 已报送 | bool
-- column: version | 采用版本 | int
-- column: first_arrived_at | 首次报送时间 | time
-- column: arrived_at | 采用版本收到时间 | time
-- column: source_file | 采用文件 | text
-- column: late | 逾期 | bool
-- column: backfilled | 补录 | bool
-- column: deadline | 报送截止 | text
WITH first_arrival AS (
  SELECT a.unit_code, MIN(a.arrived_at) AS first_arrived_at
  FROM arrived a
  CROSS JOIN params p
  WHERE a.period = p.period
  GROUP BY a.unit_code
),
current AS (
  SELECT r.unit_code, r.version, r.arrived_at, r.source_file, r.sha256
  FROM used r
  CROSS JOIN params p
  WHERE r.period = p.period
)
SELECT u.ord, u.unit_code, u.unit_name,
       c.unit_code IS NOT NULL AS reported,
       c.version, f.first_arrived_at, c.arrived_at, c.source_file,
       COALESCE(f.first_arrived_at >= p.deadline, FALSE) AS late,
       -- Typed in by the data staff with the time the county sent it (fayuan ingest --received).
       b.sha256 IS NOT NULL AS backfilled,
       p.deadline
FROM units u
LEFT JOIN current c ON c.unit_code = u.unit_code
LEFT JOIN backfilled b ON b.sha256 = c.sha256
LEFT JOIN first_arrival f ON f.unit_code = u.unit_code
CROSS JOIN params p
ORDER BY u.ord
