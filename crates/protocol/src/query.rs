//! The AWS Query protocol: form-encoded (or query-string) parameters in, XML out.
//!
//! It has no typed structs of its own. `decode` rebuilds the JSON 1.0 input tree from the
//! flattened parameters and `encode_response` walks the JSON output tree, both guided by one
//! table per action of the Query names in the botocore sqs 2012-11-05 model (`locationName`,
//! flattened lists and maps). Both protocols thus share `types` and `crate::decode`, and
//! cannot drift apart.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io;

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;
use serde_json::{Map, Value};

use crate::action::Action;
use crate::error::ApiError;

/// XML namespace of every Query response.
pub const XMLNS: &str = "http://queue.amazonaws.com/doc/2012-11-05/";

// ---- the model's Query names ----

/// What a list item or a map value is.
enum Item {
    Str,
    Struct(&'static [Member]),
}

/// How a structure member is flattened.
enum Shape {
    /// A string in; any scalar (string, number, boolean) out.
    Str,
    /// An integer input: a JSON number, or InvalidParameterValue.
    Int,
    /// A flattened list: `{name}.{N}` (or `{name}.{N}.{Member}`) in, repeated `<name>` out.
    List(Item),
    /// A flattened map: `{name}.{N}.{key}` + `{name}.{N}.{value}` in,
    /// repeated `<name><key/><value/></name>` out.
    Map { key: &'static str, value: &'static str, of: Item },
}

struct Member {
    /// Member name in the JSON protocol.
    json: &'static str,
    /// Query parameter / XML element name (the `locationName`; for a flattened list or map,
    /// the name of each item).
    name: &'static str,
    shape: Shape,
}

const fn s(name: &'static str) -> Member {
    Member { json: name, name, shape: Shape::Str }
}

const fn int(name: &'static str) -> Member {
    Member { json: name, name, shape: Shape::Int }
}

const fn list(json: &'static str, name: &'static str, of: Item) -> Member {
    Member { json, name, shape: Shape::List(of) }
}

const fn map(json: &'static str, name: &'static str, key: &'static str, of: Item) -> Member {
    Member { json, name, shape: Shape::Map { key, value: "Value", of } }
}

/// A `&'static [Member]` table (`const` so that the member constructors may run).
macro_rules! members {
    ($($m:expr),* $(,)?) => {
        const { &[$($m),*] }
    };
}

const fn strings(json: &'static str, name: &'static str) -> Member {
    list(json, name, Item::Str)
}

const fn entries(json: &'static str, name: &'static str, of: &'static [Member]) -> Member {
    list(json, name, Item::Struct(of))
}

const MESSAGE_ATTRIBUTE_VALUE: &[Member] = members![
    s("StringValue"),
    s("BinaryValue"),
    strings("StringListValues", "StringListValue"),
    strings("BinaryListValues", "BinaryListValue"),
    s("DataType"),
];

const QUEUE_URL: Member = s("QueueUrl");
const QUEUE_ATTRIBUTES: Member = map("Attributes", "Attribute", "Name", Item::Str);
const MESSAGE_ATTRIBUTES: Member =
    map("MessageAttributes", "MessageAttribute", "Name", Item::Struct(MESSAGE_ATTRIBUTE_VALUE));
const MESSAGE_SYSTEM_ATTRIBUTES: Member =
    map("MessageSystemAttributes", "MessageSystemAttribute", "Name", Item::Struct(MESSAGE_ATTRIBUTE_VALUE));

const SEND_ENTRY: &[Member] = members![
    s("Id"),
    s("MessageBody"),
    int("DelaySeconds"),
    MESSAGE_ATTRIBUTES,
    MESSAGE_SYSTEM_ATTRIBUTES,
    s("MessageDeduplicationId"),
    s("MessageGroupId"),
];

/// Input members of `action` (botocore `<Action>Request` shapes).
fn input_members(action: Action) -> &'static [Member] {
    use Action as A;
    match action {
        A::AddPermission => {
            members![QUEUE_URL, s("Label"), strings("AWSAccountIds", "AWSAccountId"), strings("Actions", "ActionName"),]
        }
        A::CancelMessageMoveTask => members![s("TaskHandle")],
        A::ChangeMessageVisibility => {
            members![QUEUE_URL, s("ReceiptHandle"), int("VisibilityTimeout")]
        }
        A::ChangeMessageVisibilityBatch => members![
            QUEUE_URL,
            entries(
                "Entries",
                "ChangeMessageVisibilityBatchRequestEntry",
                members![s("Id"), s("ReceiptHandle"), int("VisibilityTimeout")],
            ),
        ],
        A::CreateQueue => members![s("QueueName"), QUEUE_ATTRIBUTES, map("tags", "Tag", "Key", Item::Str),],
        A::DeleteMessage => members![QUEUE_URL, s("ReceiptHandle")],
        A::DeleteMessageBatch => members![
            QUEUE_URL,
            entries("Entries", "DeleteMessageBatchRequestEntry", members![s("Id"), s("ReceiptHandle")],),
        ],
        A::DeleteQueue | A::PurgeQueue | A::ListQueueTags => members![QUEUE_URL],
        A::GetQueueAttributes => members![QUEUE_URL, strings("AttributeNames", "AttributeName")],
        A::GetQueueUrl => members![s("QueueName"), s("QueueOwnerAWSAccountId")],
        A::ListDeadLetterSourceQueues => members![QUEUE_URL, s("NextToken"), int("MaxResults")],
        A::ListMessageMoveTasks => members![s("SourceArn"), int("MaxResults")],
        A::ListQueues => members![s("QueueNamePrefix"), s("NextToken"), int("MaxResults")],
        A::ReceiveMessage => members![
            QUEUE_URL,
            strings("AttributeNames", "AttributeName"),
            strings("MessageSystemAttributeNames", "MessageSystemAttributeName"),
            strings("MessageAttributeNames", "MessageAttributeName"),
            int("MaxNumberOfMessages"),
            int("VisibilityTimeout"),
            int("WaitTimeSeconds"),
            s("ReceiveRequestAttemptId"),
        ],
        A::RemovePermission => members![QUEUE_URL, s("Label")],
        A::SendMessage => members![
            QUEUE_URL,
            s("MessageBody"),
            int("DelaySeconds"),
            MESSAGE_ATTRIBUTES,
            MESSAGE_SYSTEM_ATTRIBUTES,
            s("MessageDeduplicationId"),
            s("MessageGroupId"),
        ],
        A::SendMessageBatch => members![QUEUE_URL, entries("Entries", "SendMessageBatchRequestEntry", SEND_ENTRY),],
        A::SetQueueAttributes => members![QUEUE_URL, QUEUE_ATTRIBUTES],
        A::StartMessageMoveTask => members![s("SourceArn"), s("DestinationArn"), int("MaxNumberOfMessagesPerSecond"),],
        A::TagQueue => members![QUEUE_URL, map("Tags", "Tag", "Key", Item::Str)],
        A::UntagQueue => members![QUEUE_URL, strings("TagKeys", "TagKey")],
    }
}

const FAILED: Member =
    entries("Failed", "BatchResultErrorEntry", members![s("Id"), s("SenderFault"), s("Code"), s("Message")]);

const MESSAGE: &[Member] = members![
    s("MessageId"),
    s("ReceiptHandle"),
    s("MD5OfBody"),
    s("Body"),
    map("Attributes", "Attribute", "Name", Item::Str),
    s("MD5OfMessageAttributes"),
    MESSAGE_ATTRIBUTES,
];

const SEND_RESULT_ENTRY: &[Member] = members![
    s("Id"),
    s("MessageId"),
    s("MD5OfMessageBody"),
    s("MD5OfMessageAttributes"),
    s("MD5OfMessageSystemAttributes"),
    s("SequenceNumber"),
];

const MOVE_TASK_ENTRY: &[Member] = members![
    s("TaskHandle"),
    s("Status"),
    s("SourceArn"),
    s("DestinationArn"),
    s("MaxNumberOfMessagesPerSecond"),
    s("ApproximateNumberOfMessagesMoved"),
    s("ApproximateNumberOfMessagesToMove"),
    s("FailureReason"),
    s("StartedTimestamp"),
];

