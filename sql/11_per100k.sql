-- Supply per 100,000 residents (每10万人法律援助供给量), SPEC §3. A unit without a population gets
-- no figure. The area's total counts every case, the whole-area unit's (市本级) included, over
-- the area's population (the sum of the units that have one of their own); if any of those is
-- missing, the total is left empty and marked incomplete rather than shown wrong. The area's
-- word (全市, 全省) is the pipeline's (params.area).
-- twin: per100k.csv
-- column: unit_code | 单位代码 | text
-- column: unit_name | 单位 | text
-- column: population | 常住人口 | int
-- column: ytd_approved | 累计受理审批（件） | int
-- column: per100k_ytd | 每10万人供给量（累计） | number
-- column: per100k_annualized | 每10万人供给量（按全年折算） | number
-- column: per100k_target | 每10万人供给量（目标） | number
-- column: note | 说明 | text
WITH per_unit AS (
  SELECT u.ord, u.unit_code, u.unit_name, u.target, u.population, u.whole_city,
         COALESCE(SUM(r.cases_approved), 0) AS ytd_approved
  FROM units u
  LEFT JOIN used r ON r.unit_code = u.unit_code
  GROUP BY u.ord, u.unit_code, u.unit_name, u.target, u.population, u.whole_city
),
city AS (
  SELECT SUM(CASE WHEN NOT whole_city AND population IS NULL THEN 1 ELSE 0 END) AS missing,
         SUM(population) AS population,
         SUM(ytd_approved) AS ytd_approved,
         SUM(target) AS target,
         MAX(CASE WHEN whole_city THEN unit_name END) AS whole_name
  FROM per_unit
),
rows AS (
  SELECT ord, unit_code, unit_name, population, ytd_approved, target,
         CASE WHEN whole_city THEN CONCAT('服务', pa.area, '，无单独常住人口，计入合计')
              WHEN population IS NULL THEN '常住人口未填报（待七普公报数据），不计算'
              ELSE '' END AS note
  FROM per_unit CROSS JOIN params pa
  UNION ALL
  SELECT CAST(1000000 AS BIGINT) AS ord, 'total' AS unit_code, '合计' AS unit_name,
         CASE WHEN missing > 0 THEN CAST(NULL AS BIGINT) ELSE population END AS population,
         ytd_approved, target,
         CASE WHEN missing > 0 THEN '合计不完整：有单位常住人口未填报，暂不计算'
              WHEN whole_name IS NULL THEN CONCAT('全部案件/', pa.area, '常住人口')
              ELSE CONCAT('全部案件（含', whole_name, '）/', pa.area, '常住人口') END AS note
  FROM city CROSS JOIN params pa
)
SELECT r.ord, r.unit_code, r.unit_name, r.population, r.ytd_approved,
       CAST(r.ytd_approved AS DOUBLE) / r.population * 100000 AS per100k_ytd,
       CAST(r.ytd_approved AS DOUBLE) / r.population * 100000 * 12 / p.month AS per100k_annualized,
       CAST(r.target AS DOUBLE) / r.population * 100000 AS per100k_target,
       r.note
FROM rows r
CROSS JOIN params p
ORDER BY r.ord
