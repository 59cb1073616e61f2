//! Reading a county file into plain tables of cells: .xlsx (and other workbooks calamine
//! reads), .csv in UTF-8 (with or without BOM) or GB18030/GBK, and .json.
//!
//! Invariant: nothing here knows the submission's fields; a file that cannot be read at all
//! yields a [`FileError`] in Chinese, never a panic.

mod text;

pub use text::decode_text;
use text::{read_csv, read_json};

use calamine::{Data, Reader};
use chrono::NaiveDate;
use std::io::Cursor;
use std::time::{Duration, Instant};

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
#[derive(Debug, Clone, PartialEq)]
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

/// How much of one file is read and for how long (from the pipeline's `[limits]`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_file_bytes: u64,
    pub max_unpacked_bytes: u64,
    pub max_rows: usize,
    pub max_columns: usize,
    pub read_time: Duration,
}

impl Limits {
    pub fn of(l: &crate::config::Limits) -> Limits {
        Limits {
            max_file_bytes: (l.max_file_mb * 1e6) as u64,
            max_unpacked_bytes: (l.max_unpacked_mb * 1e6) as u64,
            max_rows: l.max_rows,
            max_columns: l.max_columns,
            read_time: Duration::from_secs(l.read_seconds),
        }
    }
}

/// The moment a read must stop by; checked inside every loop over a file's contents.
struct Deadline {
    at: Instant,
    limit: Duration,
}

impl Deadline {
    fn start(limit: Duration) -> Deadline {
        Deadline {
            at: Instant::now() + limit,
            limit,
        }
    }

    fn check(&self) -> Result<(), FileError> {
        if Instant::now() > self.at {
            return Err(FileError(format!(
                "读取超时：超过 {} 秒仍未读完，文件过大或结构异常",
                self.limit.as_secs()
            )));
        }
        Ok(())
    }
}

fn mb(bytes: u64) -> String {
    format!("{:.0} MB", bytes as f64 / 1e6)
}

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

/// What can be said of a file from its name and size alone, before any byte is parsed: an
/// unknown format, an empty file, a file over the size limit.
pub fn precheck(name: &str, size: u64, limits: &Limits) -> Result<Format, FileError> {
    let format = format_of(name).ok_or_else(|| {
        let ext = name
            .rsplit_once('.')
            .map(|(_, e)| format!("“.{}”", shorten(e, 20)))
            .unwrap_or_else(|| "（无扩展名）".into());
        FileError(format!(
            "不支持的文件格式{ext}：请以 Excel（.xlsx）、CSV（.csv）或 JSON（.json）格式报送"
        ))
    })?;
    if size == 0 {
        return Err(FileError("文件为空（0 字节），没有任何数据".into()));
    }
    if size > limits.max_file_bytes {
        return Err(FileError(format!(
            "文件过大（{}，上限 {}）：月报表通常只有几 KB，请只报送本单位的月报表",
            mb(size),
            mb(limits.max_file_bytes)
        )));
    }
    Ok(format)
}

/// Reads a file's bytes into tables, in this process. A workbook yields its sheets in order
/// (the caller picks the one named 月报, else the first that has a header row). Never panics
/// on any input: a panic inside a library is caught and reported as a damaged file.
pub fn read(name: &str, bytes: &[u8], limits: &Limits) -> Result<Vec<Table>, FileError> {
    let format = precheck(name, bytes.len() as u64, limits)?;
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(FileError("文件没有任何内容（只有空白）".into()));
    }
    let deadline = Deadline::start(limits.read_time);
    let read = || match format {
        Format::Workbook => read_workbook(bytes, limits, &deadline),
        Format::Csv => read_csv(bytes, limits, &deadline).map(|t| vec![t]),
        Format::Json => read_json(bytes, limits, &deadline).map(|t| vec![t]),
    };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(read)).unwrap_or_else(|_| {
        Err(FileError(format!(
            "{INTERNAL}。请在 Excel/WPS 中打开确认后重新保存并报送"
        )))
    })
}

/// How a panic inside a reading library is reported (the fuzz test counts these).
pub const INTERNAL: &str = "文件结构异常，无法读取（读取程序出错）";

/// Quotes at most `max` characters of a county's text in a message: `前20个字…（共40000个字符）`.
pub fn shorten(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_string();
    }
    let head: String = s.chars().take(max).collect();
    format!("{head}…（共{n}个字符）")
}

fn damaged(e: impl std::fmt::Display) -> FileError {
    FileError(format!(
        "Excel 文件已损坏或不完整，无法打开（{}）。请在 Excel/WPS 中打开确认后重新保存并报送",
        shorten(&e.to_string(), 200)
    ))
}

