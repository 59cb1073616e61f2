//! ARCHITECTURE.md, enforced (issue 22), in the spirit of rust-analyzer's tidy tests: the source
//! is read as text and the documented rules are checked — the floors (from the `crate::` paths of
//! every file against the table in ARCHITECTURE.md), one home for "now", for the data folder's
//! layout and for the spreadsheet writer, no printing below the command line, and the size of a
//! file and of a function.

use crate::support::repo;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The longest a source file may be (lines, its unit tests included).
const MAX_FILE_LINES: usize = 800;
/// The longest a function may be (lines, from its signature to its closing brace).
const MAX_FN_LINES: usize = 100;

fn sources() -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(&repo().join("src"), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p.strip_prefix(repo()).unwrap().to_path_buf(), text)
        })
        .collect()
}

/// The code of a file without its comments and string literals (so that words in prose or in
/// Chinese text are not taken for code), and without its `#[cfg(test)]` module.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]") {
        Some(at) => &text[..at],
        None => text,
    };
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '"' => {
                out.push('"');
                let mut escaped = false;
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                    }
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        break;
                    }
                }
                out.push('"');
            }
            _ => out.push(c),
        }
    }
    out
}

/// The floors of ARCHITECTURE.md's table, top (0) to bottom: module → floor.
pub fn floors() -> BTreeMap<String, usize> {
    let doc = std::fs::read_to_string(repo().join("ARCHITECTURE.md")).unwrap();
    let table = &doc[doc.find("| floor | modules |").expect("the floors table")..];
    let mut out = BTreeMap::new();
    for (k, line) in table
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .enumerate()
    {
        let modules = line.split('|').nth(2).unwrap_or("");
        for part in modules.split('`').skip(1).step_by(2) {
            let name = part
                .trim_end_matches('/')
                .trim_end_matches(".rs")
                .split('/')
                .next()
                .unwrap()
                .to_string();
            out.insert(name, k);
        }
    }
    out
}

/// One rule checked over every file but the ones allowed: `(what, allowed files, needle)`, on the
/// code without comments and string literals.
fn only_in(what: &str, allowed: &[&str], needle: &dyn Fn(&str) -> bool) -> Vec<String> {
    only_in_text(what, allowed, needle, &code_of)
}

