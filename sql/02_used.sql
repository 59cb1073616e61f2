-- The rows a report uses: for each unit and month, the latest version that had arrived.
-- twin: rows_used.csv
-- column: unit_code | 单位代码 | text
-- column: unit_name | 单位名称 | text
-- column: period | 统计月份 | text
-- column: cases_approved | 受理审批案件数 | int
-- column: cases_criminal | 其中：刑事 | int
-- column: cases_civil | 其中：民事 | int
-- column: cases_admin | 其中：行政 | int
-- column: cases_closed | 办结案件数 | int
-- column: legal_help | 法律帮助人次 | int
-- column: funds_received | 到位经费（元） | money
-- column: spend_total | 业务经费支出（元） | money
-- column: spend_case | 办案补贴及直接费用（元） | money
-- column: complaints | 投诉件数 | int
-- column: complaints_resolved | 投诉办结件数 | int
-- column: surveyed | 回访人数 | int
-- column: satisfied | 满意人数 | int
-- column: reporter | 填报人 | text
-- column: reported_on | 填报日期 | text
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
