//! Reading a DataFrame's columns into plain vectors, for code that presents or compares rows.

use polars::prelude::*;

/// Column `key` as text, whatever its type (null → None).
pub fn strings(df: &DataFrame, key: &str) -> PolarsResult<Vec<Option<String>>> {
    let col = df.column(key)?.cast(&DataType::String)?;
    Ok(col.str()?.iter().map(|v| v.map(str::to_string)).collect())
}

/// Column `key` as numbers (null → None).
pub fn floats(df: &DataFrame, key: &str) -> PolarsResult<Vec<Option<f64>>> {
    let col = df.column(key)?.cast(&DataType::Float64)?;
    Ok(col.f64()?.iter().collect())
}

/// Rows of the named columns as text (null → ""), for scanning a few columns of every row.
pub fn strings_table(df: &DataFrame, keys: &[&str]) -> PolarsResult<Vec<Vec<String>>> {
    let cols = keys
        .iter()
        .map(|k| strings(df, k))
        .collect::<PolarsResult<Vec<_>>>()?;
    Ok((0..df.height())
        .map(|r| {
            cols.iter()
                .map(|c| c[r].clone().unwrap_or_default())
                .collect()
        })
        .collect())
}
