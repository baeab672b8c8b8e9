//! The one access decision: may this caller do this action to this queue? A caller reaches its
//! own account's queues, and another account's queue only where the queue's `Policy` allows it;
//! an explicit `Deny` in the policy wins over everything (as IAM evaluates a resource policy).
//!
//! The policy language is the part SQS users write (IAM's JSON policy reference): `Effect`
//! Allow / Deny; `Principal` / `NotPrincipal` as `"*"`, an account id, an account's root ARN, or
//! `{"AWS": …}` of those; `Action` / `NotAction` with `*` and `?` wildcards, case-insensitive
//! (`sqs:Send*`); `Resource` / `NotResource` with wildcards; `Condition` with the String, Arn,
//! Bool, Date, Numeric, IpAddress and Null operators, `…IfExists`, over the keys a request here
//! has: `aws:SourceAccount`, `aws:SourceArn` (never set by a direct call), `aws:SecureTransport`,
//! `aws:SourceIp`, `aws:CurrentTime`, `aws:EpochTime`, `aws:PrincipalAccount`,
//! `aws:PrincipalArn`. A condition this module cannot evaluate does not hold.

use std::net::IpAddr;

use serde_json::Value;

use crate::clock::Millis;

/// What is asked, by whom, in what circumstances.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The SQS action, e.g. `SendMessage`.
    pub action: &'a str,
    /// The queue's ARN.
    pub resource: &'a str,
    /// The queue's account.
    pub owner: &'a str,
    /// The caller's account.
    pub account: &'a str,
    pub source_ip: Option<IpAddr>,
    pub secure_transport: bool,
    pub now: Millis,
}

/// What a policy says of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A statement allows it and none denies it.
    Allowed,
    /// A statement denies it.
    Denied,
    /// No statement speaks of it.
    Silent,
}

/// May the request go ahead, given the queue's policy (if any)?
pub fn permits(policy: Option<&str>, request: &Request<'_>) -> bool {
    match policy.map(|p| verdict(p, request)).unwrap_or(Verdict::Silent) {
        Verdict::Denied => false,
        Verdict::Allowed => true,
        Verdict::Silent => request.account == request.owner,
    }
}

/// What the policy document `policy` says of the request. A document that is not JSON says
/// nothing (policies are checked when set).
pub fn verdict(policy: &str, request: &Request<'_>) -> Verdict {
    let Ok(doc) = serde_json::from_str::<Value>(policy) else { return Verdict::Silent };
    let statements: Vec<&Value> = match doc.get("Statement") {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => return Verdict::Silent,
    };
    let mut allowed = false;
    for s in statements {
        if !applies(s, request) {
            continue;
        }
        match s.get("Effect").and_then(Value::as_str) {
            Some("Deny") => return Verdict::Denied,
            Some("Allow") => allowed = true,
            _ => {}
        }
    }
    if allowed {
        Verdict::Allowed
    } else {
        Verdict::Silent
    }
}

fn applies(s: &Value, r: &Request<'_>) -> bool {
    let action = format!("sqs:{}", r.action);
    let principal = match (s.get("Principal"), s.get("NotPrincipal")) {
        (Some(p), _) => principal_matches(p, r.account),
        (None, Some(p)) => !principal_matches(p, r.account),
        (None, None) => false,
    };
    let action_matches =
        |v: &Value| strings(v).iter().any(|p| glob(&p.to_ascii_lowercase(), &action.to_ascii_lowercase()));
    let actions = match (s.get("Action"), s.get("NotAction")) {
        (Some(a), _) => action_matches(a),
        (None, Some(a)) => !action_matches(a),
        (None, None) => false,
    };
    let resource_matches = |v: &Value| strings(v).iter().any(|p| glob(p, r.resource));
    let resources = match (s.get("Resource"), s.get("NotResource")) {
        (Some(v), _) => resource_matches(v),
        (None, Some(v)) => !resource_matches(v),
        // A queue's own policy speaks of the queue.
        (None, None) => true,
    };
    principal && actions && resources && s.get("Condition").is_none_or(|c| conditions_hold(c, r))
}

