//! E-mail through the SMTP server certkeeper is configured with (`smtp://` with optional
//! STARTTLS, or `smtps://`), a plain-text and an HTML part per message.

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("SMTP configuration: {0}")]
    Config(String),
    #[error("e-mail address {0:?} is not valid")]
    Address(String),
    #[error("sending mail failed: {0}")]
    Send(String),
}

/// A configured SMTP relay.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

/// Checks one recipient address.
pub fn parse_address(a: &str) -> Result<Mailbox, EmailError> {
    a.parse().map_err(|_| EmailError::Address(a.into()))
}

impl Mailer {
    /// `url` is `smtp://host:port` (plain, or STARTTLS with `?tls=required`) or
    /// `smtps://host:port` (TLS from the first byte), as lettre reads them; credentials, if
    /// any, come from the environment through the caller.
    pub fn new(
        url: &str,
        from: &str,
        credentials: Option<(String, String)>,
    ) -> Result<Self, EmailError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| EmailError::Config(format!("{url:?}: {e}")))?;
        let transport = match credentials {
            Some((user, password)) => transport.credentials(Credentials::new(user, password)),
            None => transport,
        };
        Ok(Self {
            transport: transport.build(),
            from: parse_address(from)?,
        })
    }

    pub async fn send(
        &self,
        to: &[String],
        subject: &str,
        text: String,
        html: String,
    ) -> Result<(), EmailError> {
        let mut builder = Message::builder().from(self.from.clone()).subject(subject);
        for t in to {
            builder = builder.to(parse_address(t)?);
        }
        let message = builder
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| EmailError::Send(e.to_string()))?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| EmailError::Send(e.to_string()))
    }
}
