-- The rows a report uses: for each unit and month, the latest version that had arrived.
-- twin: rows_used.csv
-- columns: submission fields
-- column: version | 版本 | int
-- column: arrived_at | 收到时间 | time
-- column: source_file | 来源文件 | text
-- column: sha256 | SHA-256 | text
WITH newest AS (
  SELECT unit_code, period, MAX(version) AS version
  FROM arrived
  GROUP BY unit_code, period
)
SELECT a.*, u.ord
FROM arrived a
JOIN newest n ON a.unit_code = n.unit_code AND a.period = n.period AND a.version = n.version
JOIN units u ON u.unit_code = a.unit_code
ORDER BY u.ord, a.period
