-- Funding compliance (经费合规), SPEC §3: arrival, expenditure, case-subsidy share, input per case.
-- twin: funding.csv
-- column: unit_code | 单位代码 | text
-- column: unit_name | 单位 | text
-- column: budget | 计划安排经费（元） | money
-- column: budget_derived | 经费为推算（目标×案均标准） | bool
-- column: ytd_received | 累计到位经费（元） | money
-- column: arrival_rate | 资金到位率 | percent
-- column: ytd_spend | 累计业务经费支出（元） | money
-- column: expenditure_rate | 业务经费支出率 | percent
-- column: ytd_spend_case | 累计办案补贴及直接费用（元） | money
-- column: case_share | 办案补贴及直接费用占比 | percent
-- column: per_case_input | 案均投入（元/件） | money
-- column: per_case_standard | 案均标准（元/件） | money
WITH per_unit AS (
  SELECT u.ord, u.unit_code, u.unit_name, u.budget, u.budget_derived,
         COALESCE(SUM(r.cases_approved), 0) AS ytd_approved,
         COALESCE(SUM(r.funds_received_fen), 0) AS received_fen,
         COALESCE(SUM(r.spend_total_fen), 0) AS spend_fen,
         COALESCE(SUM(r.spend_case_fen), 0) AS spend_case_fen
  FROM units u
  LEFT JOIN used r ON r.unit_code = u.unit_code
  GROUP BY u.ord, u.unit_code, u.unit_name, u.budget, u.budget_derived
),
sums AS (
  SELECT ord, unit_code, unit_name, CAST(ROUND(budget * 100) AS BIGINT) AS budget_fen, budget_derived,
         ytd_approved, received_fen, spend_fen, spend_case_fen
  FROM per_unit
  UNION ALL
  SELECT CAST(1000000 AS BIGINT) AS ord, 'total' AS unit_code, '合计' AS unit_name,
         SUM(CAST(ROUND(budget * 100) AS BIGINT)) AS budget_fen,
         MAX(budget_derived) AS budget_derived, SUM(ytd_approved) AS ytd_approved,
         SUM(received_fen) AS received_fen, SUM(spend_fen) AS spend_fen, SUM(spend_case_fen) AS spend_case_fen
  FROM per_unit
),
rows AS (
  SELECT *,
         CAST(budget_fen AS DOUBLE) / 100 AS budget,
         CAST(received_fen AS DOUBLE) / 100 AS ytd_received,
         CAST(spend_fen AS DOUBLE) / 100 AS ytd_spend,
         CAST(spend_case_fen AS DOUBLE) / 100 AS ytd_spend_case
  FROM sums
)
-- The whole-分 sums stay in the result (not in the twin) for the exact comparisons of the
-- alerts (SPEC §4).
SELECT r.ord, r.unit_code, r.unit_name, r.budget, r.budget_derived,
       r.ytd_received, r.ytd_received / NULLIF(r.budget, 0) AS arrival_rate,
       r.ytd_spend, r.ytd_spend / NULLIF(r.ytd_received, 0) AS expenditure_rate,
       r.ytd_spend_case, r.ytd_spend_case / NULLIF(r.ytd_spend, 0) AS case_share,
       r.ytd_received / NULLIF(CAST(r.ytd_approved AS DOUBLE), 0) AS per_case_input,
       p.per_case_standard,
       r.ytd_approved, r.budget_fen, r.received_fen, r.spend_fen, r.spend_case_fen,
       -- The one home of the case-share rule (the alert and the colours read it), exact:
       -- spend_case/spend < min_bp/10000 ⇔ 10000·spend_case < min_bp·spend (spend_case ≤ spend,
       -- so the products stay below 2^63 up to 9·10^14 分; beyond, a fraction decides).
       CASE WHEN r.spend_fen = 0 THEN NULL
            WHEN r.spend_fen < 900000000000000 THEN
                 CASE WHEN 10000 * r.spend_case_fen < p.case_share_min_bp * r.spend_fen THEN 'critical' ELSE 'ok' END
            WHEN CAST(r.spend_case_fen AS DOUBLE) / r.spend_fen < p.case_share_min THEN 'critical'
            ELSE 'ok' END AS case_share_band,
       -- The one home of the arrival rule: received/budget < c/12 ⇔ 12·received < c·budget,
       -- c = m at the months of `[funding] arrival_checkpoints` (财政 transfers by the quarter),
       -- else 0: between them 到位率 is shown, not judged; a warning during the year; at m = 12
       -- the plan's 100%, critical.
       CASE WHEN r.budget_fen = 0 THEN NULL
            WHEN 12 * r.received_fen < p.arrival_month * r.budget_fen THEN
                 CASE WHEN p.month = 12 THEN 'critical' ELSE 'warning' END
            ELSE 'ok' END AS arrival_band,
       -- The plan's 100% spent, a year-end rule (none before December, none when nothing arrived:
       -- the arrival rule says it).
       CASE WHEN p.month < 12 OR r.received_fen = 0 THEN NULL
            WHEN r.spend_fen < r.received_fen THEN 'critical'
            ELSE 'ok' END AS expenditure_band,
       -- received/approved < standard ⇔ received < standard·approved (in 分).
       -- 700 元/件 is a year's figure (the plan's 2024 案均): judged in December only, when the
       -- year's funds are in; during the year received lags the cases by the quarter.
       CASE WHEN r.ytd_approved = 0 OR p.month < 12 THEN NULL
            WHEN r.received_fen < p.per_case_standard_fen * r.ytd_approved THEN 'warning'
            ELSE 'ok' END AS per_case_input_band
FROM rows r
CROSS JOIN params p
ORDER BY r.ord
