//! CSV and JSON: text decoded from UTF-8 (with or without BOM) or GB18030/GBK, never with a
//! silent replacement character; CSV separated by commas, tabs or semicolons; JSON as an array of
//! records. Bounded like every read.

use super::{Cell, Deadline, FileError, Layout, Limits, Table, shorten};

/// Decodes CSV or JSON text: UTF-8 (a BOM is dropped), else GB18030 (which covers GBK), as Excel
/// on Chinese Windows saves "CSV (逗号分隔)". Bytes that are neither are an error that says so
/// and where, never a silent replacement character.
pub fn decode_text(bytes: &[u8]) -> Result<std::borrow::Cow<'_, str>, FileError> {
    let (bytes, bom) = match bytes.strip_prefix(b"\xEF\xBB\xBF") {
        Some(rest) => (rest, true),
        None => (bytes, false),
    };
    match std::str::from_utf8(bytes) {
        Ok(s) => return Ok(std::borrow::Cow::Borrowed(s)),
        Err(e) if bom => {
            return Err(encoding_error(
                bytes,
                e.valid_up_to(),
                "文件标明为 UTF-8（带 BOM）",
            ));
        }
        Err(_) => {}
    }
    let at = std::str::from_utf8(bytes)
        .err()
        .map_or(0, |e| e.valid_up_to());
    // Rows pasted together from files of both kinds: say so rather than "no header".
    if mixed_utf8(bytes) {
        return Err(encoding_error(
            bytes,
            at,
            "文件中混有 UTF-8 和 GBK 两种编码",
        ));
    }
    let (text, had_errors) = encoding_rs::GB18030.decode_without_bom_handling(bytes);
    if had_errors {
        return Err(encoding_error(
            bytes,
            at,
            "文件既不是 UTF-8 也不是 GB18030/GBK 编码",
        ));
    }
    Ok(std::borrow::Cow::Owned(text.into_owned()))
}

/// True when some lines are UTF-8 Chinese and others are not UTF-8 at all: rows pasted
/// together from files of both kinds. (A GBK line is almost never valid UTF-8 holding three
/// Chinese characters, so the test does not fire on plain GBK files.)
pub(super) fn mixed_utf8(bytes: &[u8]) -> bool {
    let mut utf8_chinese = false;
    let mut not_utf8 = false;
    for line in bytes.split(|&b| b == b'\n') {
        match std::str::from_utf8(line) {
            Ok(s) => utf8_chinese |= s.chars().filter(|c| c.len_utf8() == 3).count() >= 3,
            Err(_) => not_utf8 = true,
        }
        if utf8_chinese && not_utf8 {
            return true;
        }
    }
    false
}

pub(super) fn encoding_error(bytes: &[u8], at: usize, what: &str) -> FileError {
    let line = bytes[..at.min(bytes.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1;
    FileError(format!(
        "文件编码无法识别：{what}（第{line}行起无法解码）。请在 Excel 中“另存为”→“CSV UTF-8（逗号分隔）”后重新报送"
    ))
}

/// The most characters a CSV cell may hold before it is refused unread: far beyond any cell of a
/// monthly form (the fields' own limits, e.g. 200 for 填报人, are checked later with their names),
/// small enough that a broken export's one enormous cell is not copied again and again.
pub(super) const CELL_CHARS: usize = 1_000_000;

pub(super) fn read_csv(
    bytes: &[u8],
    limits: &Limits,
    deadline: &Deadline,
) -> Result<Table, FileError> {
    let text = decode_text(bytes)?;
    let first = text.lines().next().unwrap_or("");
    let delimiter = if !first.contains(',') && first.contains('\t') {
        b'\t'
    } else if !first.contains(',') && first.contains(';') {
        b';'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        deadline.check()?;
        let rec = rec.map_err(|e| {
            FileError(format!(
                "CSV 第{}行无法解析（{}）",
                i + 1,
                shorten(&e.to_string(), 200)
            ))
        })?;
        if i >= limits.max_rows {
            return Err(FileError(format!(
                "CSV 文件超过 {} 行，超出月报表的范围。请只报送本单位的月报表",
                limits.max_rows
            )));
        }
        if rec.len() > limits.max_columns {
            return Err(FileError(format!(
                "CSV 第{}行有 {} 列，超出月报表的范围（最多 {} 列）",
                i + 1,
                rec.len(),
                limits.max_columns
            )));
        }
        // A cell of megabytes is a broken export, refused before it is copied again.
        if let Some(long) = rec.iter().position(|c| c.chars().count() > CELL_CHARS) {
            return Err(FileError(format!(
                "CSV 第{}行第{}列的内容超过 {CELL_CHARS} 个字符，不是月报表的数据",
                i + 1,
                long + 1
            )));
        }
        rows.push(
            rec.iter()
                .map(|s| {
                    if s.trim().is_empty() {
                        Cell::Empty
                    } else {
                        Cell::Text(s.to_string())
                    }
                })
                .collect(),
        );
    }
    Ok(Table {
        layout: Layout::Csv,
        rows,
        origin: (0, 0),
    })
}

pub(super) fn read_json(
    bytes: &[u8],
    limits: &Limits,
    deadline: &Deadline,
) -> Result<Table, FileError> {
    let text = decode_text(bytes)?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        FileError(format!(
            "JSON 格式错误（第{}行第{}列）：{}",
            e.line(),
            e.column(),
            shorten(&e.to_string(), 200)
        ))
    })?;
    let records = match value {
        serde_json::Value::Array(items) => items,
        serde_json::Value::Object(_) => vec![value],
        _ => {
            return Err(FileError(
                "JSON 须为对象数组：[{\"unit_code\": \"341522\", …}, …]".into(),
            ));
        }
    };
    if records.len() > limits.max_rows {
        return Err(FileError(format!(
            "JSON 有 {} 条记录，超出月报表的范围（最多 {} 条）",
            records.len(),
            limits.max_rows
        )));
    }
    // Keys in order of first appearance; the set makes each lookup O(1).
    let mut keys: Vec<String> = Vec::new();
    let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for rec in &records {
        deadline.check()?;
        if let serde_json::Value::Object(map) = rec {
            for k in map.keys() {
                if seen.insert(k) {
                    keys.push(k.clone());
                    if keys.len() > limits.max_columns {
                        return Err(FileError(format!(
                            "JSON 记录的字段超过 {} 个，超出月报表的范围",
                            limits.max_columns
                        )));
                    }
                }
            }
        }
    }
    let mut rows = vec![
        keys.iter()
            .map(|k| Cell::Text(k.clone()))
            .collect::<Vec<_>>(),
    ];
    for (i, rec) in records.iter().enumerate() {
        deadline.check()?;
        let serde_json::Value::Object(map) = rec else {
            return Err(FileError(format!(
                "JSON 第{}条记录不是对象（{{…}}）",
                i + 1
            )));
        };
        rows.push(
            keys.iter()
                .map(|k| match map.get(k) {
                    None | Some(serde_json::Value::Null) => Cell::Empty,
                    Some(serde_json::Value::String(s)) => Cell::Text(s.clone()),
                    Some(serde_json::Value::Number(n)) => n
                        .as_f64()
                        .map(Cell::Number)
                        .unwrap_or(Cell::Text(n.to_string())),
                    Some(serde_json::Value::Bool(b)) => Cell::Bool(*b),
                    Some(other) => Cell::Text(other.to_string()),
                })
                .collect(),
        );
    }
    Ok(Table {
        layout: Layout::Json,
        rows,
        origin: (0, 0),
    })
}
