//! What names a queue — its account and its name — and who is asking.
//!
//! A queue is `QueueId { account, name }` everywhere inside the engine; this module is the
//! one place that turns it into and out of the forms clients use: queue URLs
//! (`{base}/{account}/{name}`) and ARNs (`arn:aws:sqs:{region}:{account}:{name}`). The
//! caller's identity comes from the HTTP layer with every engine call (`Caller`), so that
//! access decisions can be made in the engine, in one place (`Engine::queue_for`).

use std::fmt;

/// A queue: the account that owns it and its name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QueueId {
    pub account: String,
    pub name: String,
}

/// Who makes a request: the account it acts for, and the access key it signed with, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub account: String,
    pub access_key: Option<String>,
    /// What an API request asks and from where, for queue policies; `None` for calls the
    /// server makes itself (declared queues), which a policy does not judge.
    pub call: Option<Call>,
}

/// An API request's action and circumstances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The SQS action, e.g. `SendMessage` (an extension call names the SQS action it is like).
    pub action: String,
    pub source_ip: Option<std::net::IpAddr>,
    /// Whether it came over TLS (the server's own, or a proxy's that says so).
    pub secure_transport: bool,
}

/// The parts of `arn:partition:service:region:account:resource`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArnParts<'a> {
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub resource: &'a str,
}

/// Split an ARN into its parts; `None` when it is not of ARN form.
pub fn parse_arn(arn: &str) -> Option<ArnParts<'_>> {
    let mut it = arn.splitn(6, ':');
    if it.next()? != "arn" {
        return None;
    }
    let _partition = it.next().filter(|p| !p.is_empty())?;
    let service = it.next().filter(|s| !s.is_empty())?;
    let region = it.next()?;
    let account = it.next()?;
    let resource = it.next().filter(|r| !r.is_empty())?;
    Some(ArnParts { service, region, account, resource })
}

impl QueueId {
    pub fn new(account: impl Into<String>, name: impl Into<String>) -> QueueId {
        QueueId { account: account.into(), name: name.into() }
    }

    pub fn arn(&self, region: &str) -> String {
        format!("arn:aws:sqs:{region}:{}:{}", self.account, self.name)
    }

    /// The queue an SQS ARN of `region` names; `None` for another service or region.
    pub fn from_arn(arn: &str, region: &str) -> Option<QueueId> {
        let parts = parse_arn(arn)?;
        (parts.service == "sqs" && parts.region == region).then(|| QueueId::new(parts.account, parts.resource))
    }

    /// The queue's URL under `base` (`scheme://host[:port][/path]`).
    pub fn url(&self, base: &str) -> String {
        format!("{base}/{}/{}", self.account, self.name)
    }

    /// The queue a QueueUrl names, for a caller acting for `account`. Accepts
    /// `{base}/{account}/{name}`, the legacy `{base}/queue/{name}`, LocalStack's
    /// `{base}/queue/{region}/{account}/{name}` and a bare path or name, with or without the
    /// path of `base` (a `--public-url` may carry one) before them. `None` when the URL
    /// holds no queue: AWS answers NonExistentQueue then (reported by moto's maintainers, as
    /// recorded for a missing QueueUrl).
    pub fn from_url(url: &str, base: &str, account: &str) -> Option<QueueId> {
        let mut segments = path_segments(url);
        let prefix = path_segments(base);
        if !prefix.is_empty() && segments.starts_with(&prefix) {
            segments.drain(..prefix.len());
        }
        match segments.as_slice() {
            ["queue", name] => Some(QueueId::new(account, *name)),
            ["queue", _region, owner, name] => Some(QueueId::new(*owner, *name)),
            [owner, name] => Some(QueueId::new(*owner, *name)),
            [name] => Some(QueueId::new(account, *name)),
            _ => None,
        }
    }
}

