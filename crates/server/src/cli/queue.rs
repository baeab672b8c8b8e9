//! A queue as the user names it — a name, a URL or an ARN — turned into what a call needs
//! (a URL for message calls, an ARN for move tasks), asking the server only when it must.

use aws_sdk_sqs::types::QueueAttributeName;

use super::client::Clients;
use super::error::CliError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueRef {
    Name(String),
    Url(String),
    Arn { arn: String, account: String, name: String },
}

impl QueueRef {
    pub fn parse(text: &str) -> Result<QueueRef, CliError> {
        if text.starts_with("http://") || text.starts_with("https://") {
            return Ok(QueueRef::Url(text.to_string()));
        }
        if let Some(rest) = text.strip_prefix("arn:") {
            // arn:PARTITION:sqs:REGION:ACCOUNT:NAME
            let parts: Vec<&str> = rest.split(':').collect();
            return match parts.as_slice() {
                [_, "sqs", _, account, name] if !name.is_empty() => {
                    Ok(QueueRef::Arn { arn: text.to_string(), account: account.to_string(), name: name.to_string() })
                }
                _ => Err(CliError::usage(format!("{text} is not an SQS queue ARN (arn:aws:sqs:REGION:ACCOUNT:NAME)"))),
            };
        }
        if is_queue_name(text) {
            Ok(QueueRef::Name(text.to_string()))
        } else {
            Err(CliError::usage(format!("{text:?} is not a queue name, URL or ARN")))
        }
    }

    /// The name the user would recognise.
    pub fn display_name(&self) -> &str {
        match self {
            QueueRef::Name(n) | QueueRef::Arn { name: n, .. } => n,
            QueueRef::Url(u) => u.rsplit('/').next().unwrap_or(u),
        }
    }

    pub async fn url(&self, c: &Clients) -> Result<String, CliError> {
        let (name, owner) = match self {
            QueueRef::Url(u) => return Ok(u.clone()),
            QueueRef::Name(n) => (n, None),
            QueueRef::Arn { account, name, .. } => (name, Some(account.clone())),
        };
        let out = c.sqs.get_queue_url().queue_name(name).set_queue_owner_aws_account_id(owner).send().await;
        let out = out.map_err(|e| match CliError::from(e) {
            CliError::Api { code, message } => CliError::Api { code, message: format!("{message} ({name})") },
            other => other,
        })?;
        out.queue_url.ok_or_else(|| CliError::Transport(format!("GetQueueUrl of {name} answered no QueueUrl")))
    }

    pub async fn arn(&self, c: &Clients) -> Result<String, CliError> {
        if let QueueRef::Arn { arn, .. } = self {
            return Ok(arn.clone());
        }
        let url = self.url(c).await?;
        queue_arn(c, &url).await
    }
}

pub async fn queue_arn(c: &Clients, url: &str) -> Result<String, CliError> {
    let out = c.sqs.get_queue_attributes().queue_url(url).attribute_names(QueueAttributeName::QueueArn).send().await?;
    out.attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .ok_or_else(|| CliError::Transport(format!("GetQueueAttributes of {url} answered no QueueArn")))
}

/// SQS's rule for names: 1–80 letters, digits, hyphens and underscores, `.fifo` at the end of
/// a FIFO queue's.
pub fn is_queue_name(text: &str) -> bool {
    let base = text.strip_suffix(".fifo").unwrap_or(text);
    !base.is_empty() && text.len() <= 80 && base.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queue_is_named_by_a_name_a_url_or_an_arn() {
        assert_eq!(QueueRef::parse("orders-dlq").unwrap(), QueueRef::Name("orders-dlq".into()));
        assert_eq!(QueueRef::parse("o.fifo").unwrap(), QueueRef::Name("o.fifo".into()));
        let url = "http://127.0.0.1:9324/000000000000/orders";
        assert_eq!(QueueRef::parse(url).unwrap(), QueueRef::Url(url.into()));
        assert_eq!(QueueRef::parse(url).unwrap().display_name(), "orders");
        let arn = QueueRef::parse("arn:aws:sqs:us-east-1:000000000000:orders").unwrap();
        assert_eq!(arn.display_name(), "orders");
        assert!(QueueRef::parse("arn:aws:s3:::bucket").is_err());
        assert!(QueueRef::parse("no spaces").is_err());
        assert!(QueueRef::parse(&"x".repeat(81)).is_err());
    }
}