/// Output members of `action`, or `None` when the model gives it no output shape (and so
/// no `resultWrapper`: the response has no `<{Action}Result>` element).
fn output_members(action: Action) -> Option<&'static [Member]> {
    use Action as A;
    Some(match action {
        A::AddPermission
        | A::ChangeMessageVisibility
        | A::DeleteMessage
        | A::DeleteQueue
        | A::PurgeQueue
        | A::RemovePermission
        | A::SetQueueAttributes
        | A::TagQueue
        | A::UntagQueue => return None,
        A::CreateQueue | A::GetQueueUrl => members![QUEUE_URL],
        A::ListQueues => members![strings("QueueUrls", "QueueUrl"), s("NextToken")],
        A::GetQueueAttributes => members![QUEUE_ATTRIBUTES],
        A::ListQueueTags => members![map("Tags", "Tag", "Key", Item::Str)],
        A::SendMessage => members![
            s("MD5OfMessageBody"),
            s("MD5OfMessageAttributes"),
            s("MD5OfMessageSystemAttributes"),
            s("MessageId"),
            s("SequenceNumber"),
        ],
        A::SendMessageBatch => {
            members![entries("Successful", "SendMessageBatchResultEntry", SEND_RESULT_ENTRY), FAILED,]
        }
        A::ReceiveMessage => members![entries("Messages", "Message", MESSAGE)],
        A::DeleteMessageBatch => {
            members![entries("Successful", "DeleteMessageBatchResultEntry", members![s("Id")]), FAILED,]
        }
        A::ChangeMessageVisibilityBatch => {
            members![entries("Successful", "ChangeMessageVisibilityBatchResultEntry", members![s("Id")],), FAILED,]
        }
        // The JSON member is `queueUrls`, lowercase.
        A::ListDeadLetterSourceQueues => members![strings("queueUrls", "QueueUrl"), s("NextToken")],
        A::ListMessageMoveTasks => members![entries("Results", "ListMessageMoveTasksResultEntry", MOVE_TASK_ENTRY,)],
        A::StartMessageMoveTask => members![s("TaskHandle")],
        A::CancelMessageMoveTask => members![s("ApproximateNumberOfMessagesMoved")],
    })
}

// ---- requests ----

/// Parse an `application/x-www-form-urlencoded` body or a URL query string (without `?`).
pub fn parse_params(raw: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(raw).into_owned().collect()
}

/// Common parameters of every Query request, not members of any input.
fn is_envelope(key: &str) -> bool {
    matches!(
        key,
        "Action"
            | "Version"
            | "AWSAccessKeyId"
            | "Signature"
            | "SignatureMethod"
            | "SignatureVersion"
            | "SecurityToken"
            | "Timestamp"
            | "Expires"
    ) || key.starts_with("X-Amz-")
}

/// Rebuild the JSON input tree of `action` from flattened Query parameters
/// (`Attribute.1.Name`, `SendMessageBatchRequestEntry.2.Id`, …), so that
/// `crate::decode::decode(action, tree)` types it as if it had come over JSON.
///
/// Lists come out in the order of their indices, which may be sparse. When a parameter is
/// repeated the first one counts. Unknown parameters without a dot are kept as strings
/// (serde ignores them). Errors (all InvalidParameterValue): an integer member that is
/// not an integer, a list or map index that is not an integer from 1, and a map entry
/// with a key but no value or a value but no key.
pub fn decode(action: Action, params: &[(String, String)]) -> Result<Value, ApiError> {
    let pairs: Vec<(&str, &str)> =
        params.iter().filter(|(k, _)| !is_envelope(k)).map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut tree = decode_struct(input_members(action), &pairs, "")?;
    // Over Query, a ReceiveMessage that names AttributeName.N gets only those attributes, its
    // MessageSystemAttributeName.N aside (recorded on AWS; JSON merges the two lists).
    if action == Action::ReceiveMessage && tree.contains_key("AttributeNames") {
        tree.remove("MessageSystemAttributeNames");
    }
    Ok(Value::Object(tree))
}

/// `pairs` are the parameters under `path` (`SendMessageBatchRequestEntry.1.`), with
/// `path` already stripped.
fn decode_struct(members: &[Member], pairs: &[(&str, &str)], path: &str) -> Result<Map<String, Value>, ApiError> {
    let mut out = Map::new();
    for m in members {
        let value = match &m.shape {
            Shape::Str => first(pairs, m.name).map(|v| Value::String(v.to_string())),
            Shape::Int => first(pairs, m.name).map(|v| integer(v, &format!("{path}{}", m.name))).transpose()?,
            Shape::List(item) => decode_list(item, m.name, pairs, path)?,
            Shape::Map { key, value, of } => decode_map(m.name, key, value, of, pairs, path)?,
        };
        if let Some(value) = value {
            out.insert(m.json.to_string(), value);
        }
    }
    for (k, v) in pairs {
        let known = members.iter().any(|m| m.json == *k || m.name == *k);
        if !k.contains('.') && !known && !out.contains_key(*k) {
            out.insert(k.to_string(), Value::String(v.to_string()));
        }
    }
    Ok(out)
}

fn first<'a>(pairs: &[(&str, &'a str)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
}

fn integer(value: &str, name: &str) -> Result<Value, ApiError> {
    value.parse::<i64>().map(Value::from).map_err(|_| {
        ApiError::invalid_parameter_value(format!(
            "Value {value} for parameter {name} is invalid. Reason: Must be an integer."
        ))
    })
}

/// One indexed entry of a flattened list or map: `None` is the parameter `{name}.{N}`
/// itself, `Some(rest)` a parameter `{name}.{N}.{rest}`.
type Entry<'a> = Vec<(Option<&'a str>, &'a str)>;

/// The parameters `{name}.{N}…` grouped by N, in index order.
fn indexed<'a>(pairs: &[(&'a str, &'a str)], name: &str, path: &str) -> Result<BTreeMap<u32, Entry<'a>>, ApiError> {
    let mut groups: BTreeMap<u32, Entry<'a>> = BTreeMap::new();
    for (k, v) in pairs {
        let Some(rest) = k.strip_prefix(name).and_then(|r| r.strip_prefix('.')) else {
            continue;
        };
        let (index, sub) = match rest.split_once('.') {
            Some((index, sub)) => (index, Some(sub)),
            None => (rest, None),
        };
        let n = index
            .parse::<u32>()
            .ok()
            .filter(|n| *n >= 1 && index.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| {
                ApiError::invalid_parameter_value(format!(
                    "The parameter {path}{k} is invalid. Reason: the index N of {path}{name}.N must be an integer from 1."
                ))
            })?;
        groups.entry(n).or_default().push((sub, v));
    }
    Ok(groups)
}

/// The parameters `{prefix}.{rest}` of one entry, as `(rest, value)`.
fn under<'a>(entry: &Entry<'a>, prefix: &str) -> Vec<(&'a str, &'a str)> {
    entry
        .iter()
        .filter_map(|(sub, v)| sub.and_then(|s| s.strip_prefix(prefix)?.strip_prefix('.')).map(|rest| (rest, *v)))
        .collect()
}

fn exact<'a>(entry: &Entry<'a>, sub: Option<&str>) -> Option<&'a str> {
    entry.iter().find(|(s, _)| *s == sub).map(|(_, v)| *v)
}

fn decode_list(item: &Item, name: &str, pairs: &[(&str, &str)], path: &str) -> Result<Option<Value>, ApiError> {
    let mut items = Vec::new();
    if let Item::Str = item {
        // `AttributeName=All` without an index, as boto 2 sent it, is a one-item list.
        if let Some(v) = first(pairs, name) {
            items.push(Value::String(v.to_string()));
        }
    }
    let groups = indexed(pairs, name, path)?;
    for (n, entry) in &groups {
        match item {
            Item::Str => {
                if let Some(v) = exact(entry, None) {
                    items.push(Value::String(v.to_string()));
                }
            }
            Item::Struct(members) => {
                let sub: Vec<(&str, &str)> = entry.iter().filter_map(|(s, v)| s.map(|s| (s, *v))).collect();
                items.push(Value::Object(decode_struct(members, &sub, &format!("{path}{name}.{n}."))?));
            }
        }
    }
    Ok((!items.is_empty()).then_some(Value::Array(items)))
}

fn decode_map(
    name: &str,
    key: &str,
    value: &str,
    of: &Item,
    pairs: &[(&str, &str)],
    path: &str,
) -> Result<Option<Value>, ApiError> {
    // `Attribute.Name=…&Attribute.Value=…` without an index, the form the 2012-11-05 Query
    // reference documents for one attribute, is entry 0.
    let bare_key = format!("{name}.{key}");
    let bare_value = format!("{name}.{value}");
    let is_bare = |k: &str| matches!(of, Item::Str) && (k == bare_key || k == bare_value);
    let indexed_pairs: Vec<(&str, &str)> = pairs.iter().copied().filter(|(k, _)| !is_bare(k)).collect();
    let mut groups = indexed(&indexed_pairs, name, path)?;
    let bare: Entry<'_> = pairs
        .iter()
        .filter(|(k, _)| is_bare(k))
        .map(|(k, v)| (k.strip_prefix(name).and_then(|r| r.strip_prefix('.')), *v))
        .collect();
    if !bare.is_empty() {
        groups.insert(0, bare);
    }
    let mut out = Map::new();
    for (n, entry) in &groups {
        let entry_path = if *n == 0 { format!("{path}{name}.") } else { format!("{path}{name}.{n}.") };
        let k = exact(entry, Some(key));
        let v = match of {
            Item::Str => exact(entry, Some(value)).map(|v| Value::String(v.to_string())),
            Item::Struct(members) => {
                let sub = under(entry, value);
                if sub.is_empty() {
                    None
                } else {
                    Some(Value::Object(decode_struct(members, &sub, &format!("{entry_path}{value}."))?))
                }
            }
        };
        match (k, v) {
            (Some(k), Some(v)) => {
                out.insert(k.to_string(), v);
            }
            // A structure value may be left empty; the server then says which member is missing.
            (Some(k), None) if matches!(of, Item::Struct(_)) => {
                out.insert(k.to_string(), Value::Object(Map::new()));
            }
            (Some(_), None) => return Err(missing_in_entry(&entry_path, value)),
            (None, Some(_)) => return Err(missing_in_entry(&entry_path, key)),
            // Only unknown parameters under this index: nothing to add.
            (None, None) => {}
        }
    }
    Ok((!out.is_empty()).then_some(Value::Object(out)))
}

