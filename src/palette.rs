//! The one palette: every colour people see — workbook fills, the digest's words and cells, the
//! chart, the web pages — so that 红 means the same in all of them.
//!
//! Invariant: no colour is written in any other `.rs` file (tests/it/architecture.rs checks); the
//! HTML templates take the colours that mean something (headers, bands, states) from
//! [`for_templates`] and keep only neutral greys of their own.

/// A colour as 0xRRGGBB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Colour(pub u32);

impl Colour {
    /// `#rrggbb`, for HTML.
    pub fn css(self) -> String {
        format!("#{:06x}", self.0)
    }

    /// (red, green, blue), for the chart.
    pub fn rgb(self) -> (u8, u8, u8) {
        ((self.0 >> 16) as u8, (self.0 >> 8) as u8, self.0 as u8)
    }
}

/// Table headers (workbook, template, digest, web).
pub const HEADER: Colour = Colour(0xDDEBF7);
/// A critical figure or band, an unreported month: the cell's background.
pub const CRITICAL_FILL: Colour = Colour(0xF8CBAD);
/// A warning, a late month.
pub const WARNING_FILL: Colour = Colour(0xFFE699);
/// A figure within its band, a month reported in time, a requirement met.
pub const OK_FILL: Colour = Colour(0xC6EFCE);
/// A month with a refused file and nothing accepted.
pub const REJECTED_FILL: Colour = Colour(0xF4B084);
/// The cells a county fills in (the template), and what waits for its 说明.
pub const INPUT_FILL: Colour = Colour(0xFFF2CC);
/// A month returned for correction (已退回), in the grid.
pub const RETURNED_FILL: Colour = Colour(0xD9D2E9);
/// The cells of the template a county does not touch.
pub const LOCKED_FILL: Colour = Colour(0xF2F2F2);
/// No band: a plain cell.
pub const PLAIN_FILL: Colour = Colour(0xFFFFFF);
/// Words of a critical figure (the digest).
pub const CRITICAL_TEXT: Colour = Colour(0xC0392B);
/// Words of a warning.
pub const WARNING_TEXT: Colour = Colour(0xD68910);
/// Words of a figure within its band.
pub const OK_TEXT: Colour = Colour(0x1E8449);
/// Words with no band.
pub const PLAIN_TEXT: Colour = Colour(0x444444);
/// The pages' body text.
pub const PAGE_TEXT: Colour = Colour(0x222222);
/// The pages' secondary words (a field's hint, a note under a heading).
pub const HINT_TEXT: Colour = Colour(0x555555);
/// The pages' empty cell ("—").
pub const NONE_TEXT: Colour = Colour(0x999999);
/// The pages' table rules.
pub const RULE: Colour = Colour(0xBBBBBB);
/// The pages' panels of preformatted text (a file's problems, a record).
pub const PANEL: Colour = Colour(0xF6F6F6);
/// The digest mail: the page around its cards.
pub const MAIL_BACKGROUND: Colour = Colour(0xF4F5F7);
/// The digest mail: a card.
pub const CARD: Colour = Colour(0xFFFFFF);
/// The digest mail: a draft's banner (暂定), and its rule.
pub const DRAFT_FILL: Colour = Colour(0xFFF3CD);
pub const DRAFT_RULE: Colour = Colour(0xE0A800);
/// The digest mail: words under a figure, and fainter ones (the footer).
pub const MUTED_TEXT: Colour = Colour(0x666666);
pub const FAINT_TEXT: Colour = Colour(0x888888);
/// The digest mail: the rule between rows, and the one above the total.
pub const SOFT_RULE: Colour = Colour(0xEEEEEE);
pub const TOTAL_RULE: Colour = Colour(0x999999);
/// The chart's bars at or ahead of schedule.
pub const CHART_BAR: Colour = Colour(0x4472C4);
/// The chart's bars behind schedule.
pub const CHART_BEHIND: Colour = Colour(0xED7D31);
/// The chart's schedule line.
pub const CHART_SCHEDULE: Colour = Colour(0xFF0000);

/// The fill of a band the analyses emit (`ok`, `warning`, `critical`; anything else plain).
pub fn band_fill(band: &str) -> Colour {
    match band {
        "critical" => CRITICAL_FILL,
        "warning" => WARNING_FILL,
        "ok" => OK_FILL,
        _ => PLAIN_FILL,
    }
}

/// The words' colour of a band.
pub fn band_text(band: &str) -> Colour {
    match band {
        "critical" => CRITICAL_TEXT,
        "warning" => WARNING_TEXT,
        "ok" => OK_TEXT,
        _ => PLAIN_TEXT,
    }
}

/// The fill of a grid state's code (sql/22_grid.sql): `ok`, `late`, `missing`, `rejected`,
/// `pending`; `None` for a month not yet due.
pub fn state_fill(state: &str) -> Option<Colour> {
    match state {
        "ok" => Some(OK_FILL),
        "late" => Some(WARNING_FILL),
        "missing" => Some(CRITICAL_FILL),
        "rejected" => Some(REJECTED_FILL),
        "pending" => Some(INPUT_FILL),
        "returned" => Some(RETURNED_FILL),
        _ => None,
    }
}

/// The colours HTML templates use, by name: `header` and each grid state's code.
pub fn for_templates() -> std::collections::BTreeMap<&'static str, String> {
    let mut m = std::collections::BTreeMap::from([
        ("header", HEADER.css()),
        ("ok_text", OK_TEXT.css()),
        ("critical_text", CRITICAL_TEXT.css()),
        ("text", PAGE_TEXT.css()),
        ("hint", HINT_TEXT.css()),
        ("none", NONE_TEXT.css()),
        ("rule", RULE.css()),
        ("panel", PANEL.css()),
        ("mail_background", MAIL_BACKGROUND.css()),
        ("card", CARD.css()),
        ("draft_fill", DRAFT_FILL.css()),
        ("draft_rule", DRAFT_RULE.css()),
        ("muted", MUTED_TEXT.css()),
        ("faint", FAINT_TEXT.css()),
        ("soft_rule", SOFT_RULE.css()),
        ("total_rule", TOTAL_RULE.css()),
    ]);
    for state in ["ok", "late", "missing", "rejected", "pending", "returned"] {
        if let Some(c) = state_fill(state) {
            m.insert(state, c.css());
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn css_and_rgb() {
        assert_eq!(HEADER.css(), "#ddebf7");
        assert_eq!(PLAIN_TEXT.css(), "#444444");
        assert_eq!(CHART_BAR.rgb(), (68, 114, 196));
        assert_eq!(CHART_BEHIND.rgb(), (237, 125, 49));
    }
}
