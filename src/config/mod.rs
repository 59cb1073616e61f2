//! The pipeline definition (`pipelines/*.toml`): reference data, thresholds and folders.
//!
//! Invariant: every fact about units, targets, populations, budgets, deadlines and alert
//! thresholds comes from here; nothing of it is written in Rust. A definition is checked as a
//! whole before any work and every problem is listed at once.

// `!(x > 0.0)` is deliberate: it also rejects NaN.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use crate::error::Error;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

mod check;
pub mod env;
mod file;
mod values;

pub use file::*;
pub use values::*;

/// One reporting unit, checked.
#[derive(Debug, Clone)]
pub struct Unit {
    pub code: String,
    pub name: String,
    pub target: i64,
    pub population: Option<i64>,
    pub population_source: Option<String>,
    pub whole_city: bool,
    pub budget: f64,
    pub budget_derived: bool,
    pub carry_over: i64,
    pub contact: Option<Address>,
    /// Every address registered for the unit (the contact first), lower-cased.
    pub senders: Vec<String>,
    /// The unit's leader (`leader`), for the ladder's steps that copy them.
    pub leader: Option<Address>,
}

/// A checked pipeline definition, with folders resolved.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub file: PathBuf,
    pub def: PipelineFile,
    pub units: Vec<Unit>,
    pub data_dir: PathBuf,
    /// Things that are allowed but worth telling at start-up (e.g. a population not yet sourced).
    pub warnings: Vec<String>,
    /// Unit code → index in `units` (a country has thousands of units).
    by_code: std::collections::HashMap<String, usize>,
    /// The previous year's pipeline (`pipeline.previous`), loaded from the same folder; its own
    /// `previous` is not followed.
    pub previous: Option<Box<Pipeline>>,
    /// The texts people receive: the built-in templates and the bureau's own (`texts/` beside
    /// the pipeline file), checked.
    pub texts: std::sync::Arc<crate::texts::Texts>,
    /// The daemon's schedules, parsed.
    pub schedules: crate::cron::Schedules,
    /// `[email]`'s addresses, parsed: every message is addressed from these.
    pub addresses: Addresses,
    /// The deadline rules with the working calendar: every deadline comes from here.
    days: crate::calendar::Days,
    /// The environment it names, read once when it loaded.
    env: env::Environment,
    /// The file has a `[web]` section: the pages are meant to be served (the daemon then
    /// refuses to start without their token and link secret).
    pub web_configured: bool,
}

impl Pipeline {
    /// Loads a definition and the previous year's it names (a file in the same folder).
    pub fn load(path: &Path) -> Result<Pipeline, Error> {
        let mut p = Pipeline::load_alone(path)?;
        if let Some(name) = p.def.pipeline.previous.clone() {
            let dir = path.parent().unwrap_or(Path::new("."));
            let mut found = None;
            let mut broken = Vec::new();
            for f in pipeline_files(dir).unwrap_or_default() {
                if f.as_path() == path {
                    continue;
                }
                match Pipeline::load_alone(&f) {
                    Ok(q) if q.name() == name => {
                        found = Some(q);
                        break;
                    }
                    Ok(_) => {}
                    // A file that names itself so but does not load: its own problems are the
                    // answer, not "no pipeline named so".
                    Err(e) if declared_name(&f).as_deref() == Some(name.as_str()) => {
                        broken.push(format!(
                            "pipeline.previous {name:?}: {} does not load:\n    {}",
                            f.display(),
                            e.to_string().replace('\n', "\n    ")
                        ))
                    }
                    Err(_) => {}
                }
            }
            match found {
                Some(prev) if prev.name() != p.name() => p.previous = Some(Box::new(prev)),
                _ if !broken.is_empty() => {
                    return Err(Error::Config {
                        file: path.to_path_buf(),
                        problems: broken,
                    });
                }
                _ => {
                    return Err(Error::Config {
                        file: path.to_path_buf(),
                        problems: vec![format!(
                            "pipeline.previous {name:?}: no other pipeline named so in {} (a loadable *.toml beside this one)",
                            dir.display()
                        )],
                    });
                }
            }
        }
        Ok(p)
    }