fn missing_in_entry(entry_path: &str, part: &str) -> ApiError {
    ApiError::invalid_parameter_value(crate::error::must_contain(&format!("{entry_path}{part}")))
}

// ---- responses ----

/// XML text: quick-xml escapes `&`, `<` and `>`; like AWS we also write `"` as `&quot;` and
/// U+000D as `&#xD;`, which XML parsers would otherwise turn into U+000A. Characters XML 1.0
/// cannot carry at all, even as references (most C0 controls, U+FFFE, U+FFFF), become U+FFFD:
/// stored values never hold them, but an error message may quote the input that did.
fn escape(text: &str) -> Cow<'_, str> {
    if text.chars().any(not_xml) {
        let clean: String = text.chars().map(|c| if not_xml(c) { '\u{FFFD}' } else { c }).collect();
        return Cow::Owned(escape_chars(&clean).into_owned());
    }
    escape_chars(text)
}

fn escape_chars(text: &str) -> Cow<'_, str> {
    let escaped = quick_xml::escape::partial_escape(text);
    if escaped.contains(['"', '\r']) {
        Cow::Owned(escaped.replace('"', "&quot;").replace('\r', "&#xD;"))
    } else {
        escaped
    }
}

/// Outside XML 1.0's Char production.
fn not_xml(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{8}' | '\u{B}' | '\u{C}' | '\u{E}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}')
}

/// Whether any member of `obj` would write an element.
fn has_content(members: &[Member], obj: &Map<String, Value>) -> bool {
    members.iter().any(|m| match (obj.get(m.json), &m.shape) {
        (None, _) => false,
        (Some(v), Shape::Str | Shape::Int) => scalar_text(v).is_some(),
        (Some(v), Shape::List(_)) => v.as_array().is_some_and(|a| !a.is_empty()),
        (Some(v), Shape::Map { .. }) => v.as_object().is_some_and(|o| !o.is_empty()),
    })
}