impl fmt::Display for QueueId {
    /// The name: what AWS's messages call a queue by.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl Caller {
    pub fn new(account: impl Into<String>, access_key: Option<String>) -> Caller {
        Caller { account: account.into(), access_key, call: None }
    }

    /// Name the action an API request asks for (no effect on the server's own calls).
    pub fn set_action(&mut self, action: &str) {
        if let Some(call) = self.call.as_mut() {
            call.action.clear();
            call.action.push_str(action);
        }
    }

    /// SenderId of the messages it sends: its access key id, else its account.
    pub fn sender_id(&self) -> &str {
        self.access_key.as_deref().unwrap_or(&self.account)
    }

    /// The caller's queue of this name.
    pub fn queue(&self, name: impl Into<String>) -> QueueId {
        QueueId::new(self.account.clone(), name)
    }
}

/// The non-empty path segments of a URL (or of a bare path), without query or fragment.
fn path_segments(url: &str) -> Vec<&str> {
    let path = match url.split_once("://") {
        Some((_, rest)) => rest.split_once('/').map_or("", |(_, p)| p),
        None => url,
    };
    let path = path.split(['?', '#']).next().unwrap_or("");
    path.split('/').filter(|s| !s.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: &str = "000000000000";

    fn id(name: &str) -> Option<QueueId> {
        Some(QueueId::new(ACCOUNT, name))
    }

    #[test]
    fn a_queue_url_round_trips_through_every_accepted_form() {
        let q = QueueId::new(ACCOUNT, "orders");
        let url = q.url("http://localhost:9324");
        assert_eq!(url, "http://localhost:9324/000000000000/orders");
        assert_eq!(QueueId::from_url(&url, "http://localhost:9324", ACCOUNT), id("orders"));
        let base = "http://h";
        assert_eq!(QueueId::from_url("http://h/queue/orders", base, ACCOUNT), id("orders"));
        assert_eq!(QueueId::from_url("http://h/queue/us-east-1/000000000000/orders", base, ACCOUNT), id("orders"));
        assert_eq!(QueueId::from_url("orders", base, ACCOUNT), id("orders"));
        assert_eq!(QueueId::from_url("http://other:1/000000000000/orders?x#y", base, ACCOUNT), id("orders"));
    }

    #[test]
    fn a_public_url_path_is_skipped_and_a_url_without_a_queue_names_none() {
        let base = "https://example.test/sqs";
        assert_eq!(QueueId::from_url("https://example.test/sqs/000000000000/q", base, ACCOUNT), id("q"));
        assert_eq!(QueueId::from_url("https://example.test/", base, ACCOUNT), None);
        assert_eq!(QueueId::from_url("http://h/a/b/c", "http://h", ACCOUNT), None);
    }

    #[test]
    fn another_accounts_url_names_that_accounts_queue() {
        assert_eq!(
            QueueId::from_url("http://h/111111111111/q", "http://h", ACCOUNT),
            Some(QueueId::new("111111111111", "q"))
        );
    }

    #[test]
    fn an_arn_names_a_queue_only_in_its_service_and_region() {
        let q = QueueId::new(ACCOUNT, "dlq");
        let arn = q.arn("us-east-1");
        assert_eq!(arn, "arn:aws:sqs:us-east-1:000000000000:dlq");
        assert_eq!(QueueId::from_arn(&arn, "us-east-1"), Some(q));
        assert_eq!(QueueId::from_arn(&arn, "eu-west-1"), None);
        assert_eq!(QueueId::from_arn("arn:aws:sns:us-east-1:000000000000:dlq", "us-east-1"), None);
        assert_eq!(QueueId::from_arn("not-an-arn", "us-east-1"), None);
    }

    #[test]
    fn a_caller_sends_as_its_access_key_else_its_account() {
        assert_eq!(Caller::new(ACCOUNT, Some("AKIA1".into())).sender_id(), "AKIA1");
        assert_eq!(Caller::new(ACCOUNT, None).sender_id(), ACCOUNT);
    }
}
