//! Word documents in 公文 layout (GB/T 9704-2012): a small WordprocessingML writer. The parts are
//! written here as text, in the schema's element order, and zipped with the `zip` crate fayuan
//! already reads workbooks with (ARCHITECTURE.md says why not `docx-rs`).
//!
//! The layout: A4; margins top 37 mm, bottom 35 mm, left 28 mm, right 26 mm (type area
//! 156 × 225 mm); body 仿宋_GB2312 三号 (16 pt) at an exact 28 pt line pitch on a document grid of
//! 22 lines × 28 characters; the title 方正小标宋简体 二号 (22 pt), centred; first-level headings
//! 黑体 三号, second-level 楷体_GB2312 三号; page numbers "— 1 —" in 宋体 四号 (14 pt), odd pages
//! right and even pages left, one character in from the edge; tables 仿宋 小四 (12 pt) with a
//! header row repeated on every page. Each font is named for East Asian text (`w:eastAsia`), and
//! the font table gives each official font the family a computer without it has (仿宋 → FangSong,
//! …), so the layout holds where the official fonts are missing.
//!
//! Invariant: pure — blocks in, bytes out; every text is escaped; the same blocks give the same
//! bytes (fixed times inside the zip).

use crate::error::{Error, Result};
use std::io::Write;

/// Twentieths of a point per millimetre.
const TWIPS_PER_MM: f64 = 1440.0 / 25.4;

fn mm(v: f64) -> i64 {
    (v * TWIPS_PER_MM).round() as i64
}

/// Body text: 仿宋_GB2312 三号.
pub const BODY_FONT: &str = "仿宋_GB2312";
pub const TITLE_FONT: &str = "方正小标宋简体";
pub const HEADING1_FONT: &str = "黑体";
pub const HEADING2_FONT: &str = "楷体_GB2312";
pub const PAGE_NUMBER_FONT: &str = "宋体";
/// 三号, 二号, 四号, 小四 in half-points.
pub const BODY_HALF_PT: u32 = 32;
pub const TITLE_HALF_PT: u32 = 44;
pub const PAGE_NUMBER_HALF_PT: u32 = 28;
pub const TABLE_HALF_PT: u32 = 24;
/// The fixed line pitch: 28 pt.
const LINE_TWIPS: i64 = 560;
/// 28 characters across the 156 mm type area (442.2 pt) need 15.79 pt a character: 三号 (16 pt)
/// condensed by a quarter point (`w:spacing` in twentieths of a point). Word's character grid
/// (`docGrid w:charSpace`) would say the same, but LibreOffice lays that grid out differently
/// (20 characters a line); condensed text reads the same in both.
const BODY_CONDENSE: i64 = -5;

/// The official fonts and what a computer without them has of the same family.
const FALLBACKS: [(&str, &str); 5] = [
    ("仿宋_GB2312", "FangSong"),
    ("方正小标宋简体", "SimSun"),
    ("黑体", "SimHei"),
    ("楷体_GB2312", "KaiTi"),
    ("宋体", "SimSun"),
];

/// One block of a document, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// The title, centred (one or two lines).
    Title(String),
    /// The 主送 line: flush left, no indent.
    To(String),
    /// A body paragraph, first line indented two characters.
    Para(String),
    /// 一、… (黑体).
    Heading1(String),
    /// （一）… (楷体).
    Heading2(String),
    /// A table: the header row (repeated on every page) and the rows.
    Table {
        header: Vec<String>,
        rows: Vec<Vec<String>>,
    },
    /// 落款 and 成文日期: right-aligned, four characters in from the right margin.
    Signature { office: String, date: String },
    /// An empty line of the grid.
    Blank,
}

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            // Characters XML 1.0 does not allow.
            c if (c as u32) < 0x20 && c != '\t' && c != '\n' && c != '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// `w:rPr` in schema order: rFonts, b, spacing, sz, szCs. Text of the body's size is condensed