/// Text of a scalar output; `None` for null (an absent optional member).
fn scalar_text(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

struct Xml {
    w: Writer<Vec<u8>>,
}

impl Xml {
    fn new() -> io::Result<Xml> {
        let mut w = Writer::new(Vec::new());
        w.write_event(Event::Decl(BytesDecl::new("1.0", None, None)))?;
        Ok(Xml { w })
    }

    fn root(&mut self, name: &str) -> io::Result<()> {
        self.w.write_event(Event::Start(BytesStart::new(name).with_attributes([("xmlns", XMLNS)])))
    }

    fn start(&mut self, name: &str) -> io::Result<()> {
        self.w.write_event(Event::Start(BytesStart::new(name)))
    }

    fn end(&mut self, name: &str) -> io::Result<()> {
        self.w.write_event(Event::End(BytesEnd::new(name)))
    }

    fn empty(&mut self, name: &str) -> io::Result<()> {
        self.w.write_event(Event::Empty(BytesStart::new(name)))
    }

    fn text(&mut self, name: &str, text: &str) -> io::Result<()> {
        self.start(name)?;
        self.w.write_event(Event::Text(BytesText::from_escaped(escape(text))))?;
        self.end(name)
    }

    fn structure(&mut self, members: &[Member], obj: &Map<String, Value>) -> io::Result<()> {
        for m in members {
            let Some(value) = obj.get(m.json) else {
                continue;
            };
            match &m.shape {
                Shape::Str | Shape::Int => {
                    if let Some(text) = scalar_text(value) {
                        self.text(m.name, &text)?;
                    }
                }
                Shape::List(item) => {
                    for v in value.as_array().into_iter().flatten() {
                        self.item(m.name, item, v)?;
                    }
                }
                Shape::Map { key, value: value_name, of } => {
                    for (k, v) in value.as_object().into_iter().flatten() {
                        self.start(m.name)?;
                        self.text(key, k)?;
                        self.item(value_name, of, v)?;
                        self.end(m.name)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn item(&mut self, name: &str, item: &Item, value: &Value) -> io::Result<()> {
        match item {
            Item::Str => match scalar_text(value) {
                Some(text) => self.text(name, &text),
                None => Ok(()),
            },
            Item::Struct(members) => {
                self.start(name)?;
                if let Some(obj) = value.as_object() {
                    self.structure(members, obj)?;
                }
                self.end(name)
            }
        }
    }

    fn finish(self) -> String {
        String::from_utf8_lossy(&self.w.into_inner()).into_owned()
    }
}

/// `<{Action}Response><{Action}Result>…</{Action}Result><ResponseMetadata>…` for the JSON
/// output tree of `action` (`Response::to_value()`). Lists and maps are flattened under
/// the model's names; actions without an output shape have no Result element.
pub fn encode_response(action: Action, output: &Value, request_id: &str) -> String {
    let render = || -> io::Result<String> {
        let mut x = Xml::new()?;
        let root = format!("{action}Response");
        x.root(&root)?;
        if let Some(members) = output_members(action) {
            let result = format!("{action}Result");
            match output.as_object().filter(|obj| has_content(members, obj)) {
                Some(obj) => {
                    x.start(&result)?;
                    x.structure(members, obj)?;
                    x.end(&result)?;
                }
                // AWS writes an empty result as `<ReceiveMessageResult/>` (recorded).
                None => x.empty(&result)?,
            }
        }
        x.start("ResponseMetadata")?;
        x.text("RequestId", request_id)?;
        x.end("ResponseMetadata")?;
        x.end(&root)?;
        Ok(x.finish())
    };
    // Writing to a Vec cannot fail.
    render().unwrap_or_default()
}

/// `<ErrorResponse><Error><Type/><Code/><Message/><Detail/></Error><RequestId/></ErrorResponse>`,
/// the shape AWS SQS answers a Query request's error with.
pub fn encode_error(err: &ApiError, request_id: &str) -> String {
    let info = err.code.info();
    let render = || -> io::Result<String> {
        let mut x = Xml::new()?;
        x.root("ErrorResponse")?;
        x.start("Error")?;
        let fault = if info.sender_fault { "Sender" } else { "Receiver" };
        x.text("Type", fault)?;
        x.text("Code", info.query_code)?;
        x.text("Message", err.query_message())?;
        x.empty("Detail")?;
        x.end("Error")?;
        x.text("RequestId", request_id)?;
        x.end("ErrorResponse")?;
        Ok(x.finish())
    };
    render().unwrap_or_default()
}

/// The answer to a Query request whose `Accept` asks for JSON: AWS negotiates this for Query
/// requests and writes the XML tree as JSON (recorded): `{"{Action}Response": {"{Action}Result":
/// {…}, "ResponseMetadata": {"RequestId": …}}}`, where a map is a list of `{Name, Value}`
/// entries and ReceiveMessage's messages are the lowercase list `messages`.
pub fn encode_response_json(action: Action, output: &Value, request_id: &str) -> Value {
    let mut response = Map::new();
    if let Some(members) = output_members(action) {
        let mut result = output.as_object().map(|obj| json_structure(members, obj)).unwrap_or_default();
        if let Some(messages) = result.remove("Messages").filter(|_| action == Action::ReceiveMessage) {
            result.insert("messages".into(), messages);
        }
        response.insert(format!("{action}Result"), Value::Object(result));
    }
    response.insert("ResponseMetadata".into(), serde_json::json!({ "RequestId": request_id }));
    serde_json::json!({ format!("{action}Response"): response })
}

/// A Query error as JSON, for a caller that asked for it: `{"Error": {"Type", "Code",
/// "Message"}, "RequestId"}` (recorded: `Error.Code`, `Error.Message`).
pub fn encode_error_json(err: &ApiError, request_id: &str) -> Value {
    let info = err.code.info();
    serde_json::json!({
        "Error": {
            "Type": if info.sender_fault { "Sender" } else { "Receiver" },
            "Code": info.query_code,
            "Message": err.query_message(),
        },
        "RequestId": request_id,
    })
}

fn json_structure(members: &[Member], obj: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for m in members {
        let Some(value) = obj.get(m.json) else { continue };
        let rendered = match &m.shape {
            Shape::Str | Shape::Int => scalar_text(value).map(|t| Value::String(t.into_owned())),
            Shape::List(item) => {
                let items = value.as_array().into_iter().flatten();
                Some(Value::Array(items.filter_map(|v| json_item(item, v)).collect()))
            }
            Shape::Map { key, value: value_name, of } => {
                let entries = value.as_object().into_iter().flatten().filter_map(|(k, v)| {
                    let mut entry = Map::new();
                    entry.insert((*key).into(), Value::String(k.clone()));
                    entry.insert((*value_name).into(), json_item(of, v)?);
                    Some(Value::Object(entry))
                });
                Some(Value::Array(entries.collect()))
            }
        };
        if let Some(v) = rendered {
            out.insert(m.json.into(), v);
        }
    }
    out
}

fn json_item(item: &Item, value: &Value) -> Option<Value> {
    match item {
        Item::Str => scalar_text(value).map(|t| Value::String(t.into_owned())),
        Item::Struct(members) => {
            Some(Value::Object(value.as_object().map(|o| json_structure(members, o)).unwrap_or_default()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use crate::types::*;
    use crate::{Request, Response};
    use serde_json::json;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// Decode Query parameters, check the tree equals the JSON protocol's, and type it.
    fn same_as_json(action: Action, pairs: &[(&str, &str)], json_tree: Value) -> Request {
        let tree = decode(action, &params(pairs)).expect("query params decode");
        assert_eq!(tree, json_tree);
        crate::decode::decode(action, tree).expect("tree types")
    }

    fn decode_err(action: Action, pairs: &[(&str, &str)]) -> ApiError {
        decode(action, &params(pairs)).expect_err("decode should fail")
    }

    fn wrap(action: &str, result: &str) -> String {
        format!(
            "<?xml version=\"1.0\"?><{action}Response xmlns=\"{XMLNS}\">{result}<ResponseMetadata><RequestId>rid</RequestId></ResponseMetadata></{action}Response>"
        )
    }

    fn xml(action: Action, response: Response) -> String {
        encode_response(action, &response.to_value(), "rid")
    }

    /// The text of every `<name>` element, unescaped by an XML reader.
    fn texts_of(doc: &str, name: &str) -> Vec<String> {
        let mut reader = quick_xml::Reader::from_str(doc);
        let mut out = Vec::new();
        let mut inside = false;
        loop {
            match reader.read_event().expect("well-formed XML") {
                Event::Start(e) if e.name().as_ref() == name.as_bytes() => {
                    inside = true;
                    out.push(String::new());
                }
                Event::End(e) if e.name().as_ref() == name.as_bytes() => inside = false,
                Event::Text(t) if inside => {
                    let text = t.unescape().expect("valid escapes");
                    if let Some(last) = out.last_mut() {
                        last.push_str(&text);
                    }
                }
                Event::Eof => return out,
                _ => {}
            }
        }
    }

    // ---- parse_params ----

    #[test]
    fn a_form_body_is_split_and_percent_decoded() {
        let p = parse_params(b"Action=SendMessage&MessageBody=a%26b+c%3D%0D%0A&QueueUrl=http%3A%2F%2Fq");
        assert_eq!(p, params(&[("Action", "SendMessage"), ("MessageBody", "a&b c=\r\n"), ("QueueUrl", "http://q")]));
    }

    #[test]
    fn an_empty_body_has_no_params() {
        assert!(parse_params(b"").is_empty());
    }

    // ---- decode: every action against the JSON protocol's tree ----

    #[test]
    fn envelope_and_signature_params_are_dropped() {
        let r = same_as_json(
            Action::DeleteQueue,
            &[
                ("Action", "DeleteQueue"),
                ("Version", "2012-11-05"),
                ("QueueUrl", "u"),
                ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
                ("X-Amz-Credential", "c"),
                ("X-Amz-Date", "d"),
                ("X-Amz-SignedHeaders", "host"),
                ("X-Amz-Signature", "s"),
                ("X-Amz-Security-Token", "t"),
                ("AWSAccessKeyId", "k"),
                ("Signature", "s"),
                ("SignatureMethod", "HmacSHA256"),
                ("SignatureVersion", "2"),
                ("Timestamp", "2024-01-01T00:00:00Z"),
                ("Expires", "2024-01-01T00:00:00Z"),
            ],
            json!({"QueueUrl": "u"}),
        );
        assert_eq!(r, Request::DeleteQueue(QueueUrlInput { queue_url: "u".into() }));
    }

    #[test]
    fn create_queue_gathers_attributes_and_lowercase_tags() {
        let r = same_as_json(
            Action::CreateQueue,
            &[
                ("QueueName", "q"),
                ("Attribute.1.Name", "VisibilityTimeout"),
                ("Attribute.1.Value", "40"),
                ("Attribute.2.Name", "Policy"),
                ("Attribute.2.Value", ""),
                ("Tag.1.Key", "team"),
                ("Tag.1.Value", "core"),
            ],
            json!({
                "QueueName": "q",
                "Attributes": {"VisibilityTimeout": "40", "Policy": ""},
                "tags": {"team": "core"},
            }),
        );
        let Request::CreateQueue(input) = r else { panic!("not CreateQueue") };
        assert_eq!(input.tags.expect("tags").get("team").map(String::as_str), Some("core"));
    }

    #[test]
    fn set_queue_attributes_gathers_attributes() {
        same_as_json(
            Action::SetQueueAttributes,
            &[("QueueUrl", "u"), ("Attribute.1.Name", "DelaySeconds"), ("Attribute.1.Value", "5")],
            json!({"QueueUrl": "u", "Attributes": {"DelaySeconds": "5"}}),
        );
    }

    #[test]
    fn get_queue_attributes_gathers_attribute_names() {
        same_as_json(
            Action::GetQueueAttributes,
            &[("QueueUrl", "u"), ("AttributeName.1", "QueueArn"), ("AttributeName.2", "DelaySeconds")],
            json!({"QueueUrl": "u", "AttributeNames": ["QueueArn", "DelaySeconds"]}),
        );
    }

    #[test]
    fn an_unindexed_attribute_name_is_a_one_item_list() {
        // boto 2 sent GetQueueAttributes this way.
        same_as_json(
            Action::GetQueueAttributes,
            &[("QueueUrl", "u"), ("AttributeName", "All")],
            json!({"QueueUrl": "u", "AttributeNames": ["All"]}),
        );
    }

    #[test]
    fn get_queue_url_and_list_queues_copy_scalars_and_integers() {
        same_as_json(
            Action::GetQueueUrl,
            &[("QueueName", "q"), ("QueueOwnerAWSAccountId", "123")],
            json!({"QueueName": "q", "QueueOwnerAWSAccountId": "123"}),
        );
        same_as_json(
            Action::ListQueues,
            &[("QueueNamePrefix", "p"), ("NextToken", "t"), ("MaxResults", "10")],
            json!({"QueueNamePrefix": "p", "NextToken": "t", "MaxResults": 10}),
        );
        same_as_json(Action::ListQueues, &[], json!({}));
    }

    #[test]
    fn queue_url_only_actions_copy_the_url() {
        for action in [Action::DeleteQueue, Action::PurgeQueue, Action::ListQueueTags] {
            same_as_json(action, &[("QueueUrl", "u")], json!({"QueueUrl": "u"}));
        }
    }

    #[test]
    fn tag_and_untag_queue_gather_tags_and_keys() {
        same_as_json(
            Action::TagQueue,
            &[("QueueUrl", "u"), ("Tag.1.Key", "a"), ("Tag.1.Value", "1"), ("Tag.2.Key", "b"), ("Tag.2.Value", "2")],
            json!({"QueueUrl": "u", "Tags": {"a": "1", "b": "2"}}),
        );
        same_as_json(
            Action::UntagQueue,
            &[("QueueUrl", "u"), ("TagKey.1", "a"), ("TagKey.2", "b")],
            json!({"QueueUrl": "u", "TagKeys": ["a", "b"]}),
        );
    }

    #[test]
    fn add_and_remove_permission_gather_accounts_and_actions() {
        same_as_json(
            Action::AddPermission,
            &[
                ("QueueUrl", "u"),
                ("Label", "l"),
                ("AWSAccountId.1", "111111111111"),
                ("AWSAccountId.2", "222222222222"),
                ("ActionName.1", "SendMessage"),
            ],
            json!({
                "QueueUrl": "u",
                "Label": "l",
                "AWSAccountIds": ["111111111111", "222222222222"],
                "Actions": ["SendMessage"],
            }),
        );
        same_as_json(
            Action::RemovePermission,
            &[("QueueUrl", "u"), ("Label", "l")],
            json!({"QueueUrl": "u", "Label": "l"}),
        );
    }

    #[test]
    fn send_message_gathers_message_and_system_attributes() {
        let r = same_as_json(
            Action::SendMessage,
            &[
                ("QueueUrl", "u"),
                ("MessageBody", "hello"),
                ("DelaySeconds", "5"),
                ("MessageAttribute.1.Name", "s"),
                ("MessageAttribute.1.Value.DataType", "String"),
                ("MessageAttribute.1.Value.StringValue", "v"),
                ("MessageAttribute.2.Name", "b"),
                ("MessageAttribute.2.Value.DataType", "Binary"),
                ("MessageAttribute.2.Value.BinaryValue", "AAE="),
                ("MessageAttribute.3.Name", "l"),
                ("MessageAttribute.3.Value.DataType", "String"),
                ("MessageAttribute.3.Value.StringListValue.1", "x"),
                ("MessageAttribute.3.Value.StringListValue.2", "y"),
                ("MessageAttribute.3.Value.BinaryListValue.1", "AA=="),
                ("MessageSystemAttribute.1.Name", "AWSTraceHeader"),
                ("MessageSystemAttribute.1.Value.DataType", "String"),
                ("MessageSystemAttribute.1.Value.StringValue", "Root=1-2-3"),
                ("MessageDeduplicationId", "d"),
                ("MessageGroupId", "g"),
            ],
            json!({
                "QueueUrl": "u",
                "MessageBody": "hello",
                "DelaySeconds": 5,
                "MessageAttributes": {
                    "s": {"DataType": "String", "StringValue": "v"},
                    "b": {"DataType": "Binary", "BinaryValue": "AAE="},
                    "l": {"DataType": "String", "StringListValues": ["x", "y"], "BinaryListValues": ["AA=="]},
                },
                "MessageSystemAttributes": {
                    "AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-2-3"},
                },
                "MessageDeduplicationId": "d",
                "MessageGroupId": "g",
            }),
        );
        let Request::SendMessage(input) = r else { panic!("not SendMessage") };
        assert_eq!(input.delay_seconds, Some(5));
        let attrs = input.message_attributes.expect("attributes");
        assert_eq!(attrs["l"].string_list_values, vec!["x".to_string(), "y".to_string()]);
    }

    #[test]
    fn send_message_batch_gathers_entries_in_index_order() {
        let r = same_as_json(
            Action::SendMessageBatch,
            &[
                ("QueueUrl", "u"),
                ("SendMessageBatchRequestEntry.2.Id", "second"),
                ("SendMessageBatchRequestEntry.2.MessageBody", "b2"),
                ("SendMessageBatchRequestEntry.1.Id", "first"),
                ("SendMessageBatchRequestEntry.1.MessageBody", "b1"),
                ("SendMessageBatchRequestEntry.1.DelaySeconds", "3"),
                ("SendMessageBatchRequestEntry.1.MessageAttribute.1.Name", "a"),
                ("SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType", "Number"),
                ("SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringValue", "1"),
                ("SendMessageBatchRequestEntry.1.MessageSystemAttribute.1.Name", "AWSTraceHeader"),
                ("SendMessageBatchRequestEntry.1.MessageSystemAttribute.1.Value.DataType", "String"),
                ("SendMessageBatchRequestEntry.1.MessageSystemAttribute.1.Value.StringValue", "t"),
                ("SendMessageBatchRequestEntry.2.MessageDeduplicationId", "d"),
                ("SendMessageBatchRequestEntry.2.MessageGroupId", "g"),
            ],
            json!({
                "QueueUrl": "u",
                "Entries": [
                    {
                        "Id": "first",
                        "MessageBody": "b1",
                        "DelaySeconds": 3,
                        "MessageAttributes": {"a": {"DataType": "Number", "StringValue": "1"}},
                        "MessageSystemAttributes": {"AWSTraceHeader": {"DataType": "String", "StringValue": "t"}},
                    },
                    {"Id": "second", "MessageBody": "b2", "MessageDeduplicationId": "d", "MessageGroupId": "g"},
                ],
            }),
        );
        let Request::SendMessageBatch(input) = r else { panic!("not SendMessageBatch") };
        assert_eq!(input.entries.len(), 2);
        assert_eq!(input.entries[0].delay_seconds, Some(3));
    }

    #[test]
    fn one_attribute_may_be_sent_without_an_index_as_the_query_reference_documents() {
        same_as_json(
            Action::SetQueueAttributes,
            &[("QueueUrl", "u"), ("Attribute.Name", "DelaySeconds"), ("Attribute.Value", "6")],
            json!({"QueueUrl": "u", "Attributes": {"DelaySeconds": "6"}}),
        );
        let err = decode_err(Action::SetQueueAttributes, &[("QueueUrl", "u"), ("Attribute.Name", "DelaySeconds")]);
        assert_eq!(err.message, "The request must contain the parameter Attribute.Value.");
    }

    #[test]
    fn receive_message_with_attribute_names_ignores_system_attribute_names_as_aws_does_over_query() {
        let tree = decode(
            Action::ReceiveMessage,
            &params(&[("QueueUrl", "u"), ("AttributeName.1", "SenderId"), ("MessageSystemAttributeName.1", "All")]),
        )
        .unwrap();
        assert_eq!(tree, json!({"QueueUrl": "u", "AttributeNames": ["SenderId"]}));
    }

    #[test]
    fn receive_message_gathers_the_three_name_lists_and_integers() {
        same_as_json(
            Action::ReceiveMessage,
            &[
                ("QueueUrl", "u"),
                ("MessageSystemAttributeName.1", "SentTimestamp"),
                ("MessageSystemAttributeName.2", "SenderId"),
                ("MessageAttributeName.1", "trace.*"),
                ("MaxNumberOfMessages", "10"),
                ("VisibilityTimeout", "0"),
                ("WaitTimeSeconds", "20"),
                ("ReceiveRequestAttemptId", "a"),
            ],
            json!({
                "QueueUrl": "u",
                "MessageSystemAttributeNames": ["SentTimestamp", "SenderId"],
                "MessageAttributeNames": ["trace.*"],
                "MaxNumberOfMessages": 10,
                "VisibilityTimeout": 0,
                "WaitTimeSeconds": 20,
                "ReceiveRequestAttemptId": "a",
            }),
        );
    }

    #[test]
    fn delete_and_change_visibility_take_their_entries() {
        same_as_json(
            Action::DeleteMessage,
            &[("QueueUrl", "u"), ("ReceiptHandle", "r")],
            json!({"QueueUrl": "u", "ReceiptHandle": "r"}),
        );
        same_as_json(
            Action::DeleteMessageBatch,
            &[
                ("QueueUrl", "u"),
                ("DeleteMessageBatchRequestEntry.1.Id", "a"),
                ("DeleteMessageBatchRequestEntry.1.ReceiptHandle", "r1"),
                ("DeleteMessageBatchRequestEntry.2.Id", "b"),
                ("DeleteMessageBatchRequestEntry.2.ReceiptHandle", "r2"),
            ],
            json!({"QueueUrl": "u", "Entries": [{"Id": "a", "ReceiptHandle": "r1"}, {"Id": "b", "ReceiptHandle": "r2"}]}),
        );
        same_as_json(
            Action::ChangeMessageVisibility,
            &[("QueueUrl", "u"), ("ReceiptHandle", "r"), ("VisibilityTimeout", "60")],
            json!({"QueueUrl": "u", "ReceiptHandle": "r", "VisibilityTimeout": 60}),
        );
        same_as_json(
            Action::ChangeMessageVisibilityBatch,
            &[
                ("QueueUrl", "u"),
                ("ChangeMessageVisibilityBatchRequestEntry.1.Id", "a"),
                ("ChangeMessageVisibilityBatchRequestEntry.1.ReceiptHandle", "r1"),
                ("ChangeMessageVisibilityBatchRequestEntry.1.VisibilityTimeout", "30"),
                ("ChangeMessageVisibilityBatchRequestEntry.2.Id", "b"),
                ("ChangeMessageVisibilityBatchRequestEntry.2.ReceiptHandle", "r2"),
            ],
            json!({
                "QueueUrl": "u",
                "Entries": [
                    {"Id": "a", "ReceiptHandle": "r1", "VisibilityTimeout": 30},
                    {"Id": "b", "ReceiptHandle": "r2"},
                ],
            }),
        );
    }

    #[test]
    fn dead_letter_and_move_task_actions_copy_scalars_and_integers() {
        same_as_json(
            Action::ListDeadLetterSourceQueues,
            &[("QueueUrl", "u"), ("NextToken", "t"), ("MaxResults", "2")],
            json!({"QueueUrl": "u", "NextToken": "t", "MaxResults": 2}),
        );
        same_as_json(
            Action::StartMessageMoveTask,
            &[("SourceArn", "s"), ("DestinationArn", "d"), ("MaxNumberOfMessagesPerSecond", "50")],
            json!({"SourceArn": "s", "DestinationArn": "d", "MaxNumberOfMessagesPerSecond": 50}),
        );
        same_as_json(Action::CancelMessageMoveTask, &[("TaskHandle", "h")], json!({"TaskHandle": "h"}));
        same_as_json(
            Action::ListMessageMoveTasks,
            &[("SourceArn", "s"), ("MaxResults", "1")],
            json!({"SourceArn": "s", "MaxResults": 1}),
        );
    }

    #[test]
    fn every_action_has_an_input_table_that_decodes_an_empty_request() {
        for action in Action::ALL {
            assert_eq!(decode(*action, &[]).expect("empty decodes"), json!({}), "{action}");
        }
    }

    // ---- decode: indices, unknowns, duplicates ----

    #[test]
    fn sparse_and_out_of_order_indices_are_ordered_by_number() {
        same_as_json(
            Action::UntagQueue,
            &[("QueueUrl", "u"), ("TagKey.10", "ten"), ("TagKey.2", "two"), ("TagKey.7", "seven")],
            json!({"QueueUrl": "u", "TagKeys": ["two", "seven", "ten"]}),
        );
        same_as_json(
            Action::DeleteMessageBatch,
            &[
                ("QueueUrl", "u"),
                ("DeleteMessageBatchRequestEntry.11.ReceiptHandle", "r11"),
                ("DeleteMessageBatchRequestEntry.3.Id", "c"),
                ("DeleteMessageBatchRequestEntry.11.Id", "k"),
                ("DeleteMessageBatchRequestEntry.3.ReceiptHandle", "r3"),
            ],
            json!({"QueueUrl": "u", "Entries": [{"Id": "c", "ReceiptHandle": "r3"}, {"Id": "k", "ReceiptHandle": "r11"}]}),
        );
    }

    #[test]
    fn unknown_params_are_kept_and_ignored_by_the_typed_decode() {
        let r = same_as_json(
            Action::DeleteQueue,
            &[("QueueUrl", "u"), ("Unknown", "x")],
            json!({"QueueUrl": "u", "Unknown": "x"}),
        );
        assert_eq!(r, Request::DeleteQueue(QueueUrlInput { queue_url: "u".into() }));
    }

    #[test]
    fn unknown_params_never_shadow_a_member_of_another_shape() {
        // botocore sends an empty list as `AttributeNames=`; it must not become a string.
        same_as_json(
            Action::GetQueueAttributes,
            &[("QueueUrl", "u"), ("AttributeNames", "")],
            json!({"QueueUrl": "u"}),
        );
        same_as_json(
            Action::TagQueue,
            &[("QueueUrl", "u"), ("Tags", "x"), ("Tag.1.Key", "k"), ("Tag.1.Value", "v")],
            json!({"QueueUrl": "u", "Tags": {"k": "v"}}),
        );
    }

    #[test]
    fn unknown_nested_params_are_skipped() {
        same_as_json(
            Action::CreateQueue,
            &[
                ("QueueName", "q"),
                ("Attribute.1.Colour", "red"),
                ("Tag.2.Key", "k"),
                ("Tag.2.Value", "v"),
                ("Tag.2.Extra", "e"),
            ],
            json!({"QueueName": "q", "tags": {"k": "v"}}),
        );
    }

    #[test]
    fn the_first_of_repeated_params_counts() {
        same_as_json(
            Action::DeleteQueue,
            &[("QueueUrl", "first"), ("QueueUrl", "second")],
            json!({"QueueUrl": "first"}),
        );
    }

    #[test]
    fn an_index_that_is_not_a_positive_integer_is_invalid() {
        for key in [
            "Attribute.x.Name",
            "Attribute.0.Name",
            "Attribute.-1.Name",
            "Attribute.+1.Name",
            "Attribute..Name",
            "Attribute.99999999999.Name",
        ] {
            let err = decode_err(Action::CreateQueue, &[("QueueName", "q"), (key, "VisibilityTimeout")]);
            assert_eq!(err.code, ErrorCode::InvalidParameterValue, "{key}");
            assert!(err.message.contains(key), "{key}: {}", err.message);
        }
        let err = decode_err(Action::UntagQueue, &[("QueueUrl", "u"), ("TagKey.first", "a")]);
        assert_eq!(err.code, ErrorCode::InvalidParameterValue);
    }

    #[test]
    fn a_nested_bad_index_names_the_whole_parameter() {
        let err = decode_err(
            Action::SendMessageBatch,
            &[
                ("QueueUrl", "u"),
                ("SendMessageBatchRequestEntry.1.Id", "a"),
                ("SendMessageBatchRequestEntry.1.MessageBody", "b"),
                ("SendMessageBatchRequestEntry.1.MessageAttribute.z.Name", "n"),
            ],
        );
        assert_eq!(err.code, ErrorCode::InvalidParameterValue);
        assert!(err.message.contains("SendMessageBatchRequestEntry.1.MessageAttribute.z.Name"), "{}", err.message);
    }

    #[test]
    fn a_map_value_without_a_name_is_invalid() {
        let err = decode_err(Action::CreateQueue, &[("QueueName", "q"), ("Attribute.1.Value", "30")]);
        assert_eq!(err, ApiError::invalid_parameter_value("The request must contain the parameter Attribute.1.Name."));
        let err = decode_err(
            Action::SendMessage,
            &[("QueueUrl", "u"), ("MessageBody", "b"), ("MessageAttribute.2.Value.DataType", "String")],
        );
        assert_eq!(
            err,
            ApiError::invalid_parameter_value("The request must contain the parameter MessageAttribute.2.Name.")
        );
        let err = decode_err(Action::TagQueue, &[("QueueUrl", "u"), ("Tag.1.Value", "v")]);
        assert_eq!(err.message, "The request must contain the parameter Tag.1.Key.");
    }

    #[test]
    fn a_string_map_name_without_a_value_is_invalid() {
        let err = decode_err(Action::SetQueueAttributes, &[("QueueUrl", "u"), ("Attribute.1.Name", "Policy")]);
        assert_eq!(err, ApiError::invalid_parameter_value("The request must contain the parameter Attribute.1.Value."));
    }

    #[test]
    fn a_message_attribute_name_without_a_value_is_left_for_the_server_to_reject() {
        let r = same_as_json(
            Action::SendMessage,
            &[("QueueUrl", "u"), ("MessageBody", "b"), ("MessageAttribute.1.Name", "a")],
            json!({"QueueUrl": "u", "MessageBody": "b", "MessageAttributes": {"a": {}}}),
        );
        let Request::SendMessage(input) = r else { panic!("not SendMessage") };
        assert_eq!(input.message_attributes.expect("attributes")["a"].data_type, None);
    }

    fn not_an_integer(action: Action, pairs: &[(&str, &str)], value: &str, name: &str) {
        let message = format!("Value {value} for parameter {name} is invalid. Reason: Must be an integer.");
        assert_eq!(decode_err(action, pairs), ApiError::invalid_parameter_value(message), "{action} {name}");
    }

    #[test]
    fn a_non_integer_for_an_integer_member_is_invalid_parameter_value() {
        let send = [("QueueUrl", "u"), ("MessageBody", "b")];
        not_an_integer(Action::SendMessage, &[send[0], send[1], ("DelaySeconds", "soon")], "soon", "DelaySeconds");
        for (name, value) in [("MaxNumberOfMessages", "1.5"), ("WaitTimeSeconds", ""), ("VisibilityTimeout", " 3")] {
            not_an_integer(Action::ReceiveMessage, &[("QueueUrl", "u"), (name, value)], value, name);
        }
        let huge = "99999999999999999999";
        not_an_integer(
            Action::ChangeMessageVisibility,
            &[("QueueUrl", "u"), ("ReceiptHandle", "r"), ("VisibilityTimeout", huge)],
            huge,
            "VisibilityTimeout",
        );
        not_an_integer(Action::ListQueues, &[("MaxResults", "ten")], "ten", "MaxResults");
        not_an_integer(
            Action::ListDeadLetterSourceQueues,
            &[("QueueUrl", "u"), ("MaxResults", "x")],
            "x",
            "MaxResults",
        );
        not_an_integer(Action::ListMessageMoveTasks, &[("SourceArn", "s"), ("MaxResults", "x")], "x", "MaxResults");
        not_an_integer(
            Action::StartMessageMoveTask,
            &[("SourceArn", "s"), ("MaxNumberOfMessagesPerSecond", "fast")],
            "fast",
            "MaxNumberOfMessagesPerSecond",
        );
        not_an_integer(
            Action::SendMessageBatch,
            &[
                ("QueueUrl", "u"),
                ("SendMessageBatchRequestEntry.1.Id", "a"),
                ("SendMessageBatchRequestEntry.1.MessageBody", "b"),
                ("SendMessageBatchRequestEntry.1.DelaySeconds", "x"),
            ],
            "x",
            "SendMessageBatchRequestEntry.1.DelaySeconds",
        );
        not_an_integer(
            Action::ChangeMessageVisibilityBatch,
            &[
                ("QueueUrl", "u"),
                ("ChangeMessageVisibilityBatchRequestEntry.2.Id", "a"),
                ("ChangeMessageVisibilityBatchRequestEntry.2.ReceiptHandle", "r"),
                ("ChangeMessageVisibilityBatchRequestEntry.2.VisibilityTimeout", "x"),
            ],
            "x",
            "ChangeMessageVisibilityBatchRequestEntry.2.VisibilityTimeout",
        );
    }

    #[test]
    fn negative_and_signed_integers_are_numbers_for_the_server_to_range_check() {
        same_as_json(
            Action::SendMessage,
            &[("QueueUrl", "u"), ("MessageBody", "b"), ("DelaySeconds", "-1")],
            json!({"QueueUrl": "u", "MessageBody": "b", "DelaySeconds": -1}),
        );
    }

    #[test]
    fn a_missing_required_member_still_surfaces_as_missing_parameter() {
        let tree = decode(Action::SendMessage, &params(&[("QueueUrl", "u")])).expect("decodes");
        let err = crate::decode::decode(Action::SendMessage, tree).expect_err("MessageBody is required");
        assert_eq!(err.code, ErrorCode::MissingParameter);
    }

    // ---- encode_response ----

    #[test]
    fn actions_without_output_have_no_result_element() {
        for action in [
            Action::DeleteQueue,
            Action::SetQueueAttributes,
            Action::DeleteMessage,
            Action::ChangeMessageVisibility,
            Action::PurgeQueue,
            Action::TagQueue,
            Action::UntagQueue,
            Action::AddPermission,
            Action::RemovePermission,
        ] {
            assert_eq!(xml(action, Response::Empty), wrap(action.name(), ""), "{action}");
        }
    }

    #[test]
    fn create_queue_and_get_queue_url_answer_the_url() {
        let out = Response::QueueUrl(QueueUrlOutput { queue_url: "http://h/1/q?a&b".into() });
        assert_eq!(
            xml(Action::CreateQueue, out.clone()),
            wrap("CreateQueue", "<CreateQueueResult><QueueUrl>http://h/1/q?a&amp;b</QueueUrl></CreateQueueResult>")
        );
        assert_eq!(
            xml(Action::GetQueueUrl, out),
            wrap("GetQueueUrl", "<GetQueueUrlResult><QueueUrl>http://h/1/q?a&amp;b</QueueUrl></GetQueueUrlResult>")
        );
    }

    #[test]
    fn list_queues_repeats_queue_url_and_adds_the_token() {
        let out = Response::ListQueues(ListQueuesOutput {
            queue_urls: vec!["u1".into(), "u2".into()],
            next_token: Some("t".into()),
        });
        assert_eq!(
            xml(Action::ListQueues, out),
            wrap(
                "ListQueues",
                "<ListQueuesResult><QueueUrl>u1</QueueUrl><QueueUrl>u2</QueueUrl><NextToken>t</NextToken></ListQueuesResult>"
            )
        );
        assert_eq!(
            xml(Action::ListQueues, Response::ListQueues(Default::default())),
            wrap("ListQueues", "<ListQueuesResult/>")
        );
    }

    #[test]
    fn get_queue_attributes_flattens_the_map_as_attribute_name_value() {
        let out = Response::Attributes(AttributesOutput {
            attributes: [("DelaySeconds".to_string(), "0".to_string()), ("QueueArn".into(), "arn".into())].into(),
        });
        assert_eq!(
            xml(Action::GetQueueAttributes, out),
            wrap(
                "GetQueueAttributes",
                "<GetQueueAttributesResult><Attribute><Name>DelaySeconds</Name><Value>0</Value></Attribute><Attribute><Name>QueueArn</Name><Value>arn</Value></Attribute></GetQueueAttributesResult>"
            )
        );
    }

    #[test]
    fn list_queue_tags_flattens_the_map_as_tag_key_value() {
        let out = Response::ListQueueTags(ListQueueTagsOutput { tags: [("k".to_string(), "v".to_string())].into() });
        assert_eq!(
            xml(Action::ListQueueTags, out),
            wrap("ListQueueTags", "<ListQueueTagsResult><Tag><Key>k</Key><Value>v</Value></Tag></ListQueueTagsResult>")
        );
    }

    #[test]
    fn send_message_answers_digests_id_and_sequence_number_in_model_order() {
        let out = Response::SendMessage(SendMessageOutput {
            md5_of_message_body: "mb".into(),
            md5_of_message_attributes: Some("ma".into()),
            md5_of_message_system_attributes: Some("ms".into()),
            message_id: "id".into(),
            sequence_number: Some("1".into()),
        });
        assert_eq!(
            xml(Action::SendMessage, out),
            wrap(
                "SendMessage",
                "<SendMessageResult><MD5OfMessageBody>mb</MD5OfMessageBody><MD5OfMessageAttributes>ma</MD5OfMessageAttributes><MD5OfMessageSystemAttributes>ms</MD5OfMessageSystemAttributes><MessageId>id</MessageId><SequenceNumber>1</SequenceNumber></SendMessageResult>"
            )
        );
        let bare = Response::SendMessage(SendMessageOutput {
            md5_of_message_body: "mb".into(),
            message_id: "id".into(),
            ..Default::default()
        });
        assert_eq!(
            xml(Action::SendMessage, bare),
            wrap("SendMessage", "<SendMessageResult><MD5OfMessageBody>mb</MD5OfMessageBody><MessageId>id</MessageId></SendMessageResult>")
        );
    }

    #[test]
    fn send_message_batch_lists_successes_then_failures_with_boolean_sender_fault() {
        let out = Response::SendMessageBatch(SendMessageBatchOutput {
            successful: vec![SendMessageBatchResultEntry {
                id: "a".into(),
                message_id: "m".into(),
                md5_of_message_body: "mb".into(),
                md5_of_message_attributes: Some("ma".into()),
                md5_of_message_system_attributes: None,
                sequence_number: Some("7".into()),
            }],
            failed: vec![
                BatchResultErrorEntry {
                    id: "b".into(),
                    sender_fault: true,
                    code: "InvalidParameterValue".into(),
                    message: Some("bad".into()),
                },
                BatchResultErrorEntry {
                    id: "c".into(),
                    sender_fault: false,
                    code: "InternalError".into(),
                    message: None,
                },
            ],
        });
        assert_eq!(
            xml(Action::SendMessageBatch, out),
            wrap(
                "SendMessageBatch",
                "<SendMessageBatchResult><SendMessageBatchResultEntry><Id>a</Id><MessageId>m</MessageId><MD5OfMessageBody>mb</MD5OfMessageBody><MD5OfMessageAttributes>ma</MD5OfMessageAttributes><SequenceNumber>7</SequenceNumber></SendMessageBatchResultEntry><BatchResultErrorEntry><Id>b</Id><SenderFault>true</SenderFault><Code>InvalidParameterValue</Code><Message>bad</Message></BatchResultErrorEntry><BatchResultErrorEntry><Id>c</Id><SenderFault>false</SenderFault><Code>InternalError</Code></BatchResultErrorEntry></SendMessageBatchResult>"
            )
        );
    }

    #[test]
    fn delete_and_change_visibility_batches_use_their_own_entry_names() {
        let out = Response::IdBatch(IdBatchOutput {
            successful: vec![BatchResultIdEntry { id: "a".into() }],
            failed: vec![BatchResultErrorEntry {
                id: "b".into(),
                sender_fault: true,
                code: "ReceiptHandleIsInvalid".into(),
                message: Some("m".into()),
            }],
        });
        let failed = "<BatchResultErrorEntry><Id>b</Id><SenderFault>true</SenderFault><Code>ReceiptHandleIsInvalid</Code><Message>m</Message></BatchResultErrorEntry>";
        assert_eq!(
            xml(Action::DeleteMessageBatch, out.clone()),
            wrap(
                "DeleteMessageBatch",
                &format!("<DeleteMessageBatchResult><DeleteMessageBatchResultEntry><Id>a</Id></DeleteMessageBatchResultEntry>{failed}</DeleteMessageBatchResult>")
            )
        );
        assert_eq!(
            xml(Action::ChangeMessageVisibilityBatch, out),
            wrap(
                "ChangeMessageVisibilityBatch",
                &format!("<ChangeMessageVisibilityBatchResult><ChangeMessageVisibilityBatchResultEntry><Id>a</Id></ChangeMessageVisibilityBatchResultEntry>{failed}</ChangeMessageVisibilityBatchResult>")
            )
        );
        assert_eq!(
            xml(Action::DeleteMessageBatch, Response::IdBatch(Default::default())),
            wrap("DeleteMessageBatch", "<DeleteMessageBatchResult/>")
        );
    }

    #[test]
    fn receive_message_writes_each_message_with_attributes_and_message_attributes() {
        let message = Message {
            message_id: "id".into(),
            receipt_handle: "rh".into(),
            md5_of_body: "mb".into(),
            body: "hi".into(),
            attributes: [("SenderId".to_string(), "s".to_string()), ("SentTimestamp".into(), "1".into())].into(),
            md5_of_message_attributes: Some("ma".into()),
            message_attributes: [
                (
                    "b".to_string(),
                    MessageAttributeValue {
                        binary_value: Some("AAE=".into()),
                        data_type: Some("Binary".into()),
                        ..Default::default()
                    },
                ),
                (
                    "l".to_string(),
                    MessageAttributeValue {
                        string_list_values: vec!["x".into(), "y".into()],
                        data_type: Some("String".into()),
                        ..Default::default()
                    },
                ),
                (
                    "s".to_string(),
                    MessageAttributeValue {
                        string_value: Some("v".into()),
                        data_type: Some("String".into()),
                        ..Default::default()
                    },
                ),
            ]
            .into(),
        };
        let bare = Message {
            message_id: "id2".into(),
            receipt_handle: "rh2".into(),
            md5_of_body: "mb2".into(),
            body: "".into(),
            ..Default::default()
        };
        let out = Response::ReceiveMessage(ReceiveMessageOutput { messages: vec![message, bare] });
        assert_eq!(
            xml(Action::ReceiveMessage, out),
            wrap(
                "ReceiveMessage",
                concat!(
                    "<ReceiveMessageResult><Message><MessageId>id</MessageId><ReceiptHandle>rh</ReceiptHandle><MD5OfBody>mb</MD5OfBody><Body>hi</Body>",
                    "<Attribute><Name>SenderId</Name><Value>s</Value></Attribute><Attribute><Name>SentTimestamp</Name><Value>1</Value></Attribute>",
                    "<MD5OfMessageAttributes>ma</MD5OfMessageAttributes>",
                    "<MessageAttribute><Name>b</Name><Value><BinaryValue>AAE=</BinaryValue><DataType>Binary</DataType></Value></MessageAttribute>",
                    "<MessageAttribute><Name>l</Name><Value><StringListValue>x</StringListValue><StringListValue>y</StringListValue><DataType>String</DataType></Value></MessageAttribute>",
                    "<MessageAttribute><Name>s</Name><Value><StringValue>v</StringValue><DataType>String</DataType></Value></MessageAttribute>",
                    "</Message><Message><MessageId>id2</MessageId><ReceiptHandle>rh2</ReceiptHandle><MD5OfBody>mb2</MD5OfBody><Body></Body></Message></ReceiveMessageResult>"
                )
            )
        );
    }

    #[test]
    fn an_empty_receive_and_an_empty_dead_letter_list_still_have_a_result_element() {
        assert_eq!(
            xml(Action::ReceiveMessage, Response::ReceiveMessage(Default::default())),
            wrap("ReceiveMessage", "<ReceiveMessageResult/>")
        );
        assert_eq!(
            xml(Action::ListDeadLetterSourceQueues, Response::ListDeadLetterSourceQueues(Default::default())),
            wrap("ListDeadLetterSourceQueues", "<ListDeadLetterSourceQueuesResult/>")
        );
    }

    #[test]
    fn list_dead_letter_source_queues_repeats_queue_url_from_lowercase_queue_urls() {
        let out = Response::ListDeadLetterSourceQueues(ListDeadLetterSourceQueuesOutput {
            queue_urls: vec!["a".into(), "b".into()],
            next_token: Some("t".into()),
        });
        assert_eq!(
            xml(Action::ListDeadLetterSourceQueues, out),
            wrap(
                "ListDeadLetterSourceQueues",
                "<ListDeadLetterSourceQueuesResult><QueueUrl>a</QueueUrl><QueueUrl>b</QueueUrl><NextToken>t</NextToken></ListDeadLetterSourceQueuesResult>"
            )
        );
    }

    #[test]
    fn move_task_actions_write_handles_counts_and_entries() {
        assert_eq!(
            xml(
                Action::StartMessageMoveTask,
                Response::StartMessageMoveTask(StartMessageMoveTaskOutput { task_handle: Some("h".into()) })
            ),
            wrap(
                "StartMessageMoveTask",
                "<StartMessageMoveTaskResult><TaskHandle>h</TaskHandle></StartMessageMoveTaskResult>"
            )
        );
        assert_eq!(
            xml(
                Action::CancelMessageMoveTask,
                Response::CancelMessageMoveTask(CancelMessageMoveTaskOutput { approximate_number_of_messages_moved: Some(12) })
            ),
            wrap(
                "CancelMessageMoveTask",
                "<CancelMessageMoveTaskResult><ApproximateNumberOfMessagesMoved>12</ApproximateNumberOfMessagesMoved></CancelMessageMoveTaskResult>"
            )
        );
        let entry = ListMessageMoveTasksResultEntry {
            task_handle: Some("h".into()),
            status: Some("RUNNING".into()),
            source_arn: Some("s".into()),
            destination_arn: Some("d".into()),
            max_number_of_messages_per_second: Some(5),
            approximate_number_of_messages_moved: Some(1),
            approximate_number_of_messages_to_move: Some(2),
            failure_reason: Some("f".into()),
            started_timestamp: Some(1700000000000),
        };
        assert_eq!(
            xml(Action::ListMessageMoveTasks, Response::ListMessageMoveTasks(ListMessageMoveTasksOutput { results: vec![entry] })),
            wrap(
                "ListMessageMoveTasks",
                concat!(
                    "<ListMessageMoveTasksResult><ListMessageMoveTasksResultEntry><TaskHandle>h</TaskHandle><Status>RUNNING</Status>",
                    "<SourceArn>s</SourceArn><DestinationArn>d</DestinationArn><MaxNumberOfMessagesPerSecond>5</MaxNumberOfMessagesPerSecond>",
                    "<ApproximateNumberOfMessagesMoved>1</ApproximateNumberOfMessagesMoved><ApproximateNumberOfMessagesToMove>2</ApproximateNumberOfMessagesToMove>",
                    "<FailureReason>f</FailureReason><StartedTimestamp>1700000000000</StartedTimestamp></ListMessageMoveTasksResultEntry></ListMessageMoveTasksResult>"
                )
            )
        );
    }

    #[test]
    fn every_action_encodes_well_formed_xml_for_an_empty_output() {
        for action in Action::ALL {
            let doc = encode_response(*action, &json!({}), "rid");
            assert_eq!(texts_of(&doc, "RequestId"), vec!["rid".to_string()], "{action}");
            assert!(doc.starts_with(&format!("<?xml version=\"1.0\"?><{action}Response xmlns=\"{XMLNS}\">")));
        }
    }

    // ---- escaping ----

    #[test]
    fn bodies_are_escaped_and_carriage_returns_survive_an_xml_parser() {
        let body = "<a href=\"x\">&amp;</a> ]]> it's\r\n\tline\r";
        let out = Response::ReceiveMessage(ReceiveMessageOutput {
            messages: vec![Message { body: body.into(), ..Default::default() }],
        });
        let doc = xml(Action::ReceiveMessage, out);
        assert!(
            doc.contains("<Body>&lt;a href=&quot;x&quot;&gt;&amp;amp;&lt;/a&gt; ]]&gt; it's&#xD;\n\tline&#xD;</Body>"),
            "{doc}"
        );
        assert!(!doc.contains('\r'));
        assert_eq!(texts_of(&doc, "Body"), vec![body.to_string()]);
    }

    #[test]
    fn attribute_names_tags_and_request_ids_are_escaped_too() {
        let out =
            Response::ListQueueTags(ListQueueTagsOutput { tags: [("<k>".to_string(), "a&b".to_string())].into() });
        let doc = encode_response(Action::ListQueueTags, &out.to_value(), "<id>");
        assert!(doc.contains("<Tag><Key>&lt;k&gt;</Key><Value>a&amp;b</Value></Tag>"), "{doc}");
        assert_eq!(texts_of(&doc, "RequestId"), vec!["<id>".to_string()]);
    }

    #[test]
    fn non_ascii_text_is_written_as_utf8() {
        let out = Response::ReceiveMessage(ReceiveMessageOutput {
            messages: vec![Message { body: "héllo \u{1F600} \u{FFFD}".into(), ..Default::default() }],
        });
        let doc = xml(Action::ReceiveMessage, out);
        assert_eq!(texts_of(&doc, "Body"), vec!["héllo \u{1F600} \u{FFFD}".to_string()]);
    }

    // ---- encode_error ----

    #[test]
    fn errors_have_the_aws_error_response_shape() {
        let e = ApiError::new(ErrorCode::QueueDoesNotExist, "The specified queue does not exist.");
        assert_eq!(
            encode_error(&e, "rid"),
            format!(
                "<?xml version=\"1.0\"?><ErrorResponse xmlns=\"{XMLNS}\"><Error><Type>Sender</Type><Code>AWS.SimpleQueueService.NonExistentQueue</Code><Message>The specified queue does not exist for this wsdl version.</Message><Detail/></Error><RequestId>rid</RequestId></ErrorResponse>"
            )
        );
    }

    #[test]
    fn server_faults_are_receiver_errors() {
        let e = ApiError::new(ErrorCode::InternalError, "boom");
        let doc = encode_error(&e, "rid");
        assert_eq!(texts_of(&doc, "Type"), vec!["Receiver".to_string()]);
        assert_eq!(texts_of(&doc, "Code"), vec!["InternalError".to_string()]);
    }

    #[test]
    fn error_messages_are_escaped() {
        let e = ApiError::invalid_parameter_value("Value <x> & \"y\"\r for parameter P is invalid.");
        let doc = encode_error(&e, "rid");
        assert!(
            doc.contains("<Message>Value &lt;x&gt; &amp; &quot;y&quot;&#xD; for parameter P is invalid.</Message>"),
            "{doc}"
        );
        assert_eq!(texts_of(&doc, "Message"), vec![e.message.clone()]);
    }

    #[test]
    fn characters_xml_cannot_carry_become_replacement_characters_so_the_answer_still_parses() {
        let e = ApiError::invalid_parameter_value("The action Foo\u{1}\u{1F}\u{FFFF} is not valid; tab\tstays.");
        let doc = encode_error(&e, "rid");
        assert_eq!(texts_of(&doc, "Message"), vec!["The action Foo\u{FFFD}\u{FFFD}\u{FFFD} is not valid; tab\tstays."]);
    }
}
