//! Messages as SQS defines them: body rules, message attributes and their MD5 digests.

use std::collections::BTreeMap;
use std::sync::Arc;

use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Value of one message attribute. The data type decides the transport: types that
/// start with `Binary` carry bytes, `String` and `Number` carry text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeValue {
    pub data_type: String,
    pub value: AttributeData,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttributeData {
    String(String),
    Binary(Vec<u8>),
}

pub type Attributes = BTreeMap<String, AttributeValue>;

/// What a producer hands over for one message.
#[derive(Debug, Clone, Default)]
pub struct NewMessage {
    pub body: String,
    pub delay_seconds: Option<i64>,
    pub attributes: Attributes,
    pub system_attributes: Attributes,
    pub group_id: Option<String>,
    pub deduplication_id: Option<String>,
    /// The request's `X-Amzn-Trace-Id` header: the message's `AWSTraceHeader` unless the
    /// message sets that system attribute itself (AWS X-Ray's SQS integration).
    pub trace_header: Option<String>,
}

/// A stored message's immutable content, shared between the queue and receivers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Content {
    pub id: String,
    pub body: String,
    pub md5_of_body: String,
    pub attributes: Attributes,
    pub md5_of_attributes: Option<String>,
    pub system_attributes: Attributes,
    pub md5_of_system_attributes: Option<String>,
    pub sender_id: String,
    pub sent_at: u64,
    /// Set when the message reached a dead-letter queue.
    pub dead_letter_source_arn: Option<String>,
    pub group_id: Option<String>,
    pub deduplication_id: Option<String>,
    /// When the message reached the dead-letter queue it is in (what a filter on "dead-lettered
    /// between" reads); `None` outside a dead-letter queue.
    pub dead_lettered_at: Option<u64>,
    /// Set on a message a move task returned from a dead-letter queue: how often that has
    /// happened to it, and by which task the last time. Kept across moves, so a task can see a
    /// message it moved come back (halt on re-failure) and leave one that keeps looping.
    pub redrives: Option<Redrives>,
}

/// A message's redrive history, as far as a loop guard and a watching task need it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redrives {
    /// Times a move task has returned the message from a dead-letter queue.
    pub count: u32,
    /// The task that did, the last time.
    pub task: String,
}

pub type SharedContent = Arc<Content>;

pub fn md5_hex(bytes: &[u8]) -> String {
    hex(&Md5::digest(bytes))
}

/// MD5 of message attributes as SQS computes it (and the SDKs check it): for each
/// attribute in name order, the length-prefixed (4-byte big-endian) name and data type,
/// a transport byte (1 string, 2 binary), then the length-prefixed value.
pub fn md5_of_attributes(attributes: &Attributes) -> Option<String> {
    if attributes.is_empty() {
        return None;
    }
    fn prefixed(hasher: &mut Md5, bytes: &[u8]) {
        hasher.update((bytes.len() as u32).to_be_bytes());
        hasher.update(bytes);
    }
    let mut hasher = Md5::new();
    for (name, value) in attributes {
        prefixed(&mut hasher, name.as_bytes());
        prefixed(&mut hasher, value.data_type.as_bytes());
        match &value.value {
            AttributeData::String(s) => {
                hasher.update([1u8]);
                prefixed(&mut hasher, s.as_bytes());
            }
            AttributeData::Binary(b) => {
                hasher.update([2u8]);
                prefixed(&mut hasher, b);
            }
        }
    }
    Some(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// SQS accepts only these characters in bodies and string attribute values.
pub fn is_allowed_char(c: char) -> bool {
    matches!(c as u32, 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
}

pub fn check_characters(text: &str) -> Result<()> {
    // Most bodies are printable ASCII: a byte check settles them before the per-character one.
    // It runs 64 bytes at a time with no exit inside a block, so it vectorizes (a plain
    // `all` over bytes exits at each byte and was compiled to a byte-at-a-time loop: most of
    // SendMessage's own CPU for 1 KiB bodies, docs/benchmarks.md).
    let allowed = |b: u8| (b.wrapping_sub(0x20) < 0x60) | (b == b'\t') | (b == b'\n') | (b == b'\r');
    let plain_ascii = text.as_bytes().chunks(64).all(|block| block.iter().fold(true, |ok, &b| ok & allowed(b)));
    if plain_ascii || text.chars().all(is_allowed_char) {
        Ok(())
    } else {
        Err(Error::InvalidMessageContents)
    }
}

pub const MAX_ATTRIBUTES: usize = 10;
const MAX_ATTRIBUTE_NAME: usize = 256;
const MAX_DATA_TYPE: usize = 256;

/// Check user message attributes: at most 10; names of `[A-Za-z0-9_.-]`, not starting
/// with `AWS.`/`Amazon.`, no leading, trailing or doubled period; a data type of String,
/// Number or Binary with an optional `.custom` suffix; a non-empty value of that type.
pub fn validate_attributes(attributes: &Attributes) -> Result<()> {
    if attributes.len() > MAX_ATTRIBUTES {
        return Err(Error::InvalidParameterValue(format!(
            "Number of message attributes [{}] exceeds the allowed maximum [{MAX_ATTRIBUTES}].",
            attributes.len()
        )));
    }
    for (name, value) in attributes {
        validate_attribute_name(name)?;
        validate_attribute_value(name, value, "user")?;
    }
    Ok(())
}

fn validate_attribute_name(name: &str) -> Result<()> {
    let lower = name.to_ascii_lowercase();
    if name.is_empty() {
        return Err(Error::InvalidParameterValue(
            "The request must contain non-empty message (user) attribute names.".into(),
        ));
    }
    if lower.starts_with("aws.") || lower.starts_with("amazon.") {
        return Err(Error::InvalidParameterValue(
            "You can't use message attribute names beginning with 'AWS.' or 'Amazon'. These strings are reserved for internal use.".into(),
        ));
    }
    if name.len() > MAX_ATTRIBUTE_NAME {
        return Err(Error::InvalidParameterValue(
            "Message (user) attribute name must be shorter than 256 bytes.".into(),
        ));
    }
    let ok = !name.is_empty()
        && name.len() <= MAX_ATTRIBUTE_NAME
        // Latin letters with diacritics (U+00C0–U+017F) are accepted by AWS, though not
        // documented (recorded: `attr.1øßä`, LocalStack's validated attribute test).
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '\u{C0}'..='\u{17F}'))
        && !name.starts_with('.')
        && !name.ends_with('.')
        && !name.contains("..")
        && !lower.starts_with("aws.")
        && !lower.starts_with("amazon.");
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidParameterValue(format!(
            "Message (user) attribute name '{name}' is invalid. The name must contain only the following characters: A-Z, a-z, 0-9, underscore (_), hyphen (-), and period (.). It can't start or end with a period, contain two consecutive periods, or start with AWS. or Amazon. (case-insensitive)."
        )))
    }
}