/// by `BODY_CONDENSE` so that 28 characters fill the 156 mm line.
fn run_props(font: &str, half_pt: u32, bold: bool) -> String {
    let spacing = if half_pt == BODY_HALF_PT {
        format!("<w:spacing w:val=\"{BODY_CONDENSE}\"/>")
    } else {
        String::new()
    };
    format!(
        "<w:rPr><w:rFonts w:ascii=\"{f}\" w:hAnsi=\"{f}\" w:eastAsia=\"{f}\" w:cs=\"{f}\"/>{b}{spacing}<w:sz w:val=\"{half_pt}\"/><w:szCs w:val=\"{half_pt}\"/></w:rPr>",
        f = escape(font),
        b = if bold { "<w:b/>" } else { "" }
    )
}

/// `w:pPr` in schema order: keepNext, keepLines, spacing, ind, jc.
fn para_props(keep_next: bool, indent: &str, jc: &str) -> String {
    para_props_kept(keep_next, false, indent, jc)
}

/// `para_props` with keepLines too (a paragraph not split across pages).
fn para_props_kept(keep_next: bool, keep_lines: bool, indent: &str, jc: &str) -> String {
    format!(
        "<w:pPr>{k}{l}<w:spacing w:before=\"0\" w:after=\"0\" w:line=\"{LINE_TWIPS}\" w:lineRule=\"exact\"/>{indent}<w:jc w:val=\"{jc}\"/></w:pPr>",
        k = if keep_next { "<w:keepNext/>" } else { "" },
        l = if keep_lines { "<w:keepLines/>" } else { "" }
    )
}

fn para(text: &str, font: &str, half_pt: u32, props: &str) -> String {
    format!(
        "<w:p>{props}<w:r>{}<w:t xml:space=\"preserve\">{}</w:t></w:r></w:p>",
        run_props(font, half_pt, false),
        escape(text)
    )
}

/// Two characters of 三号 as a first-line indent.
const INDENT_2: &str = "<w:ind w:firstLineChars=\"200\" w:firstLine=\"640\"/>";

/// A block's XML; `signed` marks the last paragraph before the 署名, kept whole and on the page
/// of the 署名 and 成文日期 (GB/T 9704: no signature alone on a page).
fn block_xml(b: &Block, signed: bool) -> String {
    match b {
        Block::Para(t) if signed => para(
            t,
            BODY_FONT,
            BODY_HALF_PT,
            &para_props_kept(true, true, INDENT_2, "both"),
        ),
        Block::Title(t) => t
            .lines()
            .map(|l| {
                para(
                    l,
                    TITLE_FONT,
                    TITLE_HALF_PT,
                    &para_props(true, "", "center"),
                )
            })
            .collect(),
        Block::To(t) => para(t, BODY_FONT, BODY_HALF_PT, &para_props(false, "", "both")),
        Block::Para(t) => para(
            t,
            BODY_FONT,
            BODY_HALF_PT,
            &para_props(false, INDENT_2, "both"),
        ),
        Block::Heading1(t) => para(
            t,
            HEADING1_FONT,
            BODY_HALF_PT,
            &para_props(true, INDENT_2, "both"),
        ),
        Block::Heading2(t) => para(
            t,
            HEADING2_FONT,
            BODY_HALF_PT,
            &para_props(true, INDENT_2, "both"),
        ),
        Block::Table { header, rows } => table_xml(header, rows),
        Block::Signature { office, date } => {
            // Four characters (of 三号) in from the right margin.
            let ind = "<w:ind w:right=\"1280\"/>";
            para(
                office,
                BODY_FONT,
                BODY_HALF_PT,
                &para_props(true, ind, "right"),
            ) + &para(
                date,
                BODY_FONT,
                BODY_HALF_PT,
                &para_props(false, ind, "right"),
            )
        }
        // A blank line goes with what follows it (the 主送 after the title, the 署名).
        Block::Blank => format!("<w:p>{}</w:p>", para_props(true, "", "both")),
    }
}

/// How wide a text is in units of one CJK character (digits and ASCII count half).
fn text_units(s: &str) -> f64 {
    s.chars()
        .map(|c| if c.is_ascii() { 0.6 } else { 1.0 })
        .sum()
}

