//! Reading a county file into plain tables of cells: .xlsx (and other workbooks calamine
//! reads), .csv in UTF-8 (with or without BOM) or GB18030/GBK, and .json.
//!
//! Invariant: nothing here knows the submission's fields; a file that cannot be read at all
//! yields a [`FileError`] in Chinese, never a panic.

use calamine::{Data, Reader};
use chrono::NaiveDate;
use std::io::Cursor;

/// One cell as read, before any field rule is applied.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Empty,
    Text(String),
    Number(f64),
    Date(NaiveDate),
    Bool(bool),
    Error(String),
}

impl Cell {
    pub fn is_empty(&self) -> bool {
        match self {
            Cell::Empty => true,
            Cell::Text(s) => s.trim().is_empty(),
            _ => false,
        }
    }

    /// How the cell reads to a person, for messages.
    pub fn shown(&self) -> String {
        match self {
            Cell::Empty => String::new(),
            Cell::Text(s) => s.clone(),
            Cell::Number(n) => format_number(*n),
            Cell::Date(d) => d.to_string(),
            Cell::Bool(b) => if *b { "TRUE" } else { "FALSE" }.into(),
            Cell::Error(e) => e.clone(),
        }
    }
}

pub fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// How positions in a table are named to people.
#[derive(Debug, Clone, PartialEq)]
pub enum Layout {
    /// A workbook sheet: `月报!D5`.
    Sheet(String),
    /// A CSV file: `D5`, as Excel shows it when it opens the file.
    Csv,
    /// A JSON array: `第3条记录`.
    Json,
}

/// A grid of cells with its position in the source.
#[derive(Debug, Clone)]
pub struct Table {
    pub layout: Layout,
    pub rows: Vec<Vec<Cell>>,
    /// 0-based sheet row and column of `rows[0][0]` (a sheet's used range may not start at A1).
    pub origin: (u32, u32),
}

impl Table {
    /// Where `rows[r][c]` is, for a person: `月报!D5`, `D5` or `第3条记录`.
    pub fn place(&self, r: usize, c: usize) -> String {
        let row = r as u32 + self.origin.0 + 1;
        let col = c as u32 + self.origin.1;
        match &self.layout {
            Layout::Sheet(name) => format!("{}!{}{row}", name, column_letters(col)),
            Layout::Csv => format!("{}{row}", column_letters(col)),
            // Row 0 of a JSON table holds the keys; records start at row 1.
            Layout::Json => format!("第{r}条记录"),
        }
    }

    /// The row as a person counts it (1-based sheet row, or JSON record number).
    pub fn row_number(&self, r: usize) -> u32 {
        match self.layout {
            Layout::Json => r as u32,
            _ => r as u32 + self.origin.0 + 1,
        }
    }

    /// A whole row, for a person: `月报!第5行`, `第5行`, `第3条记录`; the header row of a JSON
    /// table (its keys) has no place of its own and gives "".
    pub fn row_place(&self, r: usize) -> String {
        let n = self.row_number(r);
        match &self.layout {
            Layout::Sheet(name) => format!("{name}!第{n}行"),
            Layout::Csv => format!("第{n}行"),
            Layout::Json if r == 0 => String::new(),
            Layout::Json => format!("第{n}条记录"),
        }
    }

    /// How rows are counted in this table, for messages: 行 or 条记录.
    pub fn row_word(&self) -> &'static str {
        match self.layout {
            Layout::Json => "条记录",
            _ => "行",
        }
    }

    pub fn sheet(&self) -> Option<&str> {
        match &self.layout {
            Layout::Sheet(s) => Some(s),
            _ => None,
        }
    }
}

/// `0 → A`, `25 → Z`, `26 → AA`.
pub fn column_letters(mut col: u32) -> String {
    let mut s = Vec::new();
    loop {
        s.push(b'A' + (col % 26) as u8);
        if col < 26 {
            break;
        }
        col = col / 26 - 1;
    }
    s.reverse();
    String::from_utf8(s).unwrap_or_default()
}

/// Why a whole file cannot be read. The text is shown to county staff.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct FileError(pub String);

/// The formats fayuan reads, by file name extension.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Format {
    Workbook,
    Csv,
    Json,
}

pub fn format_of(name: &str) -> Option<Format> {
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    match ext.as_str() {
        "xlsx" | "xlsm" | "xls" | "ods" => Some(Format::Workbook),
        "csv" | "txt" => Some(Format::Csv),
        "json" => Some(Format::Json),
        _ => None,
    }
}

/// Reads a file's bytes into tables. A workbook yields its sheets in order (the caller picks
/// the one named 月报, else the first that has a header row).
pub fn read(name: &str, bytes: &[u8]) -> Result<Vec<Table>, FileError> {
    let format = format_of(name).ok_or_else(|| {
        let ext = name
            .rsplit_once('.')
            .map(|(_, e)| format!("“.{e}”"))
            .unwrap_or_else(|| "（无扩展名）".into());
        FileError(format!(
            "不支持的文件格式{ext}：请以 Excel（.xlsx）、CSV（.csv）或 JSON（.json）格式报送"
        ))
    })?;
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(FileError(if bytes.is_empty() {
            "文件为空（0 字节），没有任何数据".into()
        } else {
            "文件没有任何内容（只有空白）".into()
        }));
    }
    match format {
        Format::Workbook => read_workbook(bytes),
        Format::Csv => read_csv(bytes).map(|t| vec![t]),
        Format::Json => read_json(bytes).map(|t| vec![t]),
    }
}