/// A zip (xlsx, ods) is measured before any library opens it. Each part's declared size is
/// trusted where it is plausible — deflate cannot make data smaller than its packed size, and
/// real sheets pack well under 200:1 — and counted by unpacking it into nothing where it is not
/// (a zip bomb that lies about its sizes). Also refuses a shared-string table that declares more
/// strings than it can hold (the library would reserve memory for all of them). A part that
/// unpacks to more than it declares is refused by the zip reader itself ("larger than its
/// declared uncompressed size"), here and in calamine, so a lie cannot get past the count.
fn check_zip(bytes: &[u8], limits: &Limits, deadline: &Deadline) -> Result<(), FileError> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(damaged)?;
    if zip.len() > 10_000 {
        return Err(FileError(format!(
            "Excel 文件结构异常：包含 {} 个部件，正常文件只有几十个",
            zip.len()
        )));
    }
    let too_big = || {
        FileError(format!(
            "Excel 文件解压后超过 {}（压缩炸弹或异常文件），已拒收；月报表解压后通常不足 1 MB",
            mb(limits.max_unpacked_bytes)
        ))
    };
    let mut total: u64 = 0;
    for i in 0..zip.len() {
        deadline.check()?;
        let mut part = zip.by_index(i).map_err(damaged)?;
        let is_sst = part.name().is_ok_and(|n| n.ends_with("sharedStrings.xml"));
        let (declared, packed) = (part.size(), part.compressed_size());
        let plausible = declared.saturating_add(1024) >= packed
            && declared <= packed.saturating_mul(200).saturating_add(1 << 16);
        let (size, head) = if plausible {
            total = total.saturating_add(declared);
            if total > limits.max_unpacked_bytes {
                return Err(too_big());
            }
            let head = if is_sst {
                unpack(&mut part, Some(4096), u64::MAX, deadline)?.1
            } else {
                Vec::new()
            };
            (declared, head)
        } else {
            let room = limits.max_unpacked_bytes.saturating_sub(total);
            let (size, head) = unpack(&mut part, is_sst.then_some(4096), room, deadline)?;
            if size > room {
                return Err(too_big());
            }
            total += size;
            (size, head)
        };
        if is_sst && let Some(declared) = declared_strings(&head) {
            // Each string takes at least `<si/>`, five bytes.
            if declared > size / 5 + 1 {
                return Err(FileError(format!(
                    "Excel 文件结构异常：声明了 {declared} 个共享字符串，但内容只有 {size} 字节。请在 Excel/WPS 中重新保存后报送"
                )));
            }
        }
    }
    Ok(())
}

/// Unpacks a zip part into nothing, counting: stops past `room` bytes (returning more than
/// `room`), or once `head` bytes are kept when only the head is wanted and `room` is unlimited.
fn unpack(
    part: &mut impl std::io::Read,
    head_len: Option<usize>,
    room: u64,
    deadline: &Deadline,
) -> Result<(u64, Vec<u8>), FileError> {
    let mut buf = vec![0u8; 16 * 1024];
    let mut head = Vec::new();
    let mut size: u64 = 0;
    loop {
        deadline.check()?;
        let n = part.read(&mut buf).map_err(damaged)?;
        if n == 0 {
            return Ok((size, head));
        }
        if let Some(want) = head_len
            && head.len() < want
        {
            head.extend_from_slice(&buf[..n.min(want - head.len())]);
            if head.len() >= want && room == u64::MAX {
                return Ok((size + n as u64, head));
            }
        }
        size += n as u64;
        if size > room {
            return Ok((size, head));
        }
    }
}

/// `uniqueCount="N"` (else `count="N"`) of a shared-string table's opening tag.
fn declared_strings(head: &[u8]) -> Option<u64> {
    let text = String::from_utf8_lossy(head);
    let tag = &text[text.find("<sst")?..];
    let tag = &tag[..tag.find('>').unwrap_or(tag.len())];
    let mut most = None;
    for key in ["uniqueCount=\"", "count=\""] {
        if let Some(at) = tag.find(key) {
            let digits: String = tag[at + key.len()..]
                .chars()
                .take_while(|c| c.is_ascii_digit())
                .collect();
            // More digits than a u64 holds is certainly more than the part holds.
            let n = digits.parse::<u64>().unwrap_or(u64::MAX);
            most = Some(most.map_or(n, |m: u64| m.max(n)));
        }
    }
    most
}

fn read_workbook(
    bytes: &[u8],
    limits: &Limits,
    deadline: &Deadline,
) -> Result<Vec<Table>, FileError> {
    let zipped = bytes.starts_with(b"PK");
    if zipped {
        check_zip(bytes, limits, deadline)?;
    }
    let mut tables = Vec::new();
    // An .xlsx is read cell by cell: only cells that hold something are kept, so a sheet with
    // one cell at A1 and one at XFD1048576 costs two cells, not the grid between them.
    match calamine::Xlsx::new(Cursor::new(bytes)) {
        Ok(mut book) => {
            for name in book.sheet_names() {
                let mut grid = Grid::new(&name, limits);
                let mut cells = book
                    .worksheet_cells_reader(&name)
                    .map_err(|e| sheet_error(&name, e))?;
                while let Some(cell) = cells.next_cell().map_err(|e| sheet_error(&name, e))? {
                    deadline.check()?;
                    let (r, c) = cell.get_position();
                    grid.put(r, c, cell_of(&Data::from(cell.get_value().clone())))?;
                }
                tables.push(grid.table(Layout::Sheet(name)));
            }
        }
        Err(_) => {
            // .xls and .ods: calamine reads the whole sheet; their size is bounded above
            // (file size, unpacked size) and ingest opens them in a separate process.
            let mut book =
                calamine::open_workbook_auto_from_rs(Cursor::new(bytes)).map_err(damaged)?;
            for name in book.sheet_names() {
                deadline.check()?;
                let range = book
                    .worksheet_range(&name)
                    .map_err(|e| sheet_error(&name, e))?;
                let mut grid = Grid::new(&name, limits);
                for (r, c, d) in range.used_cells() {
                    deadline.check()?;
                    let (r0, c0) = range.start().unwrap_or((0, 0));
                    grid.put(r0 + r as u32, c0 + c as u32, cell_of(d))?;
                }
                tables.push(grid.table(Layout::Sheet(name)));
            }
        }
    }
    if tables.is_empty() {
        return Err(FileError("Excel 文件中没有工作表".into()));
    }
    Ok(tables)
}

