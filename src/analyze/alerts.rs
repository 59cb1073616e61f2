//! What Rust adds to the SQL's alerts: `restated` (a diff against the rows leadership was sent),
//! alerts about the machinery, and the Chinese messages filled from the rules' templates.

use super::*;

/// One alert made outside SQL.
#[derive(Debug, Clone)]
pub struct Alert {
    pub rule: &'static str,
    pub severity: Severity,
    pub unit_code: String,
    pub unit_name: String,
    pub ord: i64,
    pub message: String,
}

/// `restated`: a month already in a digest that was sent has a different figure since (SPEC §4),
/// naming the fields with old → new. A later version with the same figures is no alert.
pub(super) fn restated(inputs: &Inputs, analysis: &Analysis) -> Result<Vec<Alert>> {
    let Some(previous) = inputs.previous else {
        return Ok(Vec::new());
    };
    let now = analysis.used_rows()?;
    let before: HashMap<(&str, &str), &UsedRow> = previous
        .iter()
        .map(|r| ((r.unit_code.as_str(), r.period.as_str()), r))
        .collect();
    let subs = inputs.submissions;
    let err = |e: PolarsError| Error::Analysis {
        query: "restated".into(),
        source: e.into(),
    };
    let text = |n: &str| -> Result<Vec<Option<String>>> {
        Ok(subs
            .column(n)
            .and_then(|c| c.str().cloned())
            .map_err(err)?
            .iter()
            .map(|v| v.map(str::to_string))
            .collect())
    };
    let (units, periods) = (text("unit_code")?, text("period")?);
    let versions: Vec<Option<i64>> = subs
        .column(meta::VERSION)
        .and_then(|c| c.i64().cloned())
        .map_err(err)?
        .iter()
        .collect();
    let index: HashMap<(&str, &str, i64), usize> = (0..subs.height())
        .filter_map(|k| {
            Some((
                (units[k].as_deref()?, periods[k].as_deref()?, versions[k]?),
                k,
            ))
        })
        .collect();
    let find = |u: &str, p: &str, v: i64| index.get(&(u, p, v)).copied();
    let mut out = Vec::new();
    for row in &now {
        let Some(old) = before.get(&(row.unit_code.as_str(), row.period.as_str())) else {
            continue;
        };
        if old.version == row.version {
            continue;
        }
        let (Some(a), Some(b)) = (
            find(&row.unit_code, &row.period, old.version),
            find(&row.unit_code, &row.period, row.version),
        ) else {
            continue;
        };
        let mut changes = Vec::new();
        for field in FIELDS
            .iter()
            .filter(|f| matches!(f.kind, Kind::Count | Kind::Money))
        {
            let col = subs.column(field.key).map_err(err)?;
            let (x, y) = (col.get(a).map_err(err)?, col.get(b).map_err(err)?);
            if x != y {
                let show = |v: &AnyValue| match v {
                    AnyValue::Float64(f) if field.kind == Kind::Money => format::yuan(Some(*f)),
                    AnyValue::Float64(f) => format::num(Some(*f)),
                    AnyValue::Null => format::DASH.to_string(),
                    other => other.to_string(),
                };
                changes.push(format!("{} {} → {}", field.label, show(&x), show(&y)));
            }
        }
        // A resend with the same figures (a running Jan..m sheet) is no restatement.
        if changes.is_empty() {
            continue;
        }
        let unit = inputs.pipeline.unit(&row.unit_code);
        let p = Period::parse(&row.period)
            .map(|p| p.zh())
            .unwrap_or_else(|| row.period.clone());
        out.push(Alert {
            rule: "restated",
            severity: Severity::Info,
            unit_code: row.unit_code.clone(),
            unit_name: unit.map(|u| u.name.clone()).unwrap_or_default(),
            ord: inputs
                .pipeline
                .units
                .iter()
                .position(|u| u.code == row.unit_code)
                .unwrap_or(999_999) as i64,
            message: format!(
                "{p}数据已更正（第{}版 → 第{}版）：{}",
                old.version,
                row.version,
                changes.join("；")
            ),
        });
    }
    Ok(out)
}