/// A header as it is printed: broken before its unit in brackets (`累计受理审批` / `（件）`), the
/// one place a header may break.
fn header_lines(h: &str) -> Vec<&str> {
    match h.find('（') {
        Some(k) if k > 0 => vec![&h[..k], &h[k..]],
        _ => vec![h],
    }
}

/// Column widths (twips) across `width`: each column as wide as its widest header line or cell,
/// the room left shared out in proportion, so that no header breaks inside a word.
fn column_widths(header: &[String], rows: &[Vec<String>], width: i64) -> Vec<i64> {
    let need: Vec<f64> = (0..header.len())
        .map(|c| {
            let head = header_lines(&header[c])
                .into_iter()
                .map(text_units)
                .fold(0.0, f64::max);
            let cells = rows
                .iter()
                .filter_map(|r| r.get(c))
                .map(|t| text_units(t))
                .fold(0.0, f64::max);
            // the cell's margins: about 1.6 characters of 小四
            head.max(cells) + 1.6
        })
        .collect();
    let total: f64 = need.iter().sum::<f64>().max(1.0);
    let mut out: Vec<i64> = need
        .iter()
        .map(|n| (n / total * width as f64).floor() as i64)
        .collect();
    let used: i64 = out.iter().sum();
    if let Some(last) = out.last_mut() {
        *last += width - used;
    }
    out
}

/// A table across the type area, 仿宋 小四, the header row repeated on every page.
fn table_xml(header: &[String], rows: &[Vec<String>]) -> String {
    let width = mm(156.0);
    let widths = column_widths(header, rows, width);
    let cell = |c: usize, lines: &[&str], bold: bool| {
        let col = widths.get(c).copied().unwrap_or(width);
        let text = lines
            .iter()
            .map(|l| format!("<w:t xml:space=\"preserve\">{}</w:t>", escape(l)))
            .collect::<Vec<_>>()
            .join("<w:br/>");
        format!(
            "<w:tc><w:tcPr><w:tcW w:w=\"{col}\" w:type=\"dxa\"/><w:vAlign w:val=\"center\"/></w:tcPr><w:p><w:pPr><w:spacing w:before=\"0\" w:after=\"0\" w:line=\"360\" w:lineRule=\"atLeast\"/><w:jc w:val=\"center\"/></w:pPr><w:r>{}{text}</w:r></w:p></w:tc>",
            run_props(BODY_FONT, TABLE_HALF_PT, bold),
        )
    };
    let mut out = format!(
        "<w:tbl><w:tblPr><w:tblW w:w=\"{width}\" w:type=\"dxa\"/><w:jc w:val=\"center\"/><w:tblBorders><w:top w:val=\"single\" w:sz=\"4\" w:space=\"0\" w:color=\"000000\"/><w:left w:val=\"single\" w:sz=\"4\" w:space=\"0\" w:color=\"000000\"/><w:bottom w:val=\"single\" w:sz=\"4\" w:space=\"0\" w:color=\"000000\"/><w:right w:val=\"single\" w:sz=\"4\" w:space=\"0\" w:color=\"000000\"/><w:insideH w:val=\"single\" w:sz=\"4\" w:space=\"0\" w:color=\"000000\"/><w:insideV w:val=\"single\" w:sz=\"4\" w:space=\"0\" w:color=\"000000\"/></w:tblBorders><w:tblLayout w:type=\"fixed\"/></w:tblPr><w:tblGrid>{}</w:tblGrid>",
        widths
            .iter()
            .map(|w| format!("<w:gridCol w:w=\"{w}\"/>"))
            .collect::<String>()
    );
    out.push_str("<w:tr><w:trPr><w:tblHeader/></w:trPr>");
    for (c, h) in header.iter().enumerate() {
        out.push_str(&cell(c, &header_lines(h), true));
    }
    out.push_str("</w:tr>");
    for r in rows {
        out.push_str("<w:tr><w:trPr><w:cantSplit/></w:trPr>");
        for (k, c) in r.iter().enumerate() {
            out.push_str(&cell(k, &[c.as_str()], false));
        }
        out.push_str("</w:tr>");
    }
    out.push_str("</w:tbl>");
    out
}

