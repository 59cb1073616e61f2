//! Every text people receive, in one place: the digest (HTML, plain text, subject), a county's
//! receipt, the reminders, the notices to the data staff, the error report beside a refused file
//! and the group robots' summary — each a minijinja template in this folder (`subject` and `body`
//! blocks), filled from values the callers gather.
//!
//! A bureau may reword any of them: a file of the same name in a `texts/` folder beside the
//! pipeline file replaces the built-in one. Each such file is checked when the pipeline loads
//! (so by `fayuan check` too): it must parse, name a template fayuan has, and render every block
//! from an example of the values the real message gets without touching an unknown variable. A
//! bureau's template that still fails when a message is made (values of an unforeseen shape) is
//! logged and the built-in one is used: the message is never lost for it.
//!
//! Invariant: no text that reaches a person is assembled anywhere else (the words inside a
//! problem's description are the rule's that found it).

use crate::error::{Error, Result};
use minijinja::{Environment, UndefinedBehavior, Value, context};
use std::path::Path;

pub mod contexts;
pub mod documents;

/// The templates: (name, built-in text, the blocks a bureau's version must render).
const TEMPLATES: [(&str, &str, &[&str]); 21] = [
    (
        "status.txt",
        include_str!("status.txt"),
        &["body", "unconfirmed"],
    ),
    (
        "alerts.txt",
        include_str!("alerts.txt"),
        &[
            "returned",
            "unconfirmed",
            "unsigned",
            "supervision",
            "source",
            "job_failed",
        ],
    ),
    ("digest.html", include_str!("digest.html"), &["body"]),
    (
        "digest.txt",
        include_str!("digest.txt"),
        &["subject", "body", "without_workbook"],
    ),
    (
        "receipt.txt",
        include_str!("receipt.txt"),
        &["subject", "body"],
    ),
    (
        "reminder.txt",
        include_str!("reminder.txt"),
        &["subject", "body"],
    ),
    (
        "reminder-overdue.txt",
        include_str!("reminder-overdue.txt"),
        &["subject", "body"],
    ),
    (
        "reminder-urge.txt",
        include_str!("reminder-urge.txt"),
        &["subject", "body"],
    ),
    (
        "notice-failure.txt",
        include_str!("notice-failure.txt"),
        &["subject", "body"],
    ),
    (
        "notice-recovered.txt",
        include_str!("notice-recovered.txt"),
        &["subject", "body"],
    ),
    (
        "notice-undelivered.txt",
        include_str!("notice-undelivered.txt"),
        &["subject", "body"],
    ),
    (
        "notice-held.txt",
        include_str!("notice-held.txt"),
        &["subject", "body"],
    ),
    (
        "notice-mailbox.txt",
        include_str!("notice-mailbox.txt"),
        &["subject", "body"],
    ),
    (
        "error-report.txt",
        include_str!("error-report.txt"),
        &["body"],
    ),
    ("webhook.md", include_str!("webhook.md"), &["body"]),
    (
        "notice.txt",
        include_str!("notice.txt"),
        &["title", "to", "body"],
    ),
    (
        "return.txt",
        include_str!("return.txt"),
        &["subject", "body"],
    ),
    (
        "supervision.txt",
        include_str!("supervision.txt"),
        &["subject", "body"],
    ),
    (
        "receipt-web.txt",
        include_str!("receipt-web.txt"),
        &["subject", "body"],
    ),
    (
        "feedback.txt",
        include_str!("feedback.txt"),
        &["subject", "body"],
    ),
    (
        "acceptance-report.txt",
        include_str!("acceptance-report.txt"),
        &["title", "to", "body"],
    ),
];

/// The largest template a bureau may put beside its pipeline.
const MAX_TEMPLATE_BYTES: u64 = 256 * 1024;

/// The folder beside the pipeline file whose files replace the built-in templates.
pub const FOLDER: &str = "texts";

/// The names of the templates, for documentation and messages.
pub fn names() -> Vec<&'static str> {
    TEMPLATES.iter().map(|t| t.0).collect()
}

/// The templates in force: the built-in ones, and the bureau's where it has its own.
pub struct Texts {
    env: Environment<'static>,
    builtin: Environment<'static>,
    /// The templates the bureau replaced.
    pub overridden: Vec<String>,
}

impl std::fmt::Debug for Texts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Texts")
            .field("overridden", &self.overridden)
            .finish()
    }
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    // A value the data do not have prints as nothing (a bureau's template is checked strictly
    // at load, see `check`).
    env.set_undefined_behavior(UndefinedBehavior::Lenient);
    env
}

