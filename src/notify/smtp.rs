//! SMTP delivery with lettre: implicit TLS, STARTTLS or plain, AUTH, a timeout around each
//! whole send, and the difference between a transient failure (retry) and a permanent one.
//!
//! Invariant: only this module knows SMTP.

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::time::Duration;

pub use crate::config::{Security, ServerUrl};

/// What went wrong with one send.
#[derive(Debug, Clone, PartialEq)]
pub struct SendError {
    /// Worth trying again at once (4xx, refused connection, timeout).
    pub transient: bool,
    /// Worth trying again in a later round: a transient failure, or one of the server or of
    /// fayuan's settings (authentication, TLS) that a person can mend — not a refusal of this
    /// message or recipient (550 no such mailbox, 552 too large).
    pub later: bool,
    pub message: String,
    /// The server's reply code, when it answered with one (552: too large).
    pub code: Option<u16>,
}

pub struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    timeout: Duration,
}

impl Smtp {
    pub fn new(
        url: &ServerUrl,
        username: Option<&str>,
        password: Option<&str>,
        ca_pem: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<Smtp, crate::error::Cause> {
        let tls_params = || -> Result<TlsParameters, crate::error::Cause> {
            let mut b = TlsParameters::builder(url.host.clone());
            if let Some(pem) = ca_pem {
                b = b.add_root_certificate(
                    Certificate::from_pem(pem)
                        .map_err(|e| crate::error::during("CA certificate", e))?,
                );
            }
            b.build_rustls().map_err(|e| crate::error::during("TLS", e))
        };
        let tls = match url.security {
            Security::Implicit => Tls::Wrapper(tls_params()?),
            Security::StartTls => Tls::Required(tls_params()?),
            Security::Opportunistic => Tls::Opportunistic(tls_params()?),
            Security::Plain => Tls::None,
        };
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(url.host.clone())
            .port(url.port)
            .tls(tls)
            .timeout(Some(timeout));
        let user = username
            .map(str::to_string)
            .or_else(|| url.username.clone());
        if let Some(user) = user {
            b = b.credentials(Credentials::new(
                user,
                password.unwrap_or_default().to_string(),
            ));
        }
        Ok(Smtp {
            transport: b.build(),
            timeout,
        })
    }

    /// Sends the message bytes to one recipient (one SMTP transaction, so that each recipient
    /// succeeds or fails on its own).
    pub async fn send(
        &self,
        from: &Address,
        to: &Address,
        message: &[u8],
    ) -> Result<(), SendError> {
        let envelope =
            Envelope::new(Some(from.clone()), vec![to.clone()]).map_err(|e| SendError {
                transient: false,
                later: false,
                message: e.to_string(),
                code: None,
            })?;
        match tokio::time::timeout(self.timeout, self.transport.send_raw(&envelope, message)).await
        {
            Err(_) => Err(SendError {
                transient: true,
                later: true,
                message: format!("no answer within {} s", self.timeout.as_secs()),
                code: None,
            }),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => {
                let code: Option<u16> = e.status().and_then(|c| c.to_string().parse().ok());
                // Authentication and TLS are the server's or the settings', never the
                // recipient's: the message waits until they are mended.
                let settings = e.is_tls()
                    || e.is_client()
                    || matches!(code, Some(530 | 534 | 535 | 538 | 454 | 421));
                // Only a 5xx reply refuses this message or recipient. A 4xx, a refused, dropped
                // or half-answered connection (no reply code) and a timeout are transient:
                // retried with back-off until `give_up_hours`.
                let transient = !settings && code.is_none_or(|c| c < 500);
                Err(SendError {
                    transient,
                    later: transient || settings,
                    message: match e.status() {
                        Some(code) => format!("{code}: {e}"),
                        None => e.to_string(),
                    },
                    code,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = ServerUrl::parse("smtps://mail.example.gov.cn").unwrap();
        assert_eq!((u.port, u.security), (465, Security::Implicit));
        let u = ServerUrl::parse("smtp://fayuan@127.0.0.1:2525?tls=required").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.security, u.username.as_deref()),
            ("127.0.0.1", 2525, Security::StartTls, Some("fayuan"))
        );
        assert_eq!(
            ServerUrl::parse("smtp://relay").unwrap().security,
            Security::Plain
        );
        assert!(ServerUrl::parse("http://x").is_err());
        assert!(ServerUrl::parse("smtp://x:y").is_err());
        assert!(ServerUrl::parse("smtp://x?tls=maybe").is_err());
    }
}
