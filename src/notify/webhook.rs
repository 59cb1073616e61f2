//! Group-robot webhooks (WeCom, DingTalk): a short Markdown summary of critical alerts, with
//! bounded retries. A failing webhook is reported and never blocks the email.

use crate::config::WebhookDef;
use std::time::Duration;

use crate::config::expand_env as expand;

/// The JSON body each kind of robot expects.
pub fn body(kind: &str, title: &str, markdown: &str) -> serde_json::Value {
    match kind {
        "dingtalk" => {
            serde_json::json!({"msgtype": "markdown", "markdown": {"title": title, "text": markdown}})
        }
        _ => serde_json::json!({"msgtype": "markdown", "markdown": {"content": markdown}}),
    }
}

/// Posts to one webhook: up to `attempts` tries, 10 s each, doubling pauses from `base`.
pub async fn post(
    hook: &WebhookDef,
    title: &str,
    markdown: &str,
    attempts: u32,
    base: Duration,
) -> Result<(), String> {
    let url = expand(&hook.url)?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let payload = body(&hook.kind, title, markdown);
    let mut last = String::new();
    for attempt in 1..=attempts.max(1) {
        match client.post(&url).json(&payload).send().await {
            Ok(r) if r.status().is_success() => {
                // Both robots answer 200 with {"errcode": 0} on success.
                let v: serde_json::Value = r.json().await.unwrap_or_default();
                match v.get("errcode").and_then(|c| c.as_i64()) {
                    None | Some(0) => return Ok(()),
                    Some(code) => {
                        last = format!(
                            "errcode {code}: {}",
                            v.get("errmsg").and_then(|m| m.as_str()).unwrap_or("")
                        )
                    }
                }
            }
            Ok(r) => last = format!("HTTP {}", r.status()),
            Err(e) => last = e.to_string(),
        }
        if attempt < attempts {
            tokio::time::sleep(base.saturating_mul(1 << (attempt - 1))).await;
        }
    }
    Err(last)
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
        assert_eq!(body("dingtalk", "t", "m")["markdown"]["text"], "m");
        assert_eq!(body("wecom", "t", "m")["markdown"]["content"], "m");
    }
}