fn read_workbook(bytes: &[u8]) -> Result<Vec<Table>, FileError> {
    let mut book = calamine::open_workbook_auto_from_rs(Cursor::new(bytes)).map_err(|e| {
        FileError(format!(
            "Excel 文件已损坏或不完整，无法打开（{e}）。请在 Excel/WPS 中打开确认后重新保存并报送"
        ))
    })?;
    let mut tables = Vec::new();
    for name in book.sheet_names() {
        let range = book
            .worksheet_range(&name)
            .map_err(|e| FileError(format!("工作表“{name}”无法读取（{e}），文件可能已损坏")))?;
        let origin = range.start().unwrap_or((0, 0));
        let rows = range
            .rows()
            .map(|row| row.iter().map(cell_of).collect())
            .collect();
        tables.push(Table {
            layout: Layout::Sheet(name),
            rows,
            origin,
        });
    }
    if tables.is_empty() {
        return Err(FileError("Excel 文件中没有工作表".into()));
    }
    Ok(tables)
}

fn cell_of(d: &Data) -> Cell {
    match d {
        Data::Empty => Cell::Empty,
        Data::String(s) => Cell::Text(s.clone()),
        Data::Int(i) => Cell::Number(*i as f64),
        Data::Float(f) => Cell::Number(*f),
        Data::Bool(b) => Cell::Bool(*b),
        Data::DateTime(dt) if dt.is_datetime() => {
            let (y, m, day, ..) = dt.to_ymd_hms_milli();
            NaiveDate::from_ymd_opt(i32::from(y), u32::from(m), u32::from(day))
                .map(Cell::Date)
                .unwrap_or(Cell::Number(dt.as_f64()))
        }
        Data::DateTime(dt) => Cell::Number(dt.as_f64()),
        Data::DateTimeIso(s) | Data::DurationIso(s) => {
            match NaiveDate::parse_from_str(s.get(..10).unwrap_or(s), "%Y-%m-%d") {
                Ok(d) => Cell::Date(d),
                Err(_) => Cell::Text(s.clone()),
            }
        }
        Data::Error(e) => Cell::Error(format!("#{e:?}")),
    }
}

/// Decodes CSV text: UTF-8 (a BOM is dropped), else GB18030 (which covers GBK), as Excel on
/// Chinese Windows saves "CSV (逗号分隔)".
pub fn decode_text(bytes: &[u8]) -> String {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return String::from_utf8_lossy(rest).into_owned();
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => encoding_rs::GB18030.decode(bytes).0.into_owned(),
    }
}

fn read_csv(bytes: &[u8]) -> Result<Table, FileError> {
    let text = decode_text(bytes);
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
        let rec = rec.map_err(|e| FileError(format!("CSV 第{}行无法解析（{e}）", i + 1)))?;
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

fn read_json(bytes: &[u8]) -> Result<Table, FileError> {
    let text = decode_text(bytes);
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        FileError(format!(
            "JSON 格式错误（第{}行第{}列）：{e}",
            e.line(),
            e.column()
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
    let mut keys: Vec<String> = Vec::new();
    for rec in &records {
        if let serde_json::Value::Object(map) = rec {
            for k in map.keys() {
                if !keys.contains(k) {
                    keys.push(k.clone());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_letters_roll_over() {
        assert_eq!(column_letters(0), "A");
        assert_eq!(column_letters(3), "D");
        assert_eq!(column_letters(25), "Z");
        assert_eq!(column_letters(26), "AA");
        assert_eq!(column_letters(27), "AB");
        assert_eq!(column_letters(701), "ZZ");
        assert_eq!(column_letters(702), "AAA");
    }

    #[test]
    fn gbk_csv_is_decoded() {
        let (bytes, _, _) = encoding_rs::GBK.encode("单位代码,单位名称\n341522,霍邱县\n");
        let t = read("x.csv", &bytes).unwrap().remove(0);
        assert_eq!(t.rows[1][1], Cell::Text("霍邱县".into()));
    }

    #[test]
    fn bom_is_dropped() {
        let t = read("x.csv", "\u{feff}单位代码\n1\n".as_bytes())
            .unwrap()
            .remove(0);
        assert_eq!(t.rows[0][0], Cell::Text("单位代码".into()));
    }

    #[test]
    fn unreadable_files_say_why() {
        assert!(read("a.docx", b"PK").unwrap_err().0.contains(".docx"));
        assert!(read("a.csv", b"").unwrap_err().0.contains("文件为空"));
        assert!(
            read("a.xlsx", b"PK\x03\x04garbage")
                .unwrap_err()
                .0
                .contains("损坏")
        );
        assert!(
            read("a.json", b"{\"a\": ")
                .unwrap_err()
                .0
                .contains("JSON 格式错误")
        );
        assert!(read("a.json", b"42").unwrap_err().0.contains("对象数组"));
    }

    #[test]
    fn json_places_name_records() {
        let t = read(
            "a.json",
            br#"[{"unit_code":"341522"},{"unit_code":341524,"x":null}]"#,
        )
        .unwrap()
        .remove(0);
        assert_eq!(t.rows.len(), 3);
        assert_eq!(t.place(2, 0), "第2条记录");
        assert_eq!(t.rows[2][0], Cell::Number(341524.0));
        assert_eq!(t.rows[1][1], Cell::Empty);
    }
}
