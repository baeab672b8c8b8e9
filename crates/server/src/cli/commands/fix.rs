//! `edit` (a message's new body or attributes, where it is: UpdateMessage) and `delete` (the
//! messages a filter takes: DeleteMessages).

use std::io::Read;
use std::path::PathBuf;

use serde_json::{json, Map, Value};

use crate::cli::args::FilterArgs;
use crate::cli::client::Clients;
use crate::cli::error::CliError;
use crate::cli::filter::Filter;
use crate::cli::output;
use crate::cli::queue::QueueRef;

pub struct Edit {
    pub body: Option<String>,
    pub body_file: Option<PathBuf>,
    pub attributes: Vec<String>,
    pub remove_attributes: Vec<String>,
}

pub async fn edit(c: &Clients, queue: &str, message_id: &str, e: Edit) -> Result<(), CliError> {
    let queue = QueueRef::parse(queue)?;
    let body = match (&e.body, &e.body_file) {
        (Some(b), _) => Some(b.clone()),
        (None, Some(p)) if p.as_os_str() == "-" => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).map_err(|e| CliError::input(format!("stdin: {e}")))?;
            Some(text)
        }
        (None, Some(p)) => {
            Some(std::fs::read_to_string(p).map_err(|e| CliError::input(format!("cannot read {}: {e}", p.display())))?)
        }
        (None, None) => None,
    };
    let changes = e.attributes.iter().map(|a| parse_attribute(a)).collect::<Result<Vec<_>, _>>()?;
    if body.is_none() && changes.is_empty() && e.remove_attributes.is_empty() {
        return Err(CliError::usage("nothing to change: give --body, --body-file, --attribute or --remove-attribute"));
    }
    let url = queue.url(c).await?;
    let mut input = json!({ "QueueUrl": url, "MessageId": message_id });
    if let Some(b) = body {
        input["Body"] = json!(b);
    }
    if !changes.is_empty() || !e.remove_attributes.is_empty() {
        // UpdateMessage replaces the attributes: start from the message's own.
        let page = c
            .extension
            .call("PeekMessages", &json!({ "QueueUrl": url, "Filter": { "MessageIds": [message_id] } }))
            .await?;
        let Some(current) = page["Messages"].get(0) else {
            return Err(CliError::Api {
                code: "ResourceNotFound".into(),
                message: format!("The queue holds no message {message_id}."),
            });
        };
        let mut attributes = current["MessageAttributes"].as_object().cloned().unwrap_or_default();
        for (name, value) in changes {
            attributes.insert(name, value);
        }
        for name in &e.remove_attributes {
            attributes.remove(name);
        }
        input["MessageAttributes"] = Value::Object(attributes);
    }
    let out = c.extension.call("UpdateMessage", &input).await?;
    if c.json {
        return output::json(&out);
    }
    output::line(&format!(
        "Updated {message_id} in {} (MD5 of body {}).",
        queue.display_name(),
        output::text(&out["MD5OfBody"])
    ))
}

/// `NAME=VALUE` (a String) or `NAME:TYPE=VALUE`, as a message attribute in the JSON shape.
fn parse_attribute(text: &str) -> Result<(String, Value), CliError> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| CliError::usage(format!("--attribute {text}: give NAME=VALUE or NAME:TYPE=VALUE")))?;
    let (name, data_type) = key.split_once(':').unwrap_or((key, "String"));
    if name.is_empty() {
        return Err(CliError::usage(format!("--attribute {text}: the name is empty")));
    }
    let mut a = Map::new();
    a.insert("DataType".into(), json!(data_type));
    let slot = if data_type.starts_with("Binary") { "BinaryValue" } else { "StringValue" };
    a.insert(slot.into(), json!(value));
    Ok((name.to_string(), Value::Object(a)))
}

pub async fn delete(c: &Clients, queue: &str, args: &FilterArgs, dry_run: bool) -> Result<(), CliError> {
    if args.is_empty() {
        return Err(CliError::usage(
            "delete needs a filter (e.g. --message-id ID); to empty a queue, purge it (aws sqs purge-queue)",
        ));
    }
    let queue = QueueRef::parse(queue)?;
    let url = queue.url(c).await?;
    let filter = Filter::from_args(args, c).await?;
    let input = json!({ "QueueUrl": url, "Filter": filter.api });
    let name = queue.display_name();
    if dry_run {
        let out = c.extension.call("CountMessages", &input).await?;
        if c.json {
            return output::json(&json!({ "DryRun": true, "Count": out["Count"] }));
        }
        let n = output::count(out["Count"].as_u64().unwrap_or(0), "message");
        return output::line(&format!("Dry run: {n} in {name} would be deleted."));
    }
    let out = c.extension.call("DeleteMessages", &input).await?;
    if c.json {
        return output::json(&out);
    }
    output::line(&format!("Deleted {} from {name}.", output::count(out["Deleted"].as_u64().unwrap_or(0), "message")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attribute_is_a_string_unless_typed() {
        let (name, v) = parse_attribute("tenant=acme=1").unwrap();
        assert_eq!((name.as_str(), v), ("tenant", json!({ "DataType": "String", "StringValue": "acme=1" })));
        let (_, v) = parse_attribute("n:Number=42").unwrap();
        assert_eq!(v, json!({ "DataType": "Number", "StringValue": "42" }));
        let (_, v) = parse_attribute("b:Binary=AQI=").unwrap();
        assert_eq!(v, json!({ "DataType": "Binary", "BinaryValue": "AQI=" }));
        assert!(parse_attribute("novalue").is_err());
        assert!(parse_attribute("=x").is_err());
    }
}
