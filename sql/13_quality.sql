-- Quality (质量), SPEC §3: complaints resolved and satisfaction, year to date.
-- twin: quality.csv
-- column: unit_code | 单位代码 | text
-- column: unit_name | 单位 | text
-- column: complaints | 累计投诉（件） | int
-- column: complaints_resolved | 累计投诉办结（件） | int
-- column: complaint_resolution_rate | 投诉办结率 | percent
-- column: surveyed | 累计回访（人） | int
-- column: satisfied | 累计满意（人） | int
-- column: satisfaction_rate | 满意率 | percent
-- column: legal_help | 累计法律帮助（人次） | int
WITH per_unit AS (
  SELECT u.ord, u.unit_code, u.unit_name,
         COALESCE(SUM(r.complaints), 0) AS complaints,
         COALESCE(SUM(r.complaints_resolved), 0) AS complaints_resolved,
         COALESCE(SUM(r.surveyed), 0) AS surveyed,
         COALESCE(SUM(r.satisfied), 0) AS satisfied,
         COALESCE(SUM(r.legal_help), 0) AS legal_help
  FROM units u
  LEFT JOIN used r ON r.unit_code = u.unit_code
  GROUP BY u.ord, u.unit_code, u.unit_name
),
rows AS (
  SELECT * FROM per_unit
  UNION ALL
  SELECT CAST(1000000 AS BIGINT) AS ord, 'total' AS unit_code, '合计' AS unit_name,
         SUM(complaints) AS complaints, SUM(complaints_resolved) AS complaints_resolved,
         SUM(surveyed) AS surveyed, SUM(satisfied) AS satisfied, SUM(legal_help) AS legal_help
  FROM per_unit
)
SELECT ord, unit_code, unit_name, complaints, complaints_resolved,
       CAST(complaints_resolved AS DOUBLE) / NULLIF(complaints, 0) AS complaint_resolution_rate,
       surveyed, satisfied,
       CAST(satisfied AS DOUBLE) / NULLIF(surveyed, 0) AS satisfaction_rate,
       legal_help
FROM rows
ORDER BY ord