fn builtin_env() -> Environment<'static> {
    let mut env = environment();
    for (name, text, _) in TEMPLATES {
        if let Err(e) = env.add_template(name, text) {
            // Checked by the unit tests: a built-in template always parses.
            tracing::error!(template = name, error = %e, "built-in template");
        }
    }
    env
}

impl Texts {
    /// Only the built-in templates.
    pub fn builtin() -> Texts {
        Texts {
            env: builtin_env(),
            builtin: builtin_env(),
            overridden: Vec::new(),
        }
    }

    /// The built-in templates with the bureau's from `folder` (`texts/` beside the pipeline), if
    /// it exists; every problem of every file listed.
    pub fn load(folder: &Path) -> std::result::Result<Texts, Vec<String>> {
        let mut texts = Texts::builtin();
        let Ok(entries) = std::fs::read_dir(folder) else {
            return Ok(texts);
        };
        let mut problems = Vec::new();
        let mut names: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        names.sort();
        for path in names {
            let file = path.file_name().unwrap_or_default().to_string_lossy();
            let at = format!("{FOLDER}/{file}");
            if file.starts_with('.') || file.ends_with('~') {
                continue;
            }
            let Some((name, _, blocks)) = TEMPLATES.iter().find(|t| t.0 == file) else {
                problems.push(format!(
                    "{at}: not a template fayuan has (its templates: {})",
                    names_joined()
                ));
                continue;
            };
            match read_small(&path) {
                Ok(text) => match check(name, &text, blocks) {
                    Ok(()) => {
                        if let Err(e) = texts.env.add_template_owned(*name, text) {
                            problems.push(format!("{at}: {e:#}"));
                        } else {
                            texts.overridden.push(name.to_string());
                        }
                    }
                    Err(why) => problems.push(format!("{at}: {why}")),
                },
                Err(why) => problems.push(format!("{at}: {why}")),
            }
        }
        if problems.is_empty() {
            Ok(texts)
        } else {
            Err(problems)
        }
    }

    /// One block of a template (`subject`, `body`, …) filled with `ctx`. A bureau's template
    /// that fails here is logged and the built-in one is used.
    pub fn block(&self, name: &str, block: &str, ctx: &Value) -> Result<String> {
        match render_block(&self.env, name, block, ctx) {
            Ok(text) => Ok(text),
            Err(e) if self.overridden.iter().any(|o| o == name) => {
                tracing::error!(template = name, block, error = %format!("{e:#}"), "the bureau's template failed; the built-in one is used");
                render_block(&self.builtin, name, block, ctx).map_err(|source| Error::Text {
                    template: format!("{name} ({block})"),
                    source,
                })
            }
            Err(source) => Err(Error::Text {
                template: format!("{name} ({block})"),
                source,
            }),
        }
    }

    /// A message's subject and body.
    pub fn send<M: contexts::Message>(&self, values: &M) -> Result<(String, String)> {
        self.message(M::TEMPLATE, &contexts::value_of(values))
    }

    /// A message from another template that takes the same values (`M::ALSO`: a ladder's
    /// step).
    pub fn send_as<M: contexts::Message>(
        &self,
        template: &str,
        values: &M,
    ) -> Result<(String, String)> {
        self.message(template, &contexts::value_of(values))
    }

    /// A text's body from its typed values (the error report).
    pub fn body_of<M: contexts::Message>(&self, values: &M) -> Result<String> {
        self.body(M::TEMPLATE, &contexts::value_of(values))
    }

    /// A message's subject and body from its template's values (a typed one: [`Texts::send`]).
    pub fn message(&self, name: &str, ctx: &Value) -> Result<(String, String)> {
        Ok((
            self.block(name, "subject", ctx)?,
            self.block(name, "body", ctx)?,
        ))
    }

    /// A text's body (the error report, the robots' summary, the digest's HTML).
    pub fn body(&self, name: &str, ctx: &Value) -> Result<String> {
        self.block(name, "body", ctx)
    }
}

fn names_joined() -> String {
    names().join(", ")
}

fn render_block(
    env: &Environment<'static>,
    name: &str,
    block: &str,
    ctx: &Value,
) -> std::result::Result<String, minijinja::Error> {
    let t = env.get_template(name)?;
    let mut captured = t.render_captured_to(ctx.clone(), std::io::sink())?;
    captured.with_state_mut(|state| state.render_block(block))
}

