//! The store's rows read back as Rust rows (issue 37 §2): each accepted row with where it came
//! from and its values typed by the schema (`schema::Value`, the type ingest checked them into),
//! so the pages and supervision never read a column of the store by name.

use crate::error::{Error, Result};
use crate::layout::DataDir;
use crate::period::{self, Moment, Period};
use crate::schema::{FIELDS, Kind, Value};
use crate::store::meta;
use polars::prelude::*;

/// One accepted row of the store: one version of a unit's month.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub unit_code: String,
    pub period: Period,
    /// 1 for the first version of the (unit, month), 2 for the next, … in arrival order.
    pub version: i64,
    /// The version in force (the latest of its unit and month).
    pub latest: bool,
    /// The SHA-256 of the file it came in.
    pub sha256: String,
    /// The name the county gave that file.
    pub source_file: String,
    pub arrived_at: Moment,
    /// A value for every field of `schema::FIELDS`, in its order.
    values: Vec<Value>,
}

impl Stored {
    /// The value of the field `key` (a key of `schema::FIELDS`).
    pub fn value(&self, key: &str) -> &Value {
        &self.values[crate::schema::idx(key)]
    }

    /// A count or an amount (in 元) as a number; `None`: missing or not a figure.
    pub fn figure(&self, key: &str) -> Option<f64> {
        match self.value(key) {
            Value::Count(n) => Some(*n as f64),
            Value::Fen(f) => Some(*f as f64 / 100.0),
            _ => None,
        }
    }
}

/// Every row of the rows table (`Store::rows`, with its version and latest columns), typed. A
/// row the store cannot have written (a month that is not one, a time that is not one) is an
/// error naming the store, never a row skipped.
pub(super) fn read(data_dir: &DataDir, df: &DataFrame) -> Result<Vec<Stored>> {
    let err = |e: PolarsError| Error::store(&data_dir.store(), e);
    let bad = |what: String| Error::store(&data_dir.store(), std::io::Error::other(what));
    let texts = |key: &str| crate::frame::strings(df, key).map_err(err);
    let ints = |key: &str| -> Result<Vec<Option<i64>>> {
        let c = df
            .column(key)
            .and_then(|c| c.cast(&DataType::Int64))
            .map_err(err)?;
        Ok(c.i64().map_err(err)?.iter().collect())
    };
    let columns: Vec<Column> = FIELDS
        .iter()
        .map(|f| match f.kind {
            Kind::Count => ints(f.key).map(Column::Ints),
            Kind::Money => crate::frame::floats(df, f.key)
                .map(Column::Yuan)
                .map_err(err),
            _ => texts(f.key).map(Column::Texts),
        })
        .collect::<Result<_>>()?;
    let (codes, periods, shas, files, arrived) = (
        texts("unit_code")?,
        texts("period")?,
        texts(meta::SHA256)?,
        texts(meta::SOURCE_FILE)?,
        texts(meta::ARRIVED_AT)?,
    );
    let versions = ints(meta::VERSION)?;
    let latest = crate::frame::flags(df, meta::LATEST).map_err(err)?;
    (0..df.height())
        .map(|k| {
            let values = FIELDS
                .iter()
                .zip(&columns)
                .map(|(f, c)| c.value(f.kind, k))
                .collect::<std::result::Result<Vec<Value>, String>>()
                .map_err(|v| bad(format!("第 {} 行的值读不懂：{v}", k + 1)))?;
            let p = periods[k].as_deref().unwrap_or("");
            let at = arrived[k].as_deref().unwrap_or("");
            Ok(Stored {
                unit_code: codes[k].clone().unwrap_or_default(),
                period: Period::parse(p)
                    .ok_or_else(|| bad(format!("第 {} 行的月份不是月份：{p}", k + 1)))?,
                version: versions[k].unwrap_or(0),
                latest: latest[k],
                sha256: shas[k].clone().unwrap_or_default(),
                source_file: files[k].clone().unwrap_or_default(),
                arrived_at: period::parse_instant(at)
                    .map(Moment)
                    .ok_or_else(|| bad(format!("第 {} 行的收到时间不是时间：{at}", k + 1)))?,
                values,
            })
        })
        .collect()
}

/// One field's column, as the store keeps its kind.
enum Column {
    Ints(Vec<Option<i64>>),
    /// Money, in 元.
    Yuan(Vec<Option<f64>>),
    Texts(Vec<Option<String>>),
}

impl Column {
    fn value(&self, kind: Kind, k: usize) -> std::result::Result<Value, String> {
        Ok(match self {
            Column::Ints(v) => v[k].map_or(Value::Missing, Value::Count),
            Column::Yuan(v) => {
                v[k].map_or(Value::Missing, |y| Value::Fen((y * 100.0).round() as i64))
            }
            Column::Texts(v) => match (v[k].as_deref(), kind) {
                (None | Some(""), _) => Value::Missing,
                (Some(t), Kind::Period) => Value::Period(Period::parse(t).ok_or(t.to_string())?),
                // (as the store writes a date: `NaiveDate`'s own text)
                (Some(t), Kind::Date) => Value::Date(t.parse().map_err(|_| t.to_string())?),
                (Some(t), _) => Value::Text(t.to_string()),
            },
        })
    }
}