/// `kind` is "user" or "system", as AWS words it.
pub fn validate_attribute_value(name: &str, value: &AttributeValue, kind: &str) -> Result<()> {
    let data_type = value.data_type.as_str();
    let base = data_type.split('.').next().unwrap_or("");
    if data_type.is_empty() {
        return Err(Error::InvalidParameterValue(format!(
            "The message {kind} attribute '{name}' must contain a non-empty message attribute type."
        )));
    }
    if data_type.len() > MAX_DATA_TYPE {
        return Err(Error::InvalidParameterValue(format!(
            "Message ({kind}) attribute type must be shorter than 256 bytes."
        )));
    }
    // A type has the body's character rules (SQS Developer Guide, message attributes).
    if check_characters(data_type).is_err() {
        return Err(Error::InvalidParameterValue(format!(
            "Message ({kind}) attribute '{name}' type contains invalid characters. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF"
        )));
    }
    if !matches!(base, "String" | "Number" | "Binary") {
        return Err(Error::InvalidParameterValue(format!(
            "The type of message ({kind}) attribute '{name}' is invalid. You must use only the following supported type prefixes: Binary, Number, String."
        )));
    }
    let empty = match &value.value {
        AttributeData::String(s) => s.is_empty(),
        AttributeData::Binary(b) => b.is_empty(),
    };
    let transport_matches = matches!(
        (&value.value, base),
        (AttributeData::Binary(_), "Binary") | (AttributeData::String(_), "String" | "Number")
    );
    if empty || !transport_matches {
        let wanted = if base == "Binary" { "Binary" } else { "String" };
        return Err(Error::InvalidParameterValue(format!(
            "Message ({kind}) attribute '{name}' must contain a non-empty value of type '{wanted}'."
        )));
    }
    if let AttributeData::String(s) = &value.value {
        if check_characters(s).is_err() {
            return Err(Error::InvalidParameterValue(format!(
                "Message ({kind}) attribute '{name}' contains invalid characters. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF"
            )));
        }
        if base == "Number" && !is_sqs_number(s) {
            return Err(Error::InvalidParameterValue(format!(
                "Can't cast the value of message ({kind}) attribute '{name}' to a number."
            )));
        }
    }
    Ok(())
}

/// SQS numbers: up to 38 significant digits, magnitude between 10^-128 and 10^+126.
fn is_sqs_number(s: &str) -> bool {
    let t = s.trim();
    let Ok(v) = t.parse::<f64>() else {
        return false;
    };
    if !v.is_finite() {
        return false;
    }
    let digits = t.split(['e', 'E']).next().unwrap_or("").chars().filter(char::is_ascii_digit).collect::<String>();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
    significant <= 38 && (v == 0.0 || (v.abs() <= 1e126 && v.abs() >= 1e-128))
}

