//! How the pages are painted, below every page (issue 37 §3: it breaks the circle of `auth`,
//! `cache` and `pages`): the templates compiled once, every value escaped, the small pages
//! (未找到, 出错了, 需要令牌), whole pages from their templates, and the one-time keys' marks of
//! a page rendered to be kept (`once()` in a template: a fresh key, or a mark filled per request).

use crate::app::Context;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;
use std::sync::LazyLock;

/// Where a form's one-time key goes in a kept page (no page has this character otherwise).
const ONCE_MARK: &str = "\u{1}once\u{1}";

thread_local! {
    static MARKING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// `once()` in a template: a fresh key, or the mark while a page to be kept is rendered.
pub(super) fn once_key() -> String {
    if MARKING.with(|m| m.get()) {
        ONCE_MARK.to_string()
    } else {
        super::once::fresh()
    }
}

/// `render` run on this thread with marks for the one-time keys.
pub(super) fn marked<T>(render: impl FnOnce() -> T) -> T {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            MARKING.with(|m| m.set(false));
        }
    }
    MARKING.with(|m| m.set(true));
    let _reset = Reset;
    render()
}

/// A kept page with each mark filled with a fresh key.
pub(super) fn filled(html: &str) -> String {
    let mut out = String::with_capacity(html.len() + 64);
    for (k, part) in html.split(ONCE_MARK).enumerate() {
        if k > 0 {
            out.push_str(&super::once::fresh());
        }
        out.push_str(part);
    }
    out
}

/// The pages' templates, compiled once.
static PAGES: LazyLock<minijinja::Environment<'static>> = LazyLock::new(|| {
    let mut env = minijinja::Environment::new();
    if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
        .trim_blocks(true)
        .build()
    {
        env.set_syntax(syntax);
    }
    // Each form's one-time key, fresh where the form is written (`once()` in a template).
    env.add_function("once", once_key);
    // Every value escaped as [`esc`] does, whatever minijinja's own escaping would be.
    env.set_formatter(|out, state, value| {
        if *state.auto_escape() == minijinja::AutoEscape::Html
            && !value.is_safe()
            && !value.is_none()
            && !value.is_undefined()
        {
            out.write_str(&esc(&value.to_string()))
                .map_err(|_| minijinja::Error::from(minijinja::ErrorKind::WriteFailure))
        } else {
            minijinja::escape_formatter(out, state, value)
        }
    });
    for (name, text) in [
        ("page.html", include_str!("templates/page.html")),
        ("parts.html", include_str!("templates/parts.html")),
        ("bureau.html", include_str!("templates/bureau.html")),
        ("county.html", include_str!("templates/county.html")),
        ("record.html", include_str!("templates/record.html")),
        ("grid.html", include_str!("templates/grid.html")),
        ("fill.html", include_str!("templates/fill.html")),
        ("signoff.html", include_str!("templates/signoff.html")),
        (
            "upload-result.txt",
            include_str!("templates/upload-result.txt"),
        ),
    ] {
        // Checked by the unit test below: a template that does not parse fails the build's tests.
        if let Err(e) = env.add_template(name, text) {
            tracing::error!(template = name, error = %e, "web template");
        }
    }
    env
});

/// A page from its template and values; a template that fails is the plain error page.
pub(super) fn render(template: &str, ctx: minijinja::Value) -> std::result::Result<String, String> {
    PAGES
        .get_template(template)
        .and_then(|t| t.render(ctx))
        .map_err(|e| format!("{template}: {e:#}"))
}

/// The one answer to anything unknown or unauthorised: nothing revealed.
pub(super) async fn not_found() -> Response {
    nf()
}

pub(super) fn nf() -> Response {
    answer(StatusCode::NOT_FOUND, "未找到", "页面不存在。")
}

pub(super) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A small page with a title and one paragraph.
pub(super) fn page(title: &str, message: &str) -> String {
    page_back(title, message, None)
}

/// A small page with a title, one paragraph and a link back to the page it came from.
pub(super) fn page_back(title: &str, message: &str, back: Option<&str>) -> String {
    render(
        "page.html",
        minijinja::context! {
            title, message, back,
            // Where the way back goes, in words.
            back_to => match back {
                Some(b) if b.starts_with("/u/") => "返回本单位页面",
                Some(b) if b.starts_with("/s/") => "返回负责人确认页面",
                _ => "返回市局页面",
            },
            palette => ser(crate::palette::for_templates()),
        },
    )
    .unwrap_or_else(|e| {
        tracing::error!(error = %e, "web page failed");
        String::from("<!DOCTYPE html><title>出错了</title><p>页面生成失败。</p>")
    })
}

/// A unit's record (工作台账) as a page: a line per event.
pub(super) fn record_page(ctx: &Context, unit: &str, text: &str) -> Response {
    whole(
        "record.html",
        minijinja::context! {
            title => format!("{} {}年工作台账", unit, ctx.pipeline.year()),
            palette => ser(crate::palette::for_templates()),
            lines => text.lines().map(str::to_string).collect::<Vec<_>>(),
        },
    )
}

/// A small page with a status and a way back.
pub(super) fn answer_back(status: StatusCode, title: &str, message: &str, back: &str) -> Response {
    (status, Html(page_back(title, message, Some(back)))).into_response()
}

/// A small page with a status.
pub(super) fn answer(status: StatusCode, title: &str, message: &str) -> Response {
    (status, Html(page(title, message))).into_response()
}

/// The 填报 form page (`fill.html`).
pub(super) fn fill_page(ctx: minijinja::Value) -> Response {
    let ctx = minijinja::context! { palette => ser(crate::palette::for_templates()), ..ctx };
    whole("fill.html", ctx)
}

/// A serialisable value for a template.
pub(super) fn ser<T: Serialize>(v: T) -> minijinja::Value {
    crate::texts::contexts::value_of(v)
}

/// A whole page from its template, or the error page.
pub(super) fn whole(template: &str, ctx: minijinja::Value) -> Response {
    match render(template, ctx) {
        Ok(html) => Html(html).into_response(),
        Err(e) => server_error(&e),
    }
}

pub(super) fn server_error(why: &str) -> Response {
    tracing::error!(error = %why, "web page failed");
    answer(
        StatusCode::INTERNAL_SERVER_ERROR,
        "出错了",
        "页面生成失败，请稍后再试或联系数据人员。",
    )
}

pub(super) fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_template_parses_and_escapes_as_esc_does() {
        for name in [
            "page.html",
            "parts.html",
            "bureau.html",
            "county.html",
            "record.html",
            "grid.html",
            "fill.html",
            "signoff.html",
        ] {
            assert!(PAGES.get_template(name).is_ok(), "{name}");
        }
        let html = page("<a & 'b'>", "x/y \"z\"");
        assert!(
            html.contains("<title>&lt;a &amp; &#39;b&#39;&gt;</title>"),
            "{html}"
        );
        assert!(html.contains(">x/y &quot;z&quot;</p>"), "{html}");
        assert!(html.contains(".ok{background:#c6efce}"), "{html}");
    }
}
