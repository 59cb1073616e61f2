-- 执行情况: each unit's progress in words for the report's month, as sent (never interpreted);
-- 未报送 where the month has not been reported, （未填写） where it was reported without words.
-- twin: narrative.csv
-- column: unit_code | 单位代码 | text
-- column: unit_name | 单位 | text
-- column: narrative | 本月执行情况 | text
SELECT u.ord, u.unit_code, u.unit_name,
       CASE WHEN r.unit_code IS NULL THEN '未报送'
            WHEN COALESCE(TRIM(r.narrative), '') = '' THEN '（未填写）'
            ELSE r.narrative END AS narrative
FROM units u
LEFT JOIN (
  SELECT x.* FROM used x CROSS JOIN params p WHERE x.month_num = p.month
) r ON r.unit_code = u.unit_code
ORDER BY u.ord