const NS: &str = "xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\" xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\"";

fn document_xml(blocks: &[Block]) -> String {
    let body: String = (0..blocks.len())
        .map(|k| {
            let signed = match blocks.get(k + 1) {
                Some(Block::Signature { .. }) => true,
                Some(Block::Blank) => matches!(blocks.get(k + 2), Some(Block::Signature { .. })),
                _ => false,
            };
            block_xml(&blocks[k], signed)
        })
        .collect();
    // sectPr in schema order: footerReference…, pgSz, pgMar, cols, titlePg?, docGrid.
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<w:document {NS}><w:body>{body}<w:sectPr><w:footerReference w:type=\"even\" r:id=\"rIdFooterEven\"/><w:footerReference w:type=\"default\" r:id=\"rIdFooterOdd\"/><w:pgSz w:w=\"11906\" w:h=\"16838\"/><w:pgMar w:top=\"{}\" w:right=\"{}\" w:bottom=\"{}\" w:left=\"{}\" w:header=\"851\" w:footer=\"{}\" w:gutter=\"0\"/><w:cols w:space=\"425\"/><w:docGrid w:type=\"lines\" w:linePitch=\"{LINE_TWIPS}\"/></w:sectPr></w:body></w:document>",
        mm(37.0),
        mm(26.0),
        mm(35.0),
        mm(28.0),
        // The page number 7 mm below the type area: its line's baseline about 23 mm above
        // the paper's edge.
        mm(23.0),
    )
}

/// The page-number footer: "— PAGE —", 宋体 四号, right (odd) or left (even), one character in.
fn footer_xml(jc: &str, ind: &str) -> String {
    let rpr = run_props(PAGE_NUMBER_FONT, PAGE_NUMBER_HALF_PT, false);
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<w:ftr {NS}><w:p><w:pPr>{ind}<w:jc w:val=\"{jc}\"/></w:pPr><w:r>{rpr}<w:t xml:space=\"preserve\">— </w:t></w:r><w:r>{rpr}<w:fldChar w:fldCharType=\"begin\"/></w:r><w:r>{rpr}<w:instrText xml:space=\"preserve\"> PAGE </w:instrText></w:r><w:r>{rpr}<w:fldChar w:fldCharType=\"separate\"/></w:r><w:r>{rpr}<w:t>1</w:t></w:r><w:r>{rpr}<w:fldChar w:fldCharType=\"end\"/></w:r><w:r>{rpr}<w:t xml:space=\"preserve\"> —</w:t></w:r></w:p></w:ftr>"
    )
}

fn styles_xml() -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<w:styles {NS}><w:docDefaults><w:rPrDefault>{}</w:rPrDefault><w:pPrDefault><w:pPr><w:spacing w:before=\"0\" w:after=\"0\" w:line=\"{LINE_TWIPS}\" w:lineRule=\"exact\"/></w:pPr></w:pPrDefault></w:docDefaults><w:style w:type=\"paragraph\" w:default=\"1\" w:styleId=\"Normal\"><w:name w:val=\"Normal\"/><w:qFormat/></w:style></w:styles>",
        run_props(BODY_FONT, BODY_HALF_PT, false)
    )
}

