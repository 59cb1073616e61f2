//! Running the SQL files side by side: each as soon as the earlier files it names are done, in
//! a context of its own, on the current thread pool.
//!
//! Invariant: the outcome is that of running them one after another in file order — the same
//! frames (a name means the input of that name, or the result of the last earlier file of that
//! name that the query names), and the error of the first query in file order that fails.

use super::{Query, words};
use crate::error::{Error, Result};
use polars::prelude::*;
use polars::sql::SQLContext;
use std::collections::BTreeMap;

/// What each query reads of the queries before it (file order decides what a name means: a
/// query sees the inputs, then the results of the earlier files it names — `submissions` of
/// `15_submissions.sql` over the input of that name).
fn reads(queries: &[Query]) -> Vec<Vec<usize>> {
    (0..queries.len())
        .map(|k| {
            let read = words(queries[k].sql);
            (0..k)
                .filter(|&j| read.contains(queries[j].name.as_str()))
                .collect()
        })
        .collect()
}

/// The queries run so far: their frames, how many results each waiting query still needs, and
/// the first failure in file order.
struct Ran {
    frames: BTreeMap<String, DataFrame>,
    waiting: Vec<usize>,
    failed: Option<(usize, Error)>,
}

/// What every running query shares: the queries, the inputs, who reads whom, the progress.
#[derive(Clone, Copy)]
struct Env<'s> {
    queries: &'s [Query],
    tables: &'s [(&'static str, LazyFrame)],
    /// The earlier queries each query reads.
    reads: &'s [Vec<usize>],
    /// The later queries that read each query.
    readers: &'s [Vec<usize>],
    progress: &'s std::sync::Mutex<Ran>,
}

