//! Who may see what: the bureau's token (`?token=` or `Authorization: Bearer`) and each unit's
//! link token, an HMAC-SHA256 of the server secret and the unit's code. Tokens are compared in
//! constant time and never logged; a wrong one is the plain 404.

use super::Web;
use super::render::{nf, page};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// Whether two secrets are equal, in time that does not depend on where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut diff = u8::from(a.len() != b.len());
    for k in 0..a.len().max(b.len()) {
        diff |= a.get(k).copied().unwrap_or(0) ^ b.get(k).copied().unwrap_or(0xff);
    }
    diff == 0
}

/// HMAC-SHA256 (RFC 2104).
pub(super) fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| k.map(|x| x ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// A unit's link token: derived from the server secret, so links change when it does.
pub fn unit_token(secret: &[u8], code: &str) -> String {
    hex::encode(&hmac(secret, format!("fayuan-unit:{code}").as_bytes())[..16])
}

/// A unit's 负责人's link token (sign-off, issue 34 §4): another HMAC of the same secret, so
/// neither link can be made from the other.
pub fn signoff_token(secret: &[u8], code: &str) -> String {
    hex::encode(&hmac(secret, format!("fayuan-signoff:{code}").as_bytes())[..16])
}

/// The county page's path for a unit, given the secret (for reminders and the README).
pub fn unit_path(secret: &[u8], code: &str) -> String {
    format!("/u/{code}/{}", unit_token(secret, code))
}

/// The secret the unit links are derived from (`[web] secret_env`), if set (16+ characters).
pub fn secret(p: &crate::config::Pipeline) -> Option<Vec<u8>> {
    p.env()
        .link_secret()
        .map(|s| s.expose().as_bytes().to_vec())
}

/// `fayuan links`: `<code> <name> <url>` a line per unit; with `signoff`, the 负责人's links
/// (`<code> <name>负责人 <url>`).
pub fn links(p: &crate::config::Pipeline, signoff: bool) -> crate::error::Result<String> {
    let secret = secret(p).ok_or_else(|| {
        crate::error::Error::Usage(format!(
            "{}: set it (at least 16 characters); the unit links are derived from it",
            p.def.web.secret_env
        ))
    })?;
    if signoff && !p.def.web.county_signoff {
        return Err(crate::error::Error::Usage(
            "[web] county_signoff 未开启：负责人确认链接不可用（在流水线文件 [web] 中设 county_signoff = true）".into(),
        ));
    }
    Ok(p.units
        .iter()
        .map(|u| {
            if signoff {
                format!(
                    "{} {}负责人 {}\n",
                    u.code,
                    u.name,
                    signoff_url(p, &secret, &u.code)
                )
            } else {
                format!("{} {} {}\n", u.code, u.name, unit_url(p, &secret, &u.code))
            }
        })
        .collect())
}

/// A unit's 负责人's page as people open it.
pub fn signoff_url(p: &crate::config::Pipeline, secret: &[u8], code: &str) -> String {
    let base = unit_url(p, secret, code);
    let base = base.trim_end_matches(&unit_path(secret, code));
    format!("{base}/s/{code}/{}", signoff_token(secret, code))
}

/// A unit's page as people open it: `public_url` (or `http://<listen>`) + its path.
pub fn unit_url(p: &crate::config::Pipeline, secret: &[u8], code: &str) -> String {
    let base = p
        .def
        .web
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", p.def.web.listen));
    format!("{}{}", base.trim_end_matches('/'), unit_path(secret, code))
}

/// Who is on the bureau's page: the name actions are recorded under, and the token they came
/// with (their forms' anti-forgery tokens are derived from it).
#[derive(Debug, Clone)]
pub(super) struct Viewer {
    pub name: String,
    pub token: String,
}

/// The name actions taken with the shared bureau token are recorded under.
pub(super) const SHARED: &str = "市局数据人员（共用令牌）";

/// The bureau's token (the shared one or one of `[[web.staff]]`) from `?token=` or
/// `Authorization: Bearer`: `Ok` with who it is; else the answer — 401 without a token (SPEC
/// §10), the plain 404 with a wrong one — saying nothing else.
#[allow(clippy::result_large_err)] // the error is the response itself, returned at once
pub(super) fn bureau_who(
    w: &Web,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> std::result::Result<Viewer, Response> {
    let given = query.get("token").cloned().or_else(|| {
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_string)
    });
    let Some(g) = given else {
        return Err((
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            Html(page("需要令牌", "需要令牌。")),
        )
            .into_response());
    };
    // Every token compared (no early exit on the first that matches).
    let mut found = None;
    let shared = w
        .bureau_token
        .iter()
        .map(|t| (SHARED.to_string(), t.clone()));
    for (name, token) in shared.chain(w.staff.iter().cloned()) {
        if same_secret(&g, &token) && found.is_none() {
            found = Some(Viewer { name, token });
        }
    }
    found.ok_or_else(nf)
}

/// The bureau's token is right (see [`bureau_who`]).
#[allow(clippy::result_large_err)]
pub(super) fn bureau_ok(
    w: &Web,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> std::result::Result<(), Response> {
    bureau_who(w, query, headers).map(|_| ())
}

/// A form's anti-forgery token: an HMAC of the token the page was opened with and the page
/// (`bureau`, `u/341522`) — only someone who has that token can make it, and a form of one page
/// does not act on another's.
pub(super) fn form_token(token: &str, page: &str) -> String {
    hex::encode(&hmac(token.as_bytes(), format!("fayuan-form:{page}").as_bytes())[..16])
}

/// The unit of a county link, if the token is right.
pub(super) fn unit_ok<'a>(w: &'a Web, code: &str, token: &str) -> Option<&'a crate::config::Unit> {
    let secret = w.secret.as_ref()?;
    let unit = w.ctx.pipeline.units.iter().find(|u| u.code == code)?;
    same_secret(token, &unit_token(secret, &unit.code)).then_some(unit)
}

/// The unit of a 负责人's link, if the token is right and sign-off is on.
pub(super) fn signer_ok<'a>(
    w: &'a Web,
    code: &str,
    token: &str,
) -> Option<&'a crate::config::Unit> {
    if !w.ctx.pipeline.def.web.county_signoff {
        return None;
    }
    let secret = w.secret.as_ref()?;
    let unit = w.ctx.pipeline.units.iter().find(|u| u.code == code)?;
    same_secret(token, &signoff_token(secret, &unit.code)).then_some(unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        // RFC 4231, test case 2.
        assert_eq!(
            hex::encode(hmac(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
        assert!(!same_secret("", "a"));
    }
}