/// A bureau's file, read whole if it is small.
fn read_small(path: &Path) -> std::result::Result<String, String> {
    let size = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
    if size > MAX_TEMPLATE_BYTES {
        return Err(format!(
            "{size} bytes, more than a template may be ({MAX_TEMPLATE_BYTES})"
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())
}

/// A bureau's template checked as it will be used: parsed, and each block rendered from an
/// example of its values with unknown variables refused.
fn check(name: &str, text: &str, blocks: &[&str]) -> std::result::Result<(), String> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.add_template_owned(name.to_string(), text.to_string())
        .map_err(|e| format!("{e:#}"))?;
    let ctx = example(name);
    // Rendering a block first renders the whole file (outside any block, then every block once):
    // its error names the place itself. Each block is then asked for by name.
    let t = env.get_template(name).map_err(|e| format!("{e:#}"))?;
    let mut captured = t
        .render_captured_to(ctx, std::io::sink())
        .map_err(|e| format!("{e:#}"))?;
    for block in blocks {
        captured
            .with_state_mut(|state| state.render_block(block))
            .map_err(|e| format!("block {block}: {e:#}"))?;
    }
    Ok(())
}

fn typed<M: contexts::Message>(name: &str) -> Option<minijinja::Value> {
    (name == M::TEMPLATE || M::ALSO.contains(&name)).then(|| contexts::value_of(M::example()))
}

/// The example of a typed template's values, if `name` is one.
pub fn typed_example(name: &str) -> Option<minijinja::Value> {
    typed::<contexts::Receipt>(name)
        .or_else(|| typed::<contexts::Return>(name))
        .or_else(|| typed::<contexts::Supervision>(name))
        .or_else(|| typed::<contexts::Reminder>(name))
        .or_else(|| typed::<contexts::NoticeFailure>(name))
        .or_else(|| typed::<contexts::NoticeRecovered>(name))
        .or_else(|| typed::<contexts::NoticeMailbox>(name))
        .or_else(|| typed::<contexts::NoticeHeld>(name))
        .or_else(|| typed::<contexts::NoticeUndelivered>(name))
        .or_else(|| typed::<contexts::ReceiptWeb>(name))
        .or_else(|| typed::<contexts::ErrorReport>(name))
        .or_else(|| typed::<contexts::Feedback>(name))
        .or_else(|| typed::<contexts::Webhook>(name))
        .or_else(|| typed::<documents::DigestValues>(name))
        .or_else(|| typed::<documents::AcceptanceValues>(name))
        .or_else(|| typed::<documents::NoticeValues>(name))
        .or_else(|| typed::<documents::AlertValues>(name))
        .or_else(|| typed::<documents::StatusValues>(name))
}

/// An example of the values each template gets: its type's example (`contexts.rs`,
/// `documents.rs`; the README lists the values). A bureau's template is rendered from it when the
/// pipeline loads.
pub fn example(name: &str) -> Value {
    typed_example(name).unwrap_or_else(|| context! {})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_template_renders_its_example_strictly() {
        for (name, text, blocks) in TEMPLATES {
            assert!(typed_example(name).is_some(), "{name}: no type of values");
            check(name, text, blocks).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn a_bureaus_template_replaces_the_builtin_and_a_broken_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("notice-recovered.txt"),
            "{% block subject %}已恢复：{{ job }}{% endblock %}{% block body %}{{ office }}：{{ job }} 好了。{% endblock %}",
        )
        .unwrap();
        let t = Texts::load(dir.path()).unwrap();
        let (subject, body) = t
            .message("notice-recovered.txt", &example("notice-recovered.txt"))
            .unwrap();
        assert_eq!(subject, "已恢复：report");
        assert_eq!(body, "六安市司法局：report 好了。");
        // A misspelt variable, a syntax error, an unknown file: each named, all at once.
        std::fs::write(
            dir.path().join("reminder.txt"),
            "{% block subject %}{{ untit }}{% endblock %}{% block body %}x{% endblock %}",
        )
        .unwrap();
        std::fs::write(dir.path().join("receipt.txt"), "{% block subject %}{{ x").unwrap();
        std::fs::write(dir.path().join("reciept.txt"), "x").unwrap();
        let problems = Texts::load(dir.path()).unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("texts/reminder.txt") && p.contains("untit")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.starts_with("texts/receipt.txt")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("texts/reciept.txt") && p.contains("not a template")),
            "{problems:?}"
        );
    }
}