    /// Loads a definition without following `previous`.
    fn load_alone(path: &Path) -> Result<Pipeline, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Pipeline::from_toml(&text, path)
    }

    /// Reads a definition and checks it as a whole: unknown keys (a misspelt key would
    /// otherwise be silently ignored) and every value problem are listed together.
    pub fn from_toml(text: &str, path: &Path) -> Result<Pipeline, Error> {
        let mut problems = Vec::new();
        let parsed = toml::Deserializer::parse(text).and_then(|de| {
            serde_ignored::deserialize(de, |key| {
                problems.push(format!(
                    "{key}: unknown key (not part of a pipeline definition; check its spelling and section)"
                ));
            })
        });
        let mut def: PipelineFile = match parsed {
            Ok(def) => def,
            Err(e) => {
                problems.push(e.to_string().trim().to_string());
                return Err(Error::Config {
                    file: path.to_path_buf(),
                    problems,
                });
            }
        };
        let check::Checked {
            units,
            schedules,
            addresses,
            warnings,
            problems: more,
        } = check::check(&mut def);
        problems.extend(more);
        let base = path.parent().unwrap_or(Path::new("."));
        let texts =
            crate::texts::Texts::load(&base.join(crate::texts::FOLDER)).unwrap_or_else(|more| {
                problems.extend(more);
                crate::texts::Texts::builtin()
            });
        let calendar = load_calendar(&def.calendar, base, &mut problems);
        let env = env::Environment::read(&def, &mut problems);
        let days = crate::calendar::Days::new(
            calendar,
            def.submission.deadline_day,
            def.submission.roll,
            def.schedule.on_days_off,
        );
        let (schedules, addresses) = match (schedules, addresses) {
            (Some(s), Some(a)) if problems.is_empty() => (s, a),
            _ => {
                return Err(Error::Config {
                    file: path.to_path_buf(),
                    problems,
                });
            }
        };
        let data_dir = base.join(&def.folders.data_dir);
        let by_code = units
            .iter()
            .enumerate()
            .map(|(i, u)| (u.code.clone(), i))
            .collect();
        Ok(Pipeline {
            file: path.to_path_buf(),
            def,
            units,
            data_dir,
            warnings,
            by_code,
            previous: None,
            texts: std::sync::Arc::new(texts),
            schedules,
            addresses,
            days,
            env,
            web_configured: text
                .parse::<toml::Table>()
                .is_ok_and(|t| t.contains_key("web")),
        })
    }

    /// The environment the pipeline names (passwords, tokens, the SMTP server's address), as
    /// read when it loaded.
    pub fn env(&self) -> &env::Environment {
        &self.env
    }

    /// The deadline rules and the working calendar.
    pub fn days(&self) -> &crate::calendar::Days {
        &self.days
    }

    /// The submission deadline of `period` (the end of its last day, rolled as the calendar
    /// says): a file accepted at or after it is late.
    pub fn deadline(&self, period: crate::period::Period) -> chrono::DateTime<chrono_tz::Tz> {
        self.days.deadline(period)
    }

    /// The deadline as people read it: "2025-05-06 24:00（因法定节假日顺延）".
    pub fn deadline_zh(&self, period: crate::period::Period) -> String {
        format!(
            "{}{}",
            crate::period::deadline_zh(&self.deadline(period)),
            crate::calendar::rolled_zh(&self.days, period)
        )
    }

    /// Whether `period`'s deadline has passed as of `as_of`.
    pub fn is_due(
        &self,
        period: crate::period::Period,
        as_of: &chrono::DateTime<chrono_tz::Tz>,
    ) -> bool {
        self.days.is_due(period, as_of)
    }

    /// What `check` and the daemon say about the calendar as of `now`: the pipeline's year
    /// missing (its holidays unknown), and from 1 November next year's (December's deadline
    /// and January's follow-up fall in it) until its notice is added.
    pub fn calendar_warnings(&self, now: &chrono::DateTime<chrono_tz::Tz>) -> Vec<String> {
        use chrono::Datelike;
        let cal = self.days.calendar();
        let mut out = Vec::new();
        let mut wanted = vec![self.year()];
        if now.month() >= 11 {
            wanted.push(now.year() + 1);
        }
        wanted.dedup();
        for y in wanted {
            if !cal.knows(y) {
                out.push(format!(
                    "calendar: 工作日历中没有{y}年的节假日安排（国务院办公厅关于{y}年部分节假日安排的通知）：{y}年的截止日不因节假日顺延、催报不避开节假日；通知发布后请在日历文件中加入{y}年（README“工作日历”）"
                ));
            }
        }
        out
    }

    pub fn name(&self) -> &str {
        &self.def.pipeline.name
    }

    pub fn year(&self) -> i32 {
        self.def.pipeline.year
    }

    /// The word for the whole area: `[pipeline] area`, else 全 + the last character of `city`
    /// (六安市 → 全市, 安徽省 → 全省).
    pub fn area(&self) -> String {
        let p = &self.def.pipeline;
        p.area.clone().unwrap_or_else(|| {
            let last = p
                .city
                .chars()
                .last()
                .filter(|c| "省市县区州盟旗".contains(*c));
            format!("全{}", last.unwrap_or('市'))
        })
    }

    /// What every message names: the plan's title, the city, the office.
    pub fn heading(&self) -> crate::texts::contexts::Heading {
        let p = &self.def.pipeline;
        crate::texts::contexts::Heading {
            title: p.title.clone(),
            city: p.city.clone(),
            office: p.office.clone(),
        }
    }

    pub fn unit(&self, code: &str) -> Option<&Unit> {
        self.by_code.get(code).map(|&i| &self.units[i])
    }

    /// A unit's place in plan order (`units[i]`), by its code.
    pub fn unit_index(&self, code: &str) -> Option<usize> {
        self.by_code.get(code).copied()
    }

    /// A unit as a person names it: its code or its name (`341522`, `霍邱县`).
    pub fn find_unit(&self, code_or_name: &str) -> Option<&Unit> {
        let key = code_or_name.trim();
        self.unit(key)
            .or_else(|| self.units.iter().find(|u| u.name == key))
    }
}