/// `"*"`, an account id, `arn:aws:iam::ACCOUNT:root` (or a pattern of one), or `{"AWS": …}`.
fn principal_matches(p: &Value, account: &str) -> bool {
    let one = |text: &str| {
        text == "*"
            || text == account
            || glob(text, &format!("arn:aws:iam::{account}:root"))
            || crate::queue_id::parse_arn(text).is_some_and(|a| a.service == "iam" && a.account == account)
    };
    match p {
        Value::String(s) => one(s),
        Value::Object(map) => map.get("AWS").is_some_and(|v| strings(v).iter().any(|s| one(s))),
        _ => false,
    }
}

/// A string or a list of strings.
fn strings(v: &Value) -> Vec<&str> {
    match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// IAM's wildcards: `*` any run of characters, `?` any one.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Every operator's every key must hold (AND); a key holds if any of its values does (OR).
fn conditions_hold(conditions: &Value, r: &Request<'_>) -> bool {
    let Some(operators) = conditions.as_object() else { return false };
    operators.iter().all(|(operator, keys)| {
        let Some(keys) = keys.as_object() else { return false };
        keys.iter().all(|(key, values)| condition_holds(operator, key, &strings(values), r))
    })
}

fn condition_holds(operator: &str, key: &str, wanted: &[&str], r: &Request<'_>) -> bool {
    let (operator, if_exists) = match operator.strip_suffix("IfExists") {
        Some(op) => (op, true),
        None => (operator, false),
    };
    let actual = context_value(key, r);
    if operator == "Null" {
        let is_null = actual.is_none();
        return wanted.iter().any(|w| w.eq_ignore_ascii_case(if is_null { "true" } else { "false" }));
    }
    let negated = operator.contains("Not");
    let Some(actual) = actual else {
        // A missing key: a negated operator holds, a positive one only with IfExists.
        return negated || if_exists;
    };
    let any = |f: &dyn Fn(&str) -> bool| wanted.iter().any(|w| f(w));
    let millis = |s: &str| parse_time(s);
    match operator {
        "StringEquals" | "ArnEquals" => any(&|w| w == actual),
        "StringNotEquals" | "ArnNotEquals" => !any(&|w| w == actual),
        "StringEqualsIgnoreCase" => any(&|w| w.eq_ignore_ascii_case(&actual)),
        "StringNotEqualsIgnoreCase" => !any(&|w| w.eq_ignore_ascii_case(&actual)),
        "StringLike" | "ArnLike" => any(&|w| glob(w, &actual)),
        "StringNotLike" | "ArnNotLike" => !any(&|w| glob(w, &actual)),
        "Bool" => any(&|w| w.eq_ignore_ascii_case(&actual)),
        "IpAddress" | "NotIpAddress" => {
            let Ok(ip) = actual.parse::<IpAddr>() else { return negated };
            let inside = any(&|w| in_network(w, ip));
            inside != negated
        }
        "NumericEquals"
        | "NumericNotEquals"
        | "NumericLessThan"
        | "NumericLessThanEquals"
        | "NumericGreaterThan"
        | "NumericGreaterThanEquals" => {
            let Ok(a) = actual.parse::<f64>() else { return false };
            compare(operator.trim_start_matches("Numeric"), a, wanted.iter().filter_map(|w| w.parse::<f64>().ok()))
        }
        "DateEquals"
        | "DateNotEquals"
        | "DateLessThan"
        | "DateLessThanEquals"
        | "DateGreaterThan"
        | "DateGreaterThanEquals" => {
            let Some(a) = millis(&actual) else { return false };
            compare(
                operator.trim_start_matches("Date"),
                a as f64,
                wanted.iter().filter_map(|w| millis(w).map(|m| m as f64)),
            )
        }
        _ => false,
    }
}

fn compare(how: &str, actual: f64, wanted: impl Iterator<Item = f64>) -> bool {
    let mut wanted = wanted.peekable();
    if wanted.peek().is_none() {
        return false;
    }
    match how {
        "Equals" => wanted.into_iter().any(|w| actual == w),
        "NotEquals" => wanted.into_iter().all(|w| actual != w),
        "LessThan" => wanted.into_iter().any(|w| actual < w),
        "LessThanEquals" => wanted.into_iter().any(|w| actual <= w),
        "GreaterThan" => wanted.into_iter().any(|w| actual > w),
        "GreaterThanEquals" => wanted.into_iter().any(|w| actual >= w),
        _ => false,
    }
}

/// An address or CIDR block holds the IP.
fn in_network(cidr: &str, ip: IpAddr) -> bool {
    match cidr.parse::<ipnet::IpNet>() {
        Ok(net) => net.contains(&ip),
        Err(_) => cidr.parse::<IpAddr>().is_ok_and(|a| a == ip),
    }
}

/// Epoch milliseconds of an ISO 8601 date-time or date, or of epoch seconds.
fn parse_time(text: &str) -> Option<Millis> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(text, &Rfc3339) {
        return u64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok();
    }
    if let Ok(d) = time::Date::parse(text, time::macros::format_description!("[year]-[month]-[day]")) {
        return u64::try_from(d.midnight().assume_utc().unix_timestamp()).ok().and_then(|s| s.checked_mul(1000));
    }
    // Seconds past what milliseconds can hold are no time a request has (found by fuzzing).
    text.parse::<u64>().ok().and_then(|s| s.checked_mul(1000))
}