pub(super) fn add_alerts(alerts: DataFrame, extra: &[Alert]) -> PolarsResult<DataFrame> {
    if extra.is_empty() {
        return Ok(alerts);
    }
    let more = df!(
        "rule" => extra.iter().map(|a| a.rule).collect::<Vec<_>>(),
        "rule_zh" => extra.iter().map(|a| rule_zh(a.rule)).collect::<Vec<_>>(),
        "severity" => extra.iter().map(|a| a.severity.code()).collect::<Vec<_>>(),
        "severity_zh" => extra.iter().map(|a| a.severity.zh()).collect::<Vec<_>>(),
        "unit_code" => extra.iter().map(|a| a.unit_code.clone()).collect::<Vec<_>>(),
        "unit_name" => extra.iter().map(|a| a.unit_name.clone()).collect::<Vec<_>>(),
        "figure" => extra.iter().map(|_| None::<f64>).collect::<Vec<_>>(),
        "threshold" => extra.iter().map(|_| None::<f64>).collect::<Vec<_>>(),
        "message" => extra.iter().map(|a| a.message.clone()).collect::<Vec<_>>(),
        "severity_order" => extra.iter().map(|a| a.severity.order()).collect::<Vec<_>>(),
        "ord" => extra.iter().map(|a| a.ord).collect::<Vec<_>>(),
    )?;
    // Same columns, same types as the SQL result, then the same order.
    let more = more.select(alerts.get_column_names().into_iter().cloned())?;
    let mut more_cast = Vec::new();
    for (c, want) in more.columns().iter().zip(alerts.columns()) {
        more_cast.push(c.cast(want.dtype())?);
    }
    let mut all = alerts;
    all.vstack_mut(&DataFrame::new(extra.len(), more_cast)?)?;
    all.sort(
        ["severity_order", "ord", "rule"],
        SortMultipleOptions::default().with_maintain_order(true),
    )
}

pub(super) fn fill_messages(alerts: DataFrame) -> PolarsResult<DataFrame> {
    let mut alerts = fill_text(alerts, "message")?;
    // A soft check's two amounts rode in figure and threshold to fill its words; they are not a
    // rule's figure and threshold, so the sheet leaves those cells empty.
    let soft: Vec<bool> = alerts
        .column("rule")?
        .str()?
        .iter()
        .map(|r| r == Some("soft_check"))
        .collect();
    for col in ["figure", "threshold"] {
        let v: Vec<Option<f64>> = alerts
            .column(col)?
            .cast(&DataType::Float64)?
            .f64()?
            .iter()
            .zip(&soft)
            .map(|(v, &s)| if s { None } else { v })
            .collect();
        alerts.with_column(Column::new(col.into(), v))?;
    }
    Ok(alerts)
}

/// Fills `{figure:FMT}` and `{threshold:FMT}` in a text column from the row's `figure` and
/// `threshold` (format.rs: the one place figures become text).
pub(super) fn fill_text(mut alerts: DataFrame, text: &str) -> PolarsResult<DataFrame> {
    let templates: Vec<Option<String>> = alerts
        .column(text)?
        .str()?
        .iter()
        .map(|v| v.map(str::to_string))
        .collect();
    let figure: Vec<Option<f64>> = alerts
        .column("figure")?
        .cast(&DataType::Float64)?
        .f64()?
        .iter()
        .collect();
    let threshold: Vec<Option<f64>> = alerts
        .column("threshold")?
        .cast(&DataType::Float64)?
        .f64()?
        .iter()
        .collect();
    let filled: Vec<String> = templates
        .iter()
        .zip(figure.iter().zip(&threshold))
        .map(|(t, (f, th))| format::fill(t.as_deref().unwrap_or(""), *f, *th))
        .collect();
    alerts.with_column(Column::new(text.into(), filled))?;
    Ok(alerts)
}
