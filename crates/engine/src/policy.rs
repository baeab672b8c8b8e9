//! The queue policy document that AddPermission and RemovePermission edit, shaped as
//! the one SQS generates.

use serde_json::{json, Value};

use crate::error::{Error, Result};

/// Actions AddPermission accepts (the `SQS:` prefix is added in the policy).
pub(crate) const ACTIONS: &[&str] = &[
    "*",
    "ChangeMessageVisibility",
    "DeleteMessage",
    "GetQueueAttributes",
    "GetQueueUrl",
    "ListDeadLetterSourceQueues",
    "PurgeQueue",
    "ReceiveMessage",
    "SendMessage",
];

/// Actions only the queue owner may call: named in AddPermission, they get their own error.
const OWNER_ONLY: &[&str] = &[
    "AddPermission",
    "CreateQueue",
    "DeleteQueue",
    "ListQueues",
    "ListQueueTags",
    "RemovePermission",
    "SetQueueAttributes",
    "TagQueue",
    "UntagQueue",
    "StartMessageMoveTask",
    "CancelMessageMoveTask",
    "ListMessageMoveTasks",
];

fn one_or_many(items: Vec<String>) -> Value {
    if items.len() == 1 {
        Value::String(items.into_iter().next().unwrap_or_default())
    } else {
        Value::Array(items.into_iter().map(Value::String).collect())
    }
}

fn parse(policy: Option<&str>, arn: &str) -> Value {
    policy
        .and_then(|p| serde_json::from_str::<Value>(p).ok())
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({"Version": "2008-10-17", "Id": format!("{arn}/SQSDefaultPolicy"), "Statement": []}))
}

/// A queue holds at most 20 policy statements (SQS quotas).
const MAX_STATEMENTS: usize = 20;

/// The statements of a policy document, one statement given as an object made a list of one.
/// `Policy` values are checked when set (`validate`), so a statement that is neither a list nor
/// an object can only come from an older store; it counts as none.
fn statements(doc: &mut Value) -> Option<&mut Vec<Value>> {
    let obj = doc.as_object_mut()?;
    let st = obj.entry("Statement").or_insert_with(|| Value::Array(Vec::new()));
    if st.is_object() {
        *st = Value::Array(vec![st.take()]);
    }
    if !st.is_array() {
        *st = Value::Array(Vec::new());
    }
    st.as_array_mut()
}

/// A `Policy` attribute value: a JSON object with one statement object or a non-empty list of
/// them, at most 20 (AWS refuses a policy with no statement: "Invalid value for the parameter
/// Policy.").
pub fn validate(policy: &str) -> Result<()> {
    let invalid = || Error::InvalidAttributeValue("Invalid value for the parameter Policy.".into());
    let doc: Value = serde_json::from_str(policy).map_err(|_| invalid())?;
    let count = match doc.get("Statement") {
        Some(Value::Object(_)) => 1,
        Some(Value::Array(list)) if !list.is_empty() && list.iter().all(Value::is_object) => list.len(),
        _ => return Err(invalid()),
    };
    if count > MAX_STATEMENTS {
        return Err(Error::InvalidAttributeValue(format!(
            "{count} statements were found in the submitted policy, max allowed is {MAX_STATEMENTS}"
        )));
    }
    Ok(())
}

pub fn add_statement(
    policy: Option<&str>,
    arn: &str,
    label: &str,
    accounts: &[String],
    actions: &[String],
) -> Result<String> {
    if label.is_empty() || label.len() > 80 || !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(Error::invalid_parameter(
            label,
            "Label",
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length",
        ));
    }
    if accounts.is_empty() {
        return Err(Error::MissingParameter("AWSAccountIds".into()));
    }
    // A principal is an account id; AWS answers `*` or an ARN this way (reported from AWS).
    if let Some(bad) = accounts.iter().find(|a| a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit())) {
        return Err(Error::InvalidParameterValue(format!(
            "Value [{bad}] for parameter PrincipalId is invalid. Reason: Unable to verify."
        )));
    }
    if actions.is_empty() {
        return Err(Error::MissingParameter("Actions".into()));
    }
    if actions.len() > 7 {
        return Err(Error::OverLimit(format!("{} Actions were found, maximum allowed is 7.", actions.len())));
    }
    for a in actions {
        let reason = if OWNER_ONLY.contains(&a.as_str()) {
            "Only the queue owner is allowed to invoke this action."
        } else if ACTIONS.contains(&a.as_str()) {
            continue;
        } else {
            "Please refer to the appropriate WSDL for a list of valid actions."
        };
        return Err(Error::invalid_parameter(format!("SQS:{a}"), "ActionName", reason));
    }
    let mut doc = parse(policy, arn);
    let list = statements(&mut doc).ok_or_else(|| Error::Internal("policy document is not an object".into()))?;
    if list.iter().any(|s| s.get("Sid").and_then(Value::as_str) == Some(label)) {
        return Err(Error::invalid_parameter(label, "Label", "Already exists."));
    }
    if list.len() >= MAX_STATEMENTS {
        return Err(Error::OverLimit(format!(
            "{} Statements were found, maximum allowed is {MAX_STATEMENTS}.",
            list.len() + 1
        )));
    }
    list.push(json!({
        "Sid": label,
        "Effect": "Allow",
        "Principal": {"AWS": one_or_many(accounts.iter().map(|a| format!("arn:aws:iam::{a}:root")).collect())},
        "Action": one_or_many(actions.iter().map(|a| format!("SQS:{a}")).collect()),
        "Resource": arn,
    }));
    Ok(doc.to_string())
}

/// The policy without the statement `label`; `None` once no statement is left.
pub fn remove_statement(policy: Option<&str>, label: &str) -> Result<Option<String>> {
    let missing = || Error::invalid_parameter(label, "Label", "can't find label.");
    let mut doc = parse(Some(policy.ok_or_else(missing)?), "");
    let list = statements(&mut doc).ok_or_else(missing)?;
    let before = list.len();
    list.retain(|s| s.get("Sid").and_then(Value::as_str) != Some(label));
    if list.len() == before {
        return Err(missing());
    }
    Ok(if list.is_empty() { None } else { Some(doc.to_string()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_then_remove_round_trips_to_no_policy() {
        let arn = "arn:aws:sqs:us-east-1:000000000000:q";
        let p = add_statement(None, arn, "l1", &["111122223333".into()], &["SendMessage".into()]).unwrap();
        let v: Value = serde_json::from_str(&p).unwrap();
        assert_eq!(v["Statement"][0]["Principal"]["AWS"], "arn:aws:iam::111122223333:root");
        assert_eq!(v["Statement"][0]["Action"], "SQS:SendMessage");
        assert_eq!(v["Statement"][0]["Resource"], arn);
        assert!(add_statement(Some(&p), arn, "l1", &["111122223333".into()], &["SendMessage".into()]).is_err());
        assert_eq!(remove_statement(Some(&p), "l1").unwrap(), None);
        assert!(remove_statement(Some(&p), "nope").is_err());
    }
}
