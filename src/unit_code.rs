//! A unit's code (单位代码, six digits of GB/T 2260) as the store's record of files keeps it: made
//! only from text that is one (`UnitCode::parse`), so a `FileEntry` never names a unit by a
//! string that is not a code.

use std::fmt;

/// Six ASCII digits: `341522`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct UnitCode(String);

impl UnitCode {
    /// The code written in `text` (surrounding spaces allowed), if it is one.
    pub fn parse(text: &str) -> Option<UnitCode> {
        let t = text.trim();
        (t.len() == 6 && t.bytes().all(|b| b.is_ascii_digit())).then(|| UnitCode(t.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UnitCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for UnitCode {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for UnitCode {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for UnitCode {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

#[cfg(test)]
mod tests {
    use super::UnitCode;

    #[test]
    fn only_six_digits_are_a_code() {
        assert_eq!(UnitCode::parse(" 341522 ").unwrap().as_str(), "341522");
        for bad in ["", "34152", "3415222", "34152X", "３４１５２２", "341 522"] {
            assert!(UnitCode::parse(bad).is_none(), "{bad:?}");
        }
    }
}