/// The request's value for a condition key (case-insensitive), if it has one.
fn context_value(key: &str, r: &Request<'_>) -> Option<String> {
    match key.to_ascii_lowercase().as_str() {
        "aws:securetransport" => Some(r.secure_transport.to_string()),
        "aws:sourceip" => r.source_ip.map(|ip| ip.to_string()),
        "aws:currenttime" => time::OffsetDateTime::from_unix_timestamp((r.now / 1000) as i64)
            .ok()
            .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok()),
        "aws:epochtime" => Some((r.now / 1000).to_string()),
        "aws:principalaccount" => Some(r.account.to_string()),
        "aws:principalarn" => Some(format!("arn:aws:iam::{}:root", r.account)),
        // Set when a service (SNS, EventBridge …) sends on a resource's behalf; a direct call
        // has none.
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUEUE: &str = "arn:aws:sqs:us-east-1:111111111111:orders";

    fn request<'a>(action: &'a str, account: &'a str) -> Request<'a> {
        Request {
            action,
            resource: QUEUE,
            owner: "111111111111",
            account,
            source_ip: Some("10.0.0.7".parse().unwrap()),
            secure_transport: false,
            now: 1_700_000_000_000,
        }
    }

    fn policy(statements: &str) -> String {
        format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#)
    }

    #[test]
    fn without_a_policy_only_the_owner_reaches_its_queue() {
        assert!(permits(None, &request("SendMessage", "111111111111")));
        assert!(!permits(None, &request("SendMessage", "222222222222")));
    }

    #[test]
    fn an_allow_opens_the_queue_to_the_principals_and_actions_it_names_and_no_more() {
        let p = policy(
            r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::222222222222:root"},"Action":"sqs:Send*","Resource":"arn:aws:sqs:*:111111111111:*"}"#,
        );
        assert!(permits(Some(&p), &request("SendMessage", "222222222222")));
        assert!(permits(Some(&p), &request("SendMessageBatch", "222222222222")));
        assert!(!permits(Some(&p), &request("ReceiveMessage", "222222222222")), "another action");
        assert!(!permits(Some(&p), &request("SendMessage", "333333333333")), "another account");
        let everyone = policy(r#"{"Effect":"Allow","Principal":"*","Action":"SQS:*"}"#);
        assert!(permits(Some(&everyone), &request("DeleteMessage", "333333333333")), "case-insensitive actions");
        let by_id = policy(r#"{"Effect":"Allow","Principal":{"AWS":["222222222222"]},"Action":"sqs:ReceiveMessage"}"#);
        assert!(permits(Some(&by_id), &request("ReceiveMessage", "222222222222")));
    }

    #[test]
    fn an_explicit_deny_beats_an_allow_and_the_owner_too() {
        let p = policy(
            r#"{"Effect":"Allow","Principal":"*","Action":"sqs:*"},
               {"Effect":"Deny","Principal":"*","Action":"sqs:PurgeQueue"}"#,
        );
        assert!(permits(Some(&p), &request("SendMessage", "222222222222")));
        assert!(!permits(Some(&p), &request("PurgeQueue", "222222222222")));
        assert!(!permits(Some(&p), &request("PurgeQueue", "111111111111")), "the owner is denied too");
    }

    #[test]
    fn conditions_decide_with_the_requests_circumstances() {
        let tls_only = policy(
            r#"{"Effect":"Deny","Principal":"*","Action":"sqs:*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}"#,
        );
        assert!(!permits(Some(&tls_only), &request("SendMessage", "111111111111")));
        let secure = Request { secure_transport: true, ..request("SendMessage", "111111111111") };
        assert!(permits(Some(&tls_only), &secure));

        let network = policy(
            r#"{"Effect":"Allow","Principal":"*","Action":"sqs:SendMessage","Condition":{"IpAddress":{"aws:SourceIp":["10.0.0.0/24"]}}}"#,
        );
        assert!(permits(Some(&network), &request("SendMessage", "222222222222")));
        let elsewhere =
            Request { source_ip: Some("192.168.0.1".parse().unwrap()), ..request("SendMessage", "222222222222") };
        assert!(!permits(Some(&network), &elsewhere));

        let until = policy(
            r#"{"Effect":"Allow","Principal":"*","Action":"sqs:SendMessage","Condition":{"DateLessThan":{"aws:CurrentTime":"2023-11-15T00:00:00Z"}}}"#,
        );
        assert!(permits(Some(&until), &request("SendMessage", "222222222222")), "2023-11-14T22:13:20Z is before");
        let later = Request { now: 1_800_000_000_000, ..request("SendMessage", "222222222222") };
        assert!(!permits(Some(&until), &later));

        // An SNS-style grant: a direct call has no aws:SourceArn, so it does not hold …
        let sns = policy(
            r#"{"Effect":"Allow","Principal":"*","Action":"sqs:SendMessage","Condition":{"ArnEquals":{"aws:SourceArn":"arn:aws:sns:us-east-1:222222222222:topic"}}}"#,
        );
        assert!(!permits(Some(&sns), &request("SendMessage", "222222222222")));
        // … while a negated operator, or IfExists, holds of a missing key.
        let negated = policy(
            r#"{"Effect":"Allow","Principal":"*","Action":"sqs:SendMessage","Condition":{"StringNotEquals":{"aws:SourceAccount":"999999999999"}}}"#,
        );
        assert!(permits(Some(&negated), &request("SendMessage", "222222222222")));
        let account = policy(
            r#"{"Effect":"Allow","Principal":"*","Action":"sqs:SendMessage","Condition":{"StringEquals":{"aws:PrincipalAccount":"222222222222"}}}"#,
        );
        assert!(permits(Some(&account), &request("SendMessage", "222222222222")));
        assert!(!permits(Some(&account), &request("SendMessage", "333333333333")));
    }

    #[test]
    fn a_date_condition_of_more_epoch_seconds_than_milliseconds_hold_does_not_hold() {
        let p = policy(
            r#"{"Effect":"Allow","Principal":"*","Action":"sqs:SendMessage","Condition":{"DateLessThan":{"aws:CurrentTime":"18446744073709551615"}}}"#,
        );
        assert!(!permits(Some(&p), &request("SendMessage", "222222222222")));
        let ok = policy(
            r#"{"Effect":"Allow","Principal":"*","Action":"sqs:SendMessage","Condition":{"DateLessThan":{"aws:CurrentTime":"18446744073709551"}}}"#,
        );
        assert!(permits(Some(&ok), &request("SendMessage", "222222222222")), "the largest that fits is a time");
    }

    #[test]
    fn wildcards_match_as_iam_matches_them() {
        assert!(glob("sqs:*", "sqs:sendmessage"));
        assert!(glob("arn:aws:sqs:*:111111111111:ord?rs", QUEUE));
        assert!(!glob("arn:aws:sqs:*:111111111111:ord?rs", "arn:aws:sqs:us-east-1:111111111111:ordrs"));
        assert!(glob("*", ""));
        assert!(!glob("a*b", "ac"));
        assert!(glob("a*b*c", "a-b-b-c"));
    }
}