/// The same on the code without comments (string literals kept).
fn only_in_strings(what: &str, allowed: &[&str], needle: &dyn Fn(&str) -> bool) -> Vec<String> {
    only_in_text(what, allowed, needle, &|t: &str| {
        let t = t.find("#[cfg(test)]").map_or(t, |at| &t[..at]);
        t.lines()
            .map(|l| {
                if l.trim_start().starts_with("//") {
                    ""
                } else {
                    l
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    })
}

fn only_in_text(
    what: &str,
    allowed: &[&str],
    needle: &dyn Fn(&str) -> bool,
    prepare: &dyn Fn(&str) -> String,
) -> Vec<String> {
    sources()
        .into_iter()
        .filter(|(p, _)| !allowed.iter().any(|a| p.starts_with(a)))
        .flat_map(|(p, text)| {
            prepare(&text)
                .lines()
                .enumerate()
                .filter(|(_, l)| needle(l))
                .map(|(k, l)| format!("{}:{}: {what}: {}", p.display(), k + 1, l.trim()))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn now_comes_only_from_the_clock() {
    let wrong = only_in(
        "the system clock read outside period.rs",
        &["src/period.rs"],
        &|l| l.contains("Utc::now") || l.contains("Local::now") || l.contains("SystemTime::now"),
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn only_layout_knows_the_data_folder() {
    let tops = [
        "inbox",
        "archive",
        "quarantine",
        "store",
        "outbox",
        "deliveries",
        "runs",
        "daemon",
        "mail",
        "arrivals",
        "sources",
    ];
    let wrong = only_in_strings(
        "a data-folder path built outside layout.rs",
        &["src/layout.rs"],
        &|l| {
            // `.join("inbox")`, `.join("archive/…")`, and a path written out: `"archive/{m}/…"`.
            tops.iter().any(|t| {
                l.contains(&format!(".join(\"{t}\")"))
                    || l.contains(&format!(".join(\"{t}/"))
                    || l.contains(&format!("\"{t}/"))
            }) || l.contains("\"mail-{")
                // a path joined onto a folder's path outside layout.rs: `.inbox().join(name)`
                || tops.iter().any(|t| l.contains(&format!(".{t}().join(")))
        },
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn only_the_xlsx_kit_and_the_samples_write_spreadsheets() {
    let wrong = only_in(
        "rust_xlsxwriter outside the xlsx kit",
        &["src/report/xlsx.rs", "src/sample.rs"],
        &|l| l.contains("rust_xlsxwriter"),
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Issue 37 §3: the environment is read by the command line and, for what a pipeline names,
/// once when it loads (`config/env.rs`; `{env:NAME}` values in `config/values.rs`) — nowhere
/// else, besides the test-only hooks (`FAYUAN_TEST_FAULT`, `FAYUAN_TEST_KERNEL`).
#[test]
fn only_the_command_line_and_the_load_read_the_environment() {
    let wrong = only_in(
        "the environment read below the command line",
        &[
            "src/cli.rs",
            "src/cli/",
            "src/main.rs",
            "src/config/env.rs",
            "src/config/values.rs",
            "src/faults.rs",
            "src/fsutil.rs",
        ],
        &|l| l.contains("env::var"),
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn only_the_command_line_prints() {
    let wrong = only_in(
        "printing below cli.rs",
        &["src/cli.rs", "src/cli/", "src/main.rs"],
        &|l| l.contains("println!") || l.contains("print!("),
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Issue 37 §6: tests easy to find — no test file over the same 800 lines (the harness in
/// `support/`, the tests in files named by capability).
#[test]
fn no_test_file_is_too_long() {
    fn walk(dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let n = std::fs::read_to_string(&p).unwrap().lines().count();
                if n > MAX_FILE_LINES {
                    out.push(format!("{}: {n} lines", p.display()));
                }
            }
        }
    }
    let mut wrong = Vec::new();
    walk(&repo().join("tests"), &mut wrong);
    walk(&repo().join("benches"), &mut wrong);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn no_file_and_no_function_is_too_long() {
    let mut wrong = Vec::new();
    for (path, text) in sources() {
        let lines: Vec<&str> = text.lines().collect();
        if lines.len() > MAX_FILE_LINES {
            wrong.push(format!(
                "{}: {} lines (at most {MAX_FILE_LINES})",
                path.display(),
                lines.len()
            ));
        }
        // rustfmt puts a function's closing brace at its signature's indentation.
        for (k, line) in lines.iter().enumerate() {
            let body = line.trim_start();
            let indent = line.len() - body.len();
            // `fn`, after any of `pub`, `pub(crate)`, `pub(super)`, `async`, `const`, `unsafe`.
            let mut rest = body;
            for word in [
                "pub(crate) ",
                "pub(super) ",
                "pub ",
                "const ",
                "async ",
                "unsafe ",
            ] {
                rest = rest.strip_prefix(word).unwrap_or(rest);
            }
            let is_fn = rest.starts_with("fn ");
            if !is_fn || body.ends_with(';') {
                continue;
            }
            let close = format!("{}}}", " ".repeat(indent));
            if let Some(end) = lines[k..].iter().position(|l| *l == close)
                && end + 1 > MAX_FN_LINES
            {
                let name: String = body
                    .split("fn ")
                    .nth(1)
                    .unwrap_or("")
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                wrong.push(format!(
                    "{}:{}: fn {name}: {} lines (at most {MAX_FN_LINES})",
                    path.display(),
                    k + 1,
                    end + 1
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn every_colour_comes_from_the_palette() {
    let hex = |s: &str| s.chars().all(|c| c.is_ascii_hexdigit());
    let wrong = only_in_strings(
        "a colour written outside palette.rs",
        &["src/palette.rs"],
        &|l| {
            let bytes: Vec<char> = l.chars().collect();
            (0..bytes.len()).any(|k| {
                let lead = bytes[k] == '#' || (bytes[k] == 'x' && k > 0 && bytes[k - 1] == '0');
                let digits: String = bytes[k + 1..].iter().take(7).collect();
                lead && digits.chars().count() >= 6
                    && hex(&digits.chars().take(6).collect::<String>())
                    && !digits.chars().nth(6).is_some_and(|c| c.is_ascii_hexdigit())
            })
        },
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // The templates too (the pages', the texts'): a colour there is `{{ palette.… }}`.
    let mut in_templates = Vec::new();
    for dir in ["src/web/templates", "src/texts"] {
        for e in std::fs::read_dir(repo().join(dir)).unwrap().flatten() {
            let p = e.path();
            if !p.extension().is_some_and(|x| x == "html") {
                continue;
            }
            let text = std::fs::read_to_string(&p).unwrap();
            let chars: Vec<char> = text.chars().collect();
            for k in 0..chars.len() {
                let run = chars[k + 1..]
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric() || **c == '_' || **c == '-')
                    .count();
                if chars[k] == '#'
                    && (run == 3 || run == 6)
                    && chars[k + 1..k + 1 + run]
                        .iter()
                        .all(|c| c.is_ascii_hexdigit())
                {
                    in_templates.push(format!(
                        "{}: {}",
                        p.strip_prefix(repo()).unwrap().display(),
                        chars[k..k + 1 + run].iter().collect::<String>()
                    ));
                }
            }
        }
    }
    assert!(
        in_templates.is_empty(),
        "colours written in templates: {in_templates:?}"
    );
}

#[test]
fn only_layout_knows_the_output_folder() {
    let wrong = only_in_strings(
        "an output-folder path built outside layout.rs",
        &["src/layout.rs"],
        &|l| {
            l.contains("\"review-")
                || l.contains(".join(\".history\")")
                || l.contains(".join(\"templates\")")
                || l.contains("\"manifest.json\"")
                || l.contains("output_dir.join(")
        },
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn a_period_is_made_only_checked() {
    // Its fields are private; a literal anywhere but period.rs would not compile — and neither
    // would reading `.year`/`.month` as fields. This keeps the claim honest if they ever open.
    let wrong = only_in(
        "a Period built field by field outside period.rs",
        &["src/period.rs"],
        &|l| {
            l.contains("Period {")
                && !l.contains("struct Period")
                && !l.contains("impl")
                && !l.contains("-> Period {")
        },
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn no_string_errors_cross_a_module_edge() {
    // A public function answers with a typed error; words alone stay inside a module (the cell
    // checks of ingest/validate speak the problem's own Chinese text to their module).
    let wrong = only_in(
        "a public function whose error is a bare String",
        &["src/ingest/validate/"],
        &|l| {
            let l = l.trim_start();
            (l.starts_with("pub fn")
                || l.starts_with("pub async fn")
                || l.starts_with("pub(crate) fn"))
                && (l.contains(", String>") || l.contains(", String>>"))
                && l.contains("Result<")
        },
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn no_internal_impossibility_is_a_usage_error() {
    // `Error::Usage` (exit 2) is for what a person typed or set; where fayuan contradicts
    // itself it says `Internal`. Usage errors come only from the places that read the command
    // line, the environment or the pipeline's folder.
    let wrong = only_in(
        "Error::Usage outside the places that read what a person gives",
        &[
            "src/cli.rs",
            "src/cli/",
            "src/app.rs",
            "src/supervision.rs",
            "src/supervision/items.rs",
            "src/supervision/notes.rs",
            "src/web/fill.rs",
            "src/web/signoff.rs",
            "src/web/auth.rs",
            "src/web/act.rs",
            "src/config/mod.rs",
            "src/daemon/mod.rs",
            "src/notify/deliver.rs",
            "src/mailin/imap.rs",
            "src/report/review_rows.rs",
            "src/sample.rs",
            "src/error.rs",
        ],
        &|l| l.contains("Error::Usage("),
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
