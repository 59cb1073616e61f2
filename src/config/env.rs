//! The environment a pipeline reads, resolved once when it loads (issue 37 §3): the mail
//! server's address and password, the CA files, each mailbox's password, the pages' tokens and
//! link secret. Below the command line nothing reads these variables again; a value that cannot
//! be used (an SMTP address that does not parse) is a problem of the load, listed with the
//! file's own. Secrets are kept as [`Secret`], which never prints its value.

use super::file::PipelineFile;
use super::values::ServerUrl;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A secret from the environment: used, compared, never printed (`{:?}` shows no value).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// What the pipeline's environment held when it loaded.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    smtp_url: Option<ServerUrl>,
    smtp_ca_file: Option<PathBuf>,
    smtp_password: Option<Secret>,
    imap_ca_file: Option<PathBuf>,
    /// Mailbox name → its password (`password_env`), when set and not empty.
    mailbox_passwords: BTreeMap<String, Secret>,
    /// `[web] secret_env`, `token_env`, `metrics_token_env`: 16+ characters, or none.
    link_secret: Option<Secret>,
    bureau_token: Option<Secret>,
    metrics_token: Option<Secret>,
    /// `[[web.staff]]` name → token (16+ characters), or none.
    staff_tokens: Vec<(String, Option<Secret>)>,
}

/// A token or link secret: set and at least 16 characters.
fn long(name: &str) -> Option<Secret> {
    std::env::var(name)
        .ok()
        .filter(|t| t.len() >= 16)
        .map(Secret)
}

fn set(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl Environment {
    /// Reads every variable the definition names, once; `problems` gets what cannot be used.
    pub(super) fn read(def: &PipelineFile, problems: &mut Vec<String>) -> Environment {
        let smtp_url = set("FAYUAN_SMTP_URL").and_then(|u| match ServerUrl::parse(&u) {
            Ok(url) => Some(url),
            Err(why) => {
                problems.push(format!("FAYUAN_SMTP_URL {u:?}: {why}"));
                None
            }
        });
        let w = &def.web;
        Environment {
            smtp_url,
            smtp_ca_file: set("FAYUAN_SMTP_CA_FILE").map(PathBuf::from),
            smtp_password: std::env::var("FAYUAN_SMTP_PASSWORD").ok().map(Secret),
            imap_ca_file: set("FAYUAN_IMAP_CA_FILE").map(PathBuf::from),
            mailbox_passwords: def
                .mailboxes
                .iter()
                .filter_map(|m| Some((m.name.clone(), Secret(set(&m.password_env)?))))
                .collect(),
            link_secret: long(&w.secret_env),
            bureau_token: long(&w.token_env),
            metrics_token: long(&w.metrics_token_env),
            staff_tokens: w
                .staff
                .iter()
                .map(|s| (s.name.clone(), long(&s.token_env)))
                .collect(),
        }
    }

    /// `FAYUAN_SMTP_URL`, parsed: it overrides `[email] server`.
    pub fn smtp_url(&self) -> Option<&ServerUrl> {
        self.smtp_url.as_ref()
    }

    /// `FAYUAN_SMTP_CA_FILE`: overrides `[email] tls_ca_file`.
    pub fn smtp_ca_file(&self) -> Option<&PathBuf> {
        self.smtp_ca_file.as_ref()
    }

    /// `FAYUAN_SMTP_PASSWORD`, the only place the SMTP password comes from.
    pub fn smtp_password(&self) -> Option<&Secret> {
        self.smtp_password.as_ref()
    }

    /// `FAYUAN_IMAP_CA_FILE`: a PEM file trusted besides the system's roots.
    pub fn imap_ca_file(&self) -> Option<&PathBuf> {
        self.imap_ca_file.as_ref()
    }

    /// A mailbox's password (its `password_env`), if set.
    pub fn mailbox_password(&self, mailbox: &str) -> Option<&Secret> {
        self.mailbox_passwords.get(mailbox)
    }

    /// The secret the unit links are derived from, if set (16+ characters).
    pub fn link_secret(&self) -> Option<&Secret> {
        self.link_secret.as_ref()
    }

    /// The bureau's token for the pages, if set (16+ characters).
    pub fn bureau_token(&self) -> Option<&Secret> {
        self.bureau_token.as_ref()
    }

    /// `/metrics`'s bearer token, if set (16+ characters).
    pub fn metrics_token(&self) -> Option<&Secret> {
        self.metrics_token.as_ref()
    }

    /// Each `[[web.staff]]` person with their token, if set (16+ characters).
    pub fn staff_tokens(&self) -> &[(String, Option<Secret>)] {
        &self.staff_tokens
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_prints_no_value() {
        let s = Secret("hunter2-for-the-test".into());
        assert_eq!(s.expose(), "hunter2-for-the-test");
        assert!(!format!("{s:?}").contains("hunter2"));
        let env = Environment {
            smtp_password: Some(s.clone()),
            link_secret: Some(s),
            ..Environment::default()
        };
        assert!(!format!("{env:?}").contains("hunter2"));
    }
}
