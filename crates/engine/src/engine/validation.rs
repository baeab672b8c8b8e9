//! AWS's limits and input rules that belong to no single queue: names, tags, batches,
//! paging tokens, attribute names.

use std::collections::{BTreeMap, HashSet};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use crate::error::{Error, Result};
use crate::queue_id::QueueId;

pub(super) const MAX_BATCH_ENTRIES: usize = 10;
pub(super) const MAX_BATCH_BYTES: usize = 1_048_576;
pub(super) const MAX_TAGS: usize = 50;
/// 1 to 128 characters of a-z, A-Z, 0-9 and ASCII punctuation: the rule for message group,
/// deduplication and receive attempt ids.
pub(super) fn is_printable_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic())
}
/// Queue names: 1–80 characters of `[A-Za-z0-9_-]`, FIFO queues ending in `.fifo`.
pub(super) fn validate_queue_name(name: &str, fifo_attr: bool) -> Result<()> {
    let fifo = name.ends_with(".fifo");
    let base = name.strip_suffix(".fifo").unwrap_or(name);
    let chars_ok = !base.is_empty() && base.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    const FIFO_RULE: &str = "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length.";
    const RULE: &str = "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length";
    // A `.fifo` name without FifoQueue=true is judged as a standard name, so the dot fails.
    match (fifo_attr, fifo) {
        (true, true) if chars_ok && name.len() <= 80 => Ok(()),
        (true, _) => Err(Error::InvalidParameterValue(FIFO_RULE.into())),
        (false, false) if chars_ok && name.len() <= 80 => Ok(()),
        (false, _) => Err(Error::InvalidParameterValue(RULE.into())),
    }
}
pub(super) fn validate_tags(tags: &BTreeMap<String, String>) -> Result<()> {
    if tags.len() > MAX_TAGS {
        return Err(Error::InvalidParameterValue("Too many tags added.".into()));
    }
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > 128 {
            return Err(Error::InvalidParameterValue(format!(
                "Tag key '{k}' is invalid: a tag key must be 1 to 128 characters."
            )));
        }
        if k.starts_with("aws:") {
            return Err(Error::InvalidParameterValue(format!(
                "Tag key '{k}' is invalid: the prefix aws: is reserved for use by AWS."
            )));
        }
        if v.chars().count() > 256 {
            return Err(Error::InvalidParameterValue(format!(
                "Tag value for key '{k}' is invalid: a tag value can be at most 256 characters."
            )));
        }
        if !k.chars().chain(v.chars()).all(tag_char) {
            return Err(Error::InvalidParameterValue(format!(
                "Tag '{k}' is invalid: tag keys and values may contain only letters, digits, spaces and _ . : / = + - @."
            )));
        }
    }
    Ok(())
}
/// AWS's tag character set, `[\p{L}\p{Z}\p{N}_.:/=+\-@]` (quotas-queues.html).
pub(super) fn tag_char(c: char) -> bool {
    c.is_alphanumeric()
        || (c.is_whitespace() && !c.is_control())
        || matches!(c, '_' | '.' | ':' | '/' | '=' | '+' | '-' | '@')
}
/// The paging of ListQueues and ListDeadLetterSourceQueues: MaxResults of 1–1000, and a
/// NextToken naming the last queue of the page before. A token is given only when MaxResults
/// was (as on AWS).
pub(super) struct Paging {
    limit: usize,
    paged: bool,
    /// Names up to this one were on earlier pages.
    pub after: Option<String>,
}

impl Paging {
    /// `bad_token` is the action's own wording for a NextToken it cannot read.
    pub(super) fn of(max_results: Option<i64>, next_token: Option<&str>, bad_token: &str) -> Result<Paging> {
        let limit = match max_results {
            Some(n) if !(1..=1000).contains(&n) => return Err(Error::InvalidParameterValue(
                "Value for parameter MaxResults is invalid. Reason: MaxResults must be an integer between 1 and 1000."
                    .into(),
            )),
            Some(n) => n as usize,
            None => 1000,
        };
        let after = match next_token.filter(|t| !t.is_empty()) {
            Some(t) => Some(
                URL_SAFE_NO_PAD
                    .decode(t)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| Error::InvalidParameterValue(bad_token.into()))?,
            ),
            None => None,
        };
        Ok(Paging { limit, paged: max_results.is_some(), after })
    }

    /// Whether `name` comes after the earlier pages.
    pub(super) fn is_after(&self, name: &str) -> bool {
        self.after.as_deref().is_none_or(|a| name > a)
    }

    /// How many candidates to collect: one more than a page, to know whether more follow.
    pub(super) fn wanted(&self) -> usize {
        self.limit + 1
    }

    /// The page out of up to `wanted()` ids in name order, and the token for the next one.
    pub(super) fn page(&self, mut ids: Vec<QueueId>) -> (Vec<QueueId>, Option<String>) {
        let more = ids.len() > self.limit;
        ids.truncate(self.limit);
        let token = match (more && self.paged, ids.last()) {
            (true, Some(last)) => Some(URL_SAFE_NO_PAD.encode(&last.name)),
            _ => None,
        };
        (ids, token)
    }
}

/// Refuse unknown names in AttributeNames / MessageSystemAttributeNames.
pub fn check_system_attribute_names(names: &[String]) -> Result<()> {
    const KNOWN: &[&str] = &[
        "All",
        "SenderId",
        "SentTimestamp",
        "ApproximateReceiveCount",
        "ApproximateFirstReceiveTimestamp",
        "AWSTraceHeader",
        "DeadLetterQueueSourceArn",
        "MessageDeduplicationId",
        "MessageGroupId",
        "SequenceNumber",
        "SqsManagedSseEnabled",
    ];
    // The SDK models type the older AttributeNames as queue attribute names, so typed clients
    // may send those; they name no message attribute and select nothing.
    let known = |n: &str| KNOWN.contains(&n) || crate::attributes::READABLE_NAMES.contains(&n);
    match names.iter().find(|n| !known(n)) {
        Some(n) => Err(Error::InvalidAttributeName(format!("Unknown Attribute {n}."))),
        None => Ok(()),
    }
}

/// Batch rules shared by the three batch actions: 1–10 entries with distinct, well-formed ids.
pub fn check_batch<'a>(ids: impl Iterator<Item = &'a str> + Clone, entry_name: &'static str) -> Result<()> {
    let n = ids.clone().count();
    if n == 0 {
        return Err(Error::EmptyBatchRequest(entry_name));
    }
    if n > MAX_BATCH_ENTRIES {
        return Err(Error::TooManyEntriesInBatchRequest(n));
    }
    let mut seen = HashSet::new();
    for id in ids {
        if id.is_empty() || id.len() > 80 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(Error::InvalidBatchEntryId);
        }
        if !seen.insert(id) {
            return Err(Error::BatchEntryIdsNotDistinct(id.to_string()));
        }
    }
    Ok(())
}