/// The working calendar a definition names: its file's years and its own, checked together.
fn load_calendar(
    section: &CalendarSection,
    base: &Path,
    problems: &mut Vec<String>,
) -> crate::calendar::Calendar {
    let mut years = Vec::new();
    let mut what = "calendar".to_string();
    if let Some(file) = &section.file {
        let path = base.join(file);
        what = path.display().to_string();
        match std::fs::read_to_string(&path) {
            Err(e) => problems.push(format!(
                "calendar.file {}: cannot be read ({e}); the working calendar (节假日与调休) is a file beside the pipeline",
                path.display()
            )),
            Ok(text) => {
                let parsed = toml::Deserializer::parse(&text).and_then(|de| {
                    serde_ignored::deserialize(de, |key| {
                        problems.push(format!("{}: {key}: unknown key", path.display()));
                    })
                });
                match parsed {
                    Ok(f) => {
                        let f: crate::calendar::CalendarFile = f;
                        years.extend(f.year);
                    }
                    Err(e) => problems.push(format!("{}: {}", path.display(), e.to_string().trim())),
                }
            }
        }
    }
    years.extend(section.year.iter().cloned());
    crate::calendar::Calendar::build(&years, &what, problems)
}

/// The `[pipeline] name` a file gives itself, read even when the rest of it is wrong.
fn declared_name(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let v: toml::Table = text.parse().ok()?;
    Some(v.get("pipeline")?.get("name")?.as_str()?.to_string())
}

/// The shared working calendar's file name (`[calendar] file`), which sits among the pipelines
/// and is not one.
pub const CALENDAR_FILE: &str = "calendar.toml";

/// The pipeline definitions of a folder: its `*.toml` files, sorted, except examples
/// (`*.example.toml`, which are templates to copy, not pipelines to run) and the shared
/// calendar (`calendar.toml`).
pub fn pipeline_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .filter(|p| {
            !p.file_name().is_some_and(|n| {
                let n = n.to_string_lossy();
                n.ends_with(".example.toml") || n == CALENDAR_FILE
            })
        })
        .collect();
    found.sort();
    Ok(found)
}

/// Finds the pipeline to use when `--pipeline` is not given: the one `*.toml` in `pipelines/`.
pub fn default_pipeline_path(dir: &Path) -> Result<PathBuf, Error> {
    let mut found = pipeline_files(dir).map_err(|e| {
        Error::Usage(format!(
            "no --pipeline given and {} cannot be read ({e}); pass --pipeline FILE",
            dir.display()
        ))
    })?;
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(Error::Usage(format!(
            "no pipeline definition (*.toml) in {}; pass --pipeline FILE",
            dir.display()
        ))),
        _ => Err(Error::Usage(format!(
            "several pipeline definitions in {} ({}); choose one with --pipeline FILE",
            dir.display(),
            found
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}