fn font_table_xml() -> String {
    let fonts: String = FALLBACKS
        .iter()
        .map(|(name, alt)| {
            format!(
                "<w:font w:name=\"{}\"><w:altName w:val=\"{}\"/><w:charset w:val=\"86\"/><w:family w:val=\"modern\"/><w:pitch w:val=\"fixed\"/></w:font>",
                escape(name),
                escape(alt)
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<w:fonts {NS}>{fonts}</w:fonts>"
    )
}

const CONTENT_TYPES: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"><Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/><Default Extension=\"xml\" ContentType=\"application/xml\"/><Override PartName=\"/word/document.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml\"/><Override PartName=\"/word/styles.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.wordprocessingml.styles+xml\"/><Override PartName=\"/word/settings.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.wordprocessingml.settings+xml\"/><Override PartName=\"/word/fontTable.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.wordprocessingml.fontTable+xml\"/><Override PartName=\"/word/footer1.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.wordprocessingml.footer+xml\"/><Override PartName=\"/word/footer2.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.wordprocessingml.footer+xml\"/><Override PartName=\"/docProps/core.xml\" ContentType=\"application/vnd.openxmlformats-package.core-properties+xml\"/></Types>";

const ROOT_RELS: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\"><Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument\" Target=\"word/document.xml\"/><Relationship Id=\"rId2\" Type=\"http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties\" Target=\"docProps/core.xml\"/></Relationships>";

const DOCUMENT_RELS: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\"><Relationship Id=\"rIdStyles\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles\" Target=\"styles.xml\"/><Relationship Id=\"rIdSettings\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/settings\" Target=\"settings.xml\"/><Relationship Id=\"rIdFonts\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/fontTable\" Target=\"fontTable.xml\"/><Relationship Id=\"rIdFooterOdd\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/footer\" Target=\"footer1.xml\"/><Relationship Id=\"rIdFooterEven\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/footer\" Target=\"footer2.xml\"/></Relationships>";

fn settings_xml() -> String {
    // Odd and even pages have their own footers (the page number changes side).
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<w:settings {NS}><w:defaultTabStop w:val=\"640\"/><w:evenAndOddHeaders/><w:characterSpacingControl w:val=\"compressPunctuation\"/><w:compat><w:compatSetting w:name=\"compatibilityMode\" w:uri=\"http://schemas.microsoft.com/office/word\" w:val=\"15\"/></w:compat></w:settings>"
    )
}

fn core_xml(title: &str, author: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<cp:coreProperties xmlns:cp=\"http://schemas.openxmlformats.org/package/2006/metadata/core-properties\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\"><dc:title>{}</dc:title><dc:creator>{}</dc:creator></cp:coreProperties>",
        escape(title),
        escape(author)
    )
}

/// The document as `.docx` bytes.
pub fn render(blocks: &[Block], title: &str, author: &str) -> Result<Vec<u8>> {
    let err = |e: &dyn std::fmt::Display| Error::Report {
        path: std::path::PathBuf::from(title),
        source: format!("docx: {e}").into(),
    };
    let parts: [(&str, String); 10] = [
        ("[Content_Types].xml", CONTENT_TYPES.to_string()),
        ("_rels/.rels", ROOT_RELS.to_string()),
        ("docProps/core.xml", core_xml(title, author)),
        ("word/document.xml", document_xml(blocks)),
        ("word/_rels/document.xml.rels", DOCUMENT_RELS.to_string()),
        ("word/styles.xml", styles_xml()),
        ("word/settings.xml", settings_xml()),
        ("word/fontTable.xml", font_table_xml()),
        // Odd pages: right, one character (三号, 16 pt = 320 twips) in; even pages: left.
        (
            "word/footer1.xml",
            footer_xml("right", "<w:ind w:right=\"320\"/>"),
        ),
        (
            "word/footer2.xml",
            footer_xml("left", "<w:ind w:left=\"320\"/>"),
        ),
    ];
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default());
    for (name, text) in parts {
        zip.start_file(name, options).map_err(|e| err(&e))?;
        zip.write_all(text.as_bytes()).map_err(|e| err(&e))?;
    }
    Ok(zip.finish().map_err(|e| err(&e))?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn margins_are_the_standards_to_the_twip() {
        assert_eq!(mm(37.0), 2098);
        assert_eq!(mm(35.0), 1984);
        assert_eq!(mm(28.0), 1587);
        assert_eq!(mm(26.0), 1474);
        assert_eq!(mm(156.0), 8844);
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape("a<b&\"c\u{1}"), "a&lt;b&amp;&quot;c");
    }
}
