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

/// Column `key` as yes/no (a boolean column; null → no).
pub fn flags(df: &DataFrame, key: &str) -> PolarsResult<Vec<bool>> {
    Ok(df
        .column(key)?
        .bool()?
        .iter()
        .map(|v| v.unwrap_or(false))
        .collect())
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

/// The rows of `df` as `T` (issue 37 §2: SQL results read into a row type, not column by column
/// as text). Each row becomes a map of column → value by the column's type (integers, numbers,
/// booleans, text; null → none) and is deserialized. Every field of `T` is checked against the
/// frame's columns first — a field the frame lacks is an error naming it, even an `Option` one
/// (which serde alone would read as none) — so a renamed SQL column fails at load, not silently.
pub fn typed_rows<T>(df: &DataFrame) -> PolarsResult<Vec<T>>
where
    T: serde::de::DeserializeOwned + serde::Serialize + Default,
{
    use serde_json::Value;
    // The fields `T` reads: each must be a column; only those are converted.
    let Value::Object(fields) = serde_json::to_value(T::default())
        .map_err(|e| polars_err!(ComputeError: "row type: {e}"))?
    else {
        polars_bail!(ComputeError: "a row type is a struct");
    };
    let missing: Vec<&String> = fields
        .keys()
        .filter(|f| df.column(f.as_str()).is_err())
        .collect();
    polars_ensure!(missing.is_empty(), ColumnNotFound: "the result has no column {:?}", missing);
    let mut columns: Vec<(String, Vec<Value>)> = Vec::new();
    for name in fields.keys() {
        let c = df.column(name)?;
        let values: Vec<Value> = match c.dtype() {
            DataType::Boolean => c
                .bool()?
                .iter()
                .map(|v| v.map_or(Value::Null, Value::Bool))
                .collect(),
            DataType::Float32 | DataType::Float64 => c
                .cast(&DataType::Float64)?
                .f64()?
                .iter()
                .map(|v| {
                    v.and_then(serde_json::Number::from_f64)
                        .map_or(Value::Null, Value::Number)
                })
                .collect(),
            d if d.is_integer() => c
                .cast(&DataType::Int64)?
                .i64()?
                .iter()
                .map(|v| v.map_or(Value::Null, |n| Value::Number(n.into())))
                .collect(),
            _ => c
                .cast(&DataType::String)?
                .str()?
                .iter()
                .map(|v| v.map_or(Value::Null, |s| Value::String(s.to_string())))
                .collect(),
        };
        columns.push((name.clone(), values));
    }
    (0..df.height())
        .map(|k| {
            let row: serde_json::Map<String, Value> = columns
                .iter()
                .map(|(name, values)| (name.clone(), values[k].clone()))
                .collect();
            serde_json::from_value(Value::Object(row))
                .map_err(|e| polars_err!(ComputeError: "row {}: {e}", k + 1))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Row {
        code: String,
        n: Option<i64>,
        rate: Option<f64>,
        late: Option<bool>,
    }

    #[test]
    fn rows_are_read_by_name_and_type_and_a_missing_column_is_named() {
        let df = df!(
            "late" => [Some(true), None],
            "code" => ["341522", "341523"],
            "n" => [Some(3i32), None],
            "rate" => [Some(0.5f64), Some(f64::NAN)],
            "extra" => ["x", "y"],
        )
        .unwrap();
        let rows: Vec<Row> = typed_rows(&df).unwrap();
        assert_eq!(
            rows,
            [
                Row {
                    code: "341522".into(),
                    n: Some(3),
                    rate: Some(0.5),
                    late: Some(true)
                },
                Row {
                    code: "341523".into(),
                    n: None,
                    rate: None,
                    late: None
                },
            ]
        );
        // An Option field whose column is gone (a renamed SQL column) is an error, not None.
        let renamed = df.clone().drop("rate").unwrap();
        let e = typed_rows::<Row>(&renamed).unwrap_err().to_string();
        assert!(e.contains("rate"), "{e}");
        // A number where text is wanted, a text where a number is: an error naming the row.
        let wrong =
            df!("code" => [1i64], "n" => ["three"], "rate" => [0.1], "late" => [false]).unwrap();
        let e = typed_rows::<Row>(&wrong).unwrap_err().to_string();
        assert!(e.contains("row 1"), "{e}");
    }
}
