//! The doors a file comes in through (a county's mail, its page, the staff's 补录, an HTTP
//! source): what an arrival note says and the store's record of a file keeps, typed.

use serde::{Deserialize, Serialize};

/// The door a file came through.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Door {
    /// An attachment of a county's mail.
    Mail,
    /// An upload on a unit's page.
    Web,
    /// Typed in by the data staff for a backlog: `fayuan ingest --received T FILE…` (补录).
    Backfill,
    /// Fetched from an HTTP source (`[[sources]]`), written whole by fayuan itself.
    Source,
}

impl Door {
    /// Where a refusal says the file came from.
    pub fn zh(self) -> &'static str {
        match self {
            Door::Mail => "该邮箱地址",
            Door::Web => "本页面",
            Door::Backfill => "补录",
            Door::Source => "数据源",
        }
    }

    /// How the store records it (`FileEntry::door`, the files table's `door` column).
    pub fn code(self) -> &'static str {
        match self {
            Door::Mail => "mail",
            Door::Web => "web",
            Door::Backfill => "backfill",
            Door::Source => "source",
        }
    }

    /// The door of a code the store recorded; `None` for any other text.
    pub fn parse(code: &str) -> Option<Door> {
        [Door::Mail, Door::Web, Door::Backfill, Door::Source]
            .into_iter()
            .find(|d| d.code() == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_door_reads_back_from_its_code_and_no_other_text_is_a_door() {
        for d in [Door::Mail, Door::Web, Door::Backfill, Door::Source] {
            assert_eq!(Door::parse(d.code()), Some(d));
        }
        assert_eq!(Door::code(Door::Backfill), "backfill");
        for other in ["", "inbox", "Mail", "web "] {
            assert_eq!(Door::parse(other), None, "{other:?}");
        }
    }
}
