-- The rows a report uses: for each unit and month, the latest version that had arrived — but
-- for a confirmed month (table `locks`, issue 25's 确认), the latest that had arrived by its
-- confirmation: a later one waits (待确认的更正) until the month is confirmed again.
-- twin: rows_used.csv
-- columns: submission fields
-- column: version | 版本 | int
-- column: arrived_at | 收到时间 | time
-- column: source_file | 来源文件 | text
-- column: sha256 | SHA-256 | text
WITH newest AS (
  SELECT a.unit_code, a.period, MAX(a.version) AS version
  FROM arrived a
  LEFT JOIN locks l ON l.unit_code = a.unit_code AND l.period = a.period
  WHERE l.locked_at IS NULL OR a.arrived_at <= l.locked_at
  GROUP BY a.unit_code, a.period
)
SELECT a.*, u.ord
FROM arrived a
JOIN newest n ON a.unit_code = n.unit_code AND a.period = n.period AND a.version = n.version
JOIN units u ON u.unit_code = a.unit_code
ORDER BY u.ord, a.period