/// Bytes a message counts against MaximumMessageSize: body plus every attribute's name,
/// data type and value.
pub fn message_size(body: &str, attributes: &Attributes) -> usize {
    body.len()
        + attributes
            .iter()
            .map(|(name, v)| {
                name.len()
                    + v.data_type.len()
                    + match &v.value {
                        AttributeData::String(s) => s.len(),
                        AttributeData::Binary(b) => b.len(),
                    }
            })
            .sum::<usize>()
}

/// Names the system-attribute map may carry on send.
pub const SYSTEM_ATTRIBUTE_NAMES: &[&str] = &["AWSTraceHeader"];

pub fn validate_system_attributes(attributes: &Attributes) -> Result<()> {
    for (name, value) in attributes {
        if !SYSTEM_ATTRIBUTE_NAMES.contains(&name.as_str()) {
            return Err(Error::InvalidParameterValue(format!("Message system attribute name '{name}' is invalid.")));
        }
        if value.data_type != "String" {
            return Err(Error::InvalidParameterValue(format!(
                "The message system attribute '{name}' must have a data type of 'String'."
            )));
        }
        validate_attribute_value(name, value, "system")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(data_type: &str, v: &str) -> AttributeValue {
        AttributeValue { data_type: data_type.into(), value: AttributeData::String(v.into()) }
    }

    #[test]
    fn body_md5_matches_the_aws_example() {
        // From the AWS News Blog redrive walk-through: "Hello World".
        assert_eq!(md5_hex(b"Hello World"), "b10a8db164e0754105b7a99be72e3fe5");
    }

    #[test]
    fn attribute_md5_hashes_length_prefixed_fields_in_name_order() {
        let mut attrs = Attributes::new();
        attrs.insert(
            "b".into(),
            AttributeValue { data_type: "Binary".into(), value: AttributeData::Binary(vec![1, 2]) },
        );
        attrs.insert("a".into(), s("String", "x"));
        let mut expected = Vec::new();
        for (name, ty, transport, val) in [("a", "String", 1u8, &b"x"[..]), ("b", "Binary", 2u8, &[1u8, 2][..])] {
            for field in [name.as_bytes(), ty.as_bytes()] {
                expected.extend_from_slice(&(field.len() as u32).to_be_bytes());
                expected.extend_from_slice(field);
            }
            expected.push(transport);
            expected.extend_from_slice(&(val.len() as u32).to_be_bytes());
            expected.extend_from_slice(val);
        }
        assert_eq!(md5_of_attributes(&attrs), Some(md5_hex(&expected)));
        assert_eq!(md5_of_attributes(&Attributes::new()), None);
    }

    #[test]
    fn only_the_documented_characters_are_allowed() {
        assert!(check_characters("tab\tnl\ncr\r ok \u{10FFFF}").is_ok());
        assert_eq!(check_characters("\u{1}"), Err(Error::InvalidMessageContents));
        assert_eq!(check_characters("\u{FFFE}"), Err(Error::InvalidMessageContents));
        // Both sides of the ASCII fast path.
        assert!(check_characters("plain ascii ~\u{7F}").is_ok());
        assert_eq!(check_characters("ascii then \u{1F}"), Err(Error::InvalidMessageContents));
        assert!(check_characters("ascii then é and \u{D7FF}").is_ok());
        assert_eq!(check_characters("é then \u{0}"), Err(Error::InvalidMessageContents));
    }

    #[test]
    fn attribute_names_follow_the_aws_rules() {
        for good in ["a", "a.b", "A-_9", "awsx"] {
            assert!(validate_attribute_name(good).is_ok(), "{good}");
        }
        for bad in ["", ".a", "a.", "a..b", "AWS.x", "amazon.y", "a b", &"x".repeat(257)] {
            assert!(validate_attribute_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn values_must_match_their_type() {
        assert!(validate_attribute_value("n", &s("Number", "1.5e3"), "user").is_ok());
        assert!(validate_attribute_value("n", &s("Number.float", "-0.25"), "user").is_ok());
        assert!(validate_attribute_value("n", &s("Number", "abc"), "user").is_err());
        assert!(validate_attribute_value("n", &s("String", ""), "user").is_err());
        assert!(validate_attribute_value("n", &s("Text", "x"), "user").is_err());
        assert!(validate_attribute_value("n", &s("Binary", "x"), "user").is_err());
    }

    #[test]
    fn eleven_attributes_are_too_many() {
        let attrs: Attributes = (0..11).map(|i| (format!("a{i}"), s("String", "v"))).collect();
        assert!(validate_attributes(&attrs).is_err());
    }
}