fn sheet_error(name: &str, e: impl std::fmt::Display) -> FileError {
    FileError(format!(
        "工作表“{}”无法读取（{}），文件可能已损坏",
        shorten(name, 40),
        shorten(&e.to_string(), 200)
    ))
}

/// The cells of one sheet that hold something, placed in rows as far as their last cell.
struct Grid<'a> {
    sheet: String,
    limits: &'a Limits,
    cells: Vec<(u32, u32, Cell)>,
}

impl Grid<'_> {
    fn new<'a>(sheet: &str, limits: &'a Limits) -> Grid<'a> {
        Grid {
            sheet: sheet.to_string(),
            limits,
            cells: Vec::new(),
        }
    }

    fn put(&mut self, r: u32, c: u32, cell: Cell) -> Result<(), FileError> {
        if cell.is_empty() {
            return Ok(());
        }
        if r as usize >= self.limits.max_rows || c as usize >= self.limits.max_columns {
            return Err(FileError(format!(
                "工作表“{}”在 {}{} 有内容，超出月报表的范围（最多 {} 行、{} 列）。请删除表格范围外的内容后重新报送",
                shorten(&self.sheet, 40),
                column_letters(c),
                u64::from(r) + 1,
                self.limits.max_rows,
                self.limits.max_columns
            )));
        }
        self.cells.push((r, c, cell));
        Ok(())
    }

    fn table(mut self, layout: Layout) -> Table {
        self.cells.sort_by_key(|(r, c, _)| (*r, *c));
        let r0 = self.cells.iter().map(|x| x.0).min().unwrap_or(0);
        let c0 = self.cells.iter().map(|x| x.1).min().unwrap_or(0);
        let mut rows: Vec<Vec<Cell>> = Vec::new();
        for (r, c, cell) in self.cells {
            let (r, c) = ((r - r0) as usize, (c - c0) as usize);
            if rows.len() <= r {
                rows.resize_with(r + 1, Vec::new);
            }
            let row = &mut rows[r];
            if row.len() <= c {
                row.resize(c + 1, Cell::Empty);
            }
            row[c] = cell;
        }
        Table {
            layout,
            rows,
            origin: (r0, c0),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    const L: Limits = Limits {
        max_file_bytes: 20_000_000,
        max_unpacked_bytes: 64_000_000,
        max_rows: 10_000,
        max_columns: 200,
        read_time: Duration::from_secs(30),
    };

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
        let t = read("x.csv", &bytes, &L).unwrap().remove(0);
        assert_eq!(t.rows[1][1], Cell::Text("霍邱县".into()));
    }

    #[test]
    fn bom_is_dropped() {
        let t = read("x.csv", "\u{feff}单位代码\n1\n".as_bytes(), &L)
            .unwrap()
            .remove(0);
        assert_eq!(t.rows[0][0], Cell::Text("单位代码".into()));
    }

    #[test]
    fn unreadable_files_say_why() {
        assert!(read("a.docx", b"PK", &L).unwrap_err().0.contains(".docx"));
        assert!(read("a.csv", b"", &L).unwrap_err().0.contains("文件为空"));
        assert!(
            read("a.xlsx", b"PK\x03\x04garbage", &L)
                .unwrap_err()
                .0
                .contains("损坏")
        );
        assert!(
            read("a.json", b"{\"a\": ", &L)
                .unwrap_err()
                .0
                .contains("JSON 格式错误")
        );
        assert!(
            read("a.json", b"42", &L)
                .unwrap_err()
                .0
                .contains("对象数组")
        );
    }

    #[test]
    fn json_places_name_records() {
        let t = read(
            "a.json",
            br#"[{"unit_code":"341522"},{"unit_code":341524,"x":null}]"#,
            &L,
        )
        .unwrap()
        .remove(0);
        assert_eq!(t.rows.len(), 3);
        assert_eq!(t.place(2, 0), "第2条记录");
        assert_eq!(t.rows[2][0], Cell::Number(341524.0));
        assert_eq!(t.rows[1][1], Cell::Empty);
    }
}
