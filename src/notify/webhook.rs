//! Group-robot webhooks (WeCom, DingTalk): a short Markdown summary of critical alerts, with
//! bounded retries. A failing webhook is reported and never blocks the email.

use crate::config::expand_env as expand;
use crate::config::{WebhookDef, WebhookKind};
use crate::retry::Failure;
use std::time::Duration;

/// The JSON body each kind of robot expects.
pub fn body(kind: WebhookKind, title: &str, markdown: &str) -> serde_json::Value {
    match kind {
        WebhookKind::Dingtalk => {
            serde_json::json!({"msgtype": "markdown", "markdown": {"title": title, "text": markdown}})
        }
        WebhookKind::Wecom => {
            serde_json::json!({"msgtype": "markdown", "markdown": {"content": markdown}})
        }
    }
}

/// Why a post to a robot did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// The URL names an environment variable that is not set.
    #[error("{0}")]
    Url(#[from] crate::error::Invalid),
    #[error("HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    /// Every try failed; the last one's answer.
    #[error("{0}")]
    Failed(String),
}

/// Posts to one webhook, trying again (the hook's own `attempts` and `retry_base_ms`) when the
/// robot is unreachable or answers with an error; 10 s per try.
pub async fn post(hook: &WebhookDef, title: &str, markdown: &str) -> Result<(), HookError> {
    let url = expand(&hook.url)?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(HookError::Client)?;
    let payload = body(hook.kind, title, markdown);
    hook.retry()
        .run("webhook", |_| async {
            let r = client
                .post(&url)
                .json(&payload)
                .send()
                .await
                .map_err(|e| Failure::transient(e.to_string()))?;
            if !r.status().is_success() {
                return Err(Failure::transient(format!("HTTP {}", r.status())));
            }
            // Both robots answer 200 with {"errcode": 0} on success.
            let v: serde_json::Value = r.json().await.unwrap_or_default();
            match v.get("errcode").and_then(|c| c.as_i64()) {
                None | Some(0) => Ok(()),
                Some(code) => Err(Failure::transient(format!(
                    "errcode {code}: {}",
                    v.get("errmsg").and_then(|m| m.as_str()).unwrap_or("")
                ))),
            }
        })
        .await
        .map_err(|f| HookError::Failed(f.error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_in_urls() {
        // SAFETY: tests in this module do not read this variable concurrently.
        unsafe { std::env::set_var("FAYUAN_TEST_HOOK_KEY", "k123") };
        assert_eq!(
            expand("https://x/send?key={env:FAYUAN_TEST_HOOK_KEY}").unwrap(),
            "https://x/send?key=k123"
        );
        assert!(expand("https://x/{env:FAYUAN_NOT_SET_ANYWHERE}").is_err());
        assert_eq!(
            body(WebhookKind::Dingtalk, "t", "m")["markdown"]["text"],
            "m"
        );
        assert_eq!(
            body(WebhookKind::Wecom, "t", "m")["markdown"]["content"],
            "m"
        );
    }
}
