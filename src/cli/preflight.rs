//! What is checked of the environment before anything starts (issue 34 §8): the web pages are
//! not served half-configured — `serve`, and `daemon` with `[web]`, refuse to start without the
//! bureau's token (or a staff token) and the link secret, naming the variables (exit 2); `check`
//! names a missing SMTP or IMAP password and a `public_url` that cannot reach the pages' port
//! (`fayuan check`, here too).

use crate::app::Context;
use crate::config::Pipeline;
use crate::error::{Error, Result, exit};

/// A variable set to at least 16 characters (the tokens' and the secret's minimum).
fn set(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v.len() >= 16)
}

/// The pages' token and secret, or a refusal naming what is missing.
pub(super) fn web_ready(p: &Pipeline) -> Result<()> {
    let w = &p.def.web;
    let mut missing = Vec::new();
    if !set(&w.token_env) && !w.staff.iter().any(|s| set(&s.token_env)) {
        missing.push(format!("{}（市局页面的令牌）", w.token_env));
    }
    if !set(&w.secret_env) {
        missing.push(format!("{}（各单位页面链接的密钥）", w.secret_env));
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "{}: the web pages ([web], {}) need {} — each at least 16 characters, from the environment (README \"Web pages\"); not started",
        p.file.display(),
        w.listen,
        missing.join(" and ")
    )))
}

/// `check`'s words about the environment: passwords that a send or a mailbox would miss, and a
/// `public_url` whose host is this machine but whose port is not the pages'.
pub(super) fn environment_warnings(p: &Pipeline) -> Vec<String> {
    let mut out = Vec::new();
    let e = &p.def.email;
    if e.username.is_some() && std::env::var("FAYUAN_SMTP_PASSWORD").map_or(true, |v| v.is_empty())
    {
        out.push("email.username is set but FAYUAN_SMTP_PASSWORD is not: every send would be refused by the server (set it in the service's environment)".to_string());
    }
    for m in &p.def.mailboxes {
        if std::env::var(&m.password_env).map_or(true, |v| v.is_empty()) {
            out.push(format!(
                "mailboxes {:?}: {} is not set: the mailbox cannot be read",
                m.name, m.password_env
            ));
        }
    }
    if p.web_configured {
        let w = &p.def.web;
        for (name, ok) in [
            (
                &w.token_env,
                set(&w.token_env) || w.staff.iter().any(|s| set(&s.token_env)),
            ),
            (&w.secret_env, set(&w.secret_env)),
        ] {
            if !ok {
                out.push(format!("web: {name} is not set (at least 16 characters): `serve` and `daemon` will not start"));
            }
        }
        if let Some(url) = &w.public_url
            && let Some(problem) = public_url_problem(url, &w.listen)
        {
            out.push(format!("web.public_url {url:?}: {problem}"));
        }
    }
    out
}

/// A public URL naming this machine (localhost, 127.0.0.1 or the listen address) on another port
/// than the one the pages listen on cannot reach them; behind a proxy it names the proxy.
fn public_url_problem(url: &str, listen: &str) -> Option<String> {
    let listen: std::net::SocketAddr = listen.parse().ok()?;
    let rest = url
        .strip_prefix("http://")
        .map(|r| (r, 80))
        .or_else(|| url.strip_prefix("https://").map(|r| (r, 443)));
    let Some((rest, default_port)) = rest else {
        return Some("expected http:// or https://".into());
    };
    let authority = rest.split('/').next().unwrap_or("");
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().ok()?),
        None => (authority, default_port),
    };
    let local = host == "localhost" || host == "127.0.0.1" || host == listen.ip().to_string();
    (local && port != listen.port()).then(|| {
        format!(
            "names this machine on port {port}, but the pages listen on {listen}: the links it makes would not open"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::public_url_problem;

    #[test]
    fn a_public_url_on_this_machine_must_name_the_pages_port() {
        assert!(public_url_problem("http://127.0.0.1:8081", "127.0.0.1:8080").is_some());
        assert!(public_url_problem("http://localhost", "127.0.0.1:8080").is_some());
        assert!(public_url_problem("http://127.0.0.1:8080/", "127.0.0.1:8080").is_none());
        assert!(public_url_problem("https://fayuan.example.gov.cn", "127.0.0.1:8080").is_none());
    }
}

/// `fayuan check`: the definition loaded (every problem was listed by loading it).
pub(super) fn check(ctx: &Context) -> Result<i32> {
    println!(
        "{}: {} units, year {}, data in {}",
        ctx.pipeline.file.display(),
        ctx.pipeline.units.len(),
        ctx.pipeline.year(),
        ctx.data_dir.display()
    );
    for w in &ctx.pipeline.warnings {
        println!("warning: {w}");
    }
    let years: Vec<String> = ctx
        .pipeline
        .days()
        .calendar()
        .years()
        .map(|(y, source)| format!("{y}年（{source}）"))
        .collect();
    if !years.is_empty() {
        println!("工作日历：{}", years.join("；"));
    }
    for w in ctx.pipeline.calendar_warnings(&ctx.clock.now()) {
        println!("warning: {w}");
    }
    for w in environment_warnings(&ctx.pipeline) {
        println!("warning: {w}");
    }
    if let Some(prev) = &ctx.pipeline.previous {
        println!(
            "上一年度：{}（{}），数据在 {}",
            prev.name(),
            prev.file.display(),
            prev.data_dir.display()
        );
        println!("建议的上年结转（carry_over = 上年结转 + 上年受理审批 − 上年办结）：");
        for c in crate::run::carry_over_proposal(ctx)? {
            match c.proposed {
                Some(n) if n == c.configured => {
                    println!("  {} {}：{n} 件（已配置，一致）", c.code, c.name)
                }
                Some(n) => println!(
                    "  {} {}：建议 carry_over = {n}（已配置 {}；依据上年 {} 个月的数据）",
                    c.code, c.name, c.configured, c.months
                ),
                None => println!("  {} {}：上年无该单位数据", c.code, c.name),
            }
        }
    }
    Ok(exit::OK)
}