/// Runs every query as soon as what it reads is there, side by side on the current thread pool.
/// The result is the sequential one: the same frames, and the error of the first query in file
/// order that fails (whatever reads a failed query is not run).
pub(super) fn run_all(
    queries: &[Query],
    tables: &[(&'static str, LazyFrame)],
) -> Result<BTreeMap<String, DataFrame>> {
    let reads = reads(queries);
    let mut readers = vec![Vec::new(); queries.len()];
    for (k, r) in reads.iter().enumerate() {
        for &j in r {
            readers[j].push(k);
        }
    }
    let progress = std::sync::Mutex::new(Ran {
        frames: BTreeMap::new(),
        waiting: reads.iter().map(Vec::len).collect(),
        failed: None,
    });
    fn start<'s>(s: &rayon::Scope<'s>, k: usize, env: &'s Env<'s>) {
        s.spawn(move |s| {
            let Env {
                queries,
                tables,
                reads,
                readers,
                progress,
            } = *env;
            let lock = || progress.lock().unwrap_or_else(|p| p.into_inner());
            let earlier: Vec<(String, DataFrame)> = {
                let p = lock();
                reads[k]
                    .iter()
                    .filter_map(|&j| {
                        let name = &queries[j].name;
                        p.frames.get(name).map(|df| (name.clone(), df.clone()))
                    })
                    .collect()
            };
            let result = run_query(&queries[k], tables, &earlier);
            let mut p = lock();
            match result {
                Ok(df) => {
                    p.frames.insert(queries[k].name.clone(), df);
                    for &r in &readers[k] {
                        p.waiting[r] -= 1;
                        if p.waiting[r] == 0 {
                            start(s, r, env);
                        }
                    }
                }
                Err(e) => {
                    if p.failed.as_ref().is_none_or(|(f, _)| k < *f) {
                        p.failed = Some((k, e));
                    }
                }
            }
        });
    }
    let env = Env {
        queries,
        tables,
        reads: &reads,
        readers: &readers,
        progress: &progress,
    };
    rayon::scope(|s| {
        for k in (0..queries.len()).filter(|&k| reads[k].is_empty()) {
            start(s, k, &env);
        }
    });
    let p = progress.into_inner().unwrap_or_else(|p| p.into_inner());
    match p.failed {
        Some((_, e)) => Err(e),
        None => Ok(p.frames),
    }
}

/// Runs one query in a context of its own: the inputs, then the earlier results it names.
fn run_query(
    q: &Query,
    tables: &[(&'static str, LazyFrame)],
    earlier: &[(String, DataFrame)],
) -> Result<DataFrame> {
    let started = std::time::Instant::now();
    let mut ctx = SQLContext::new();
    for (name, lf) in tables {
        ctx.register(name, lf.clone());
    }
    for (name, df) in earlier {
        ctx.register(name, df.clone().lazy());
    }
    let df = ctx
        .execute(q.sql)
        .and_then(|lf| lf.collect())
        .map_err(|e| Error::Analysis {
            query: q.name.clone(),
            source: e.into(),
        })?;
    tracing::debug!(query = %q.name, rows = df.height(), ms = started.elapsed().as_secs_f64() * 1e3, "analysis");
    Ok(df)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &str, sql: &'static str) -> Query {
        Query {
            name: name.into(),
            sql,
            twin: None,
            columns: Vec::new(),
            requires_previous: false,
        }
    }

    fn input() -> Vec<(&'static str, LazyFrame)> {
        vec![("submissions", df!("n" => [1i64, 2, 3]).unwrap().lazy())]
    }

    fn total(frames: &BTreeMap<String, DataFrame>, name: &str) -> i64 {
        frames[name]
            .column("t")
            .unwrap()
            .i64()
            .unwrap()
            .get(0)
            .unwrap()
    }

    #[test]
    fn a_name_means_the_input_before_its_file_and_the_result_after() {
        let queries = [
            query("before", "SELECT SUM(n) AS t FROM submissions"),
            query("submissions", "SELECT n * 10 AS n FROM submissions"),
            query("after", "SELECT SUM(n) AS t FROM submissions"),
            query(
                "apart",
                "SELECT CAST(COUNT(*) AS BIGINT) AS t FROM submissions WHERE n > 1",
            ),
        ];
        for _ in 0..20 {
            let frames = run_all(&queries, &input()).unwrap();
            assert_eq!(total(&frames, "before"), 6);
            assert_eq!(total(&frames, "after"), 60);
            assert_eq!(total(&frames, "apart"), 3, "reads query 2's n: 10, 20, 30");
        }
    }

    #[test]
    fn a_name_in_a_comment_is_not_read_and_one_in_a_string_is_kept() {
        let read = words(
            "-- the same rules as the alerts\nSELECT 'a -- b' AS x, c.unit FROM completion c -- funding\n",
        );
        assert!(read.contains("completion") && read.contains("unit") && read.contains("b"));
        assert!(
            !read.contains("alerts") && !read.contains("funding"),
            "{read:?}"
        );
        // What each shipped query reads: `review` waits for the queries it joins, not for
        // `alerts` (which its header only mentions).
        let mut queries = crate::analyze::queries().unwrap();
        queries.extend(crate::analyze::review_queries().unwrap());
        let reads = reads(&queries);
        let names = |k: usize| -> Vec<&str> {
            reads[k].iter().map(|&j| queries[j].name.as_str()).collect()
        };
        let review = queries.iter().position(|q| q.name == "review").unwrap();
        assert_eq!(
            names(review),
            ["completion", "funding", "quality", "checks", "timeliness"]
        );
        let alerts = queries.iter().position(|q| q.name == "alerts").unwrap();
        assert_eq!(
            names(alerts),
            [
                "arrived",
                "used",
                "completion",
                "funding",
                "quality",
                "submissions",
                "checks",
                "spike"
            ]
        );
    }

    #[test]
    fn the_error_is_the_first_failing_query_in_file_order() {
        let queries = [
            query("slow", "SELECT SUM(n) AS t FROM submissions"),
            query("broken", "SELECT * FROM no_such_table"),
            query("fine", "SELECT t FROM slow"),
            query("also_broken", "SELECT * FROM no_such_other_table"),
            query("downstream", "SELECT * FROM broken"),
        ];
        for _ in 0..20 {
            match run_all(&queries, &input()) {
                Err(Error::Analysis { query, .. }) => assert_eq!(query, "broken"),
                other => panic!("expected broken's error, got {:?}", other.map(|f| f.len())),
            }
        }
    }
}
