//! What the request log shows of an SQS call besides its typed answer: the action as the
//! caller named it (so an unknown one is logged by its name, while metrics count it in one
//! `Unknown` slot), its queue, and at `trace` level its parameters.
//!
//! Read only while the log would show it. Secrets never reach it: no header is read (so not
//! `Authorization`), and the parameters of a presigned URL that sign it (`X-Amz-Signature`,
//! `X-Amz-Credential`, `X-Amz-Security-Token`, SigV2's `Signature`...) are shown as
//! `[redacted]`. Each value is cut to `MAX_VALUE_BYTES`, so a 1 MiB body does not flood the log.

use serde_json::{Map, Value};

use crate::sqs::{self, Call, Protocol};

/// The longest parameter value the trace log shows whole.
pub const MAX_VALUE_BYTES: usize = 256;

/// Parameters that sign or authorize a request (compared without case).
const SECRET_PARAMS: &[&str] =
    &["X-Amz-Signature", "X-Amz-Credential", "X-Amz-Security-Token", "Signature", "AWSAccessKeyId", "SecurityToken"];

/// What the log shows of one call.
#[derive(Debug, Default)]
pub struct Seen {
    /// The action as named by the caller (`X-Amz-Target`'s operation, or Query's `Action`).
    pub requested: Option<String>,
    /// The queue's name, from QueueUrl, QueueName or a Query request's path.
    pub queue: Option<String>,
    /// The parameters, as compact JSON (only when asked for).
    pub params: Option<String>,
}

/// What the log shows of `call`; its parameters only `with_params`.
pub fn seen(call: &Call<'_>, with_params: bool) -> Seen {
    let (requested, tree) = match call.protocol {
        Protocol::Json => {
            let target = call.headers.get("x-amz-target").and_then(|v| v.to_str().ok());
            let requested = target.map(|t| t.strip_prefix(protocol::json::TARGET_PREFIX).unwrap_or(t).to_string());
            let tree = serde_json::from_slice(&call.body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&call.body).into_owned()));
            (requested, tree)
        }
        Protocol::Query | Protocol::QueryJson => {
            let pairs = sqs::query_params(call);
            let requested = pairs.iter().find(|(k, _)| k == "Action").map(|(_, v)| v.clone());
            let tree: Map<String, Value> = pairs.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
            (requested, Value::Object(tree))
        }
    };
    let field = |name: &str| tree.get(name).and_then(Value::as_str);
    let from_path = Some(call.path.trim_matches('/')).filter(|p| p.contains('/'));
    let queue = field("QueueUrl")
        .or(from_path)
        .map(|url| url.rsplit('/').next().unwrap_or(url))
        .or_else(|| field("QueueName"))
        .map(|q| cut(q).into_owned());
    let params = with_params.then(|| shown(tree).to_string());
    Seen { requested: requested.map(|r| cut(&r).into_owned()), queue, params }
}

/// `value` with secrets redacted and every string cut.
fn shown(value: Value) -> Value {
    match value {
        Value::String(s) => Value::String(cut(&s).into_owned()),
        Value::Array(items) => Value::Array(items.into_iter().map(shown).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(k, v)| {
                    let secret = SECRET_PARAMS.iter().any(|s| s.eq_ignore_ascii_case(&k));
                    let v = if secret { Value::String("[redacted]".into()) } else { shown(v) };
                    (k, v)
                })
                .collect(),
        ),
        other => other,
    }
}

/// `text` cut to `MAX_VALUE_BYTES` (at a character boundary), marked with its full length.
fn cut(text: &str) -> std::borrow::Cow<'_, str> {
    if text.len() <= MAX_VALUE_BYTES {
        return text.into();
    }
    let end = (0..=MAX_VALUE_BYTES).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
    format!("{}…[cut: {} bytes]", text.get(..end).unwrap_or(""), text.len()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_cut_at_a_character_boundary_and_marked() {
        let long = "é".repeat(200);
        let c = cut(&long);
        assert!(c.starts_with(&"é".repeat(128)));
        assert!(c.ends_with("…[cut: 400 bytes]"), "{c}");
        assert_eq!(cut("short"), "short");
    }

    #[test]
    fn signing_parameters_are_redacted_whatever_their_case() {
        let tree = serde_json::json!({"x-amz-signature": "abc", "X-Amz-Credential": "AKID/2025/us-east-1/sqs", "QueueName": "q"});
        let shown = shown(tree).to_string();
        assert!(!shown.contains("abc") && !shown.contains("AKID"), "{shown}");
        assert!(shown.contains("\"QueueName\":\"q\""), "{shown}");
    }
}
