//! Queues declared in the config file, created or brought up to date at start.
//!
//! The config is the source of truth for what it names: a declared queue is created if it
//! is missing; if it exists, the attributes and tags its declaration names are set to the
//! declared values. Nothing is removed: attributes and tags a declaration does not name, and
//! queues the config does not name, are left as they are.
//!
//! Every step goes through the engine's own calls (CreateQueue, SetQueueAttributes,
//! TagQueue, as the configured account), so a declaration obeys exactly the rules a client
//! does. To refuse a bad declaration before anything changes, the whole set is first
//! rehearsed on a scratch in-memory engine holding a copy of the account's queues (their
//! settable attributes and tags); only if every step passes there are the same steps run on
//! the real engine. The steps go in two passes — every queue with its attributes and tags,
//! then every RedrivePolicy — so a dead-letter queue may be declared after its source, and
//! two queues may even be each other's.

use std::collections::BTreeMap;
use std::sync::Arc;

use engine::{Caller, Engine, EngineConfig, Error, QueueId};

use crate::config::QueueDeclaration;

/// Why the declarations were not applied: the one line `redrive` prints before it exits.
#[derive(Debug, thiserror::Error)]
#[error("declared queue {queue}: {what}: {reason}")]
pub struct Refused {
    pub queue: String,
    /// What of the declaration was refused: `name`, `attribute X`, `dead_letter_queue`,
    /// `tags`...
    pub what: String,
    /// AWS's error code and message.
    pub reason: String,
}

impl Refused {
    fn new(queue: &str, what: impl Into<String>, e: &Error) -> Refused {
        let api = crate::errors::to_api(e);
        Refused { queue: queue.to_string(), what: what.into(), reason: format!("{:?}: {}", api.code, api.message) }
    }
}

/// One declaration, resolved: its RedrivePolicy (written out, or built from the shorthand)
/// apart from the other attributes, since it is set in the second pass.
struct Plan<'a> {
    name: &'a str,
    attributes: BTreeMap<String, String>,
    tags: &'a BTreeMap<String, String>,
    /// The RedrivePolicy value, and how the declaration wrote it (for the refusal line).
    redrive: Option<(String, &'static str)>,
}

/// Create or bring up to date every declared queue of `engine`'s account, after a rehearsal
/// on a scratch engine has accepted every step. Changes nothing if any step is refused.
pub async fn declare(engine: &Engine, declarations: &[QueueDeclaration]) -> Result<(), Refused> {
    if declarations.is_empty() {
        return Ok(());
    }
    let config = engine.config().clone();
    let caller = Caller::new(config.account_id.clone(), None);
    let plans: Vec<Plan<'_>> = declarations.iter().map(|d| plan(d, &config)).collect();
    let scratch = copy_of(engine, &caller).await?;
    apply(&scratch, &caller, &plans, true).await?;
    apply(engine, &caller, &plans, false).await?;
    tracing::info!(queues = plans.len(), "declared queues are up to date");
    Ok(())
}

fn plan<'a>(d: &'a QueueDeclaration, config: &EngineConfig) -> Plan<'a> {
    let mut attributes = d.attributes.clone();
    let written = attributes.remove("RedrivePolicy").map(|raw| (raw, "attribute RedrivePolicy"));
    let shorthand = (d.dead_letter_queue.is_some() || d.max_receive_count.is_some()).then(|| {
        // Only what was given: the engine refuses a policy missing either part, in AWS's words.
        let mut policy = serde_json::Map::new();
        if let Some(dlq) = &d.dead_letter_queue {
            let arn = QueueId::new(config.account_id.clone(), dlq.clone()).arn(&config.region);
            policy.insert("deadLetterTargetArn".into(), arn.into());
        }
        if let Some(n) = d.max_receive_count {
            policy.insert("maxReceiveCount".into(), n.into());
        }
        (serde_json::Value::Object(policy).to_string(), "dead_letter_queue")
    });
    Plan { name: &d.name, attributes, tags: &d.tags, redrive: written.or(shorthand) }
}

/// A scratch in-memory engine with the account's queues as `engine` has them.
async fn copy_of(engine: &Engine, caller: &Caller) -> Result<Engine, Refused> {
    let scratch = Engine::in_memory(engine.config().clone(), Arc::clone(engine.clock()));
    let internal = |name: &str, e: Error| Refused::new(name, "copying the existing queue for a check", &e);
    let mut token: Option<String> = None;
    loop {
        let (ids, next) =
            engine.list_queues(caller, None, Some(1000), token.as_deref()).map_err(|e| internal("-", e))?;
        for id in ids {
            let attributes: BTreeMap<String, String> = engine
                .get_queue_attributes(caller, &id, &["All".to_string()])
                .map_err(|e| internal(&id.name, e))?
                .into_iter()
                .filter(|(k, _)| is_settable(k) && k != "RedrivePolicy")
                .collect();
            let tags = engine.list_queue_tags(caller, &id).map_err(|e| internal(&id.name, e))?;
            scratch.create_queue(caller, &id.name, &attributes, &tags).await.map_err(|e| internal(&id.name, e))?;
        }
        match next {
            Some(t) => token = Some(t),
            None => return Ok(scratch),
        }
    }
}

/// The attributes GetQueueAttributes shows that SetQueueAttributes does not take.
fn is_settable(name: &str) -> bool {
    !matches!(name, "QueueArn" | "CreatedTimestamp" | "LastModifiedTimestamp") && !name.starts_with("Approximate")
}

/// The two passes, on `engine`. `rehearsal`: on a refused attribute, find which one (the
/// scratch engine may be changed while looking).
async fn apply(engine: &Engine, caller: &Caller, plans: &[Plan<'_>], rehearsal: bool) -> Result<(), Refused> {
    for p in plans {
        let id = caller.queue(p.name);
        if engine.queue_for(caller, &id).is_err() {
            let fifo: BTreeMap<String, String> = [("FifoQueue".to_string(), "true".to_string())]
                .into_iter()
                .filter(|_| p.name.ends_with(".fifo"))
                .collect();
            engine
                .create_queue(caller, p.name, &fifo, &BTreeMap::new())
                .await
                .map_err(|e| Refused::new(p.name, "name", &e))?;
        }
        let changed = differing(engine, caller, &id, &p.attributes);
        if !changed.is_empty() {
            if let Err(e) = engine.set_queue_attributes(caller, &id, &changed).await {
                let what = if rehearsal { culprit(engine, caller, &id, &changed).await } else { None };
                return Err(Refused::new(p.name, what.unwrap_or_else(|| attribute_names(&changed)), &e));
            }
        }
        let current = engine.list_queue_tags(caller, &id).map_err(|e| Refused::new(p.name, "tags", &e))?;
        if p.tags.iter().any(|(k, v)| current.get(k) != Some(v)) {
            engine.tag_queue(caller, &id, p.tags).await.map_err(|e| Refused::new(p.name, "tags", &e))?;
        }
    }
    for p in plans {
        let Some((policy, written)) = &p.redrive else { continue };
        let id = caller.queue(p.name);
        let changed = differing(engine, caller, &id, &BTreeMap::from([("RedrivePolicy".to_string(), policy.clone())]));
        if !changed.is_empty() {
            engine.set_queue_attributes(caller, &id, &changed).await.map_err(|e| Refused::new(p.name, *written, &e))?;
        }
    }
    Ok(())
}

/// The declared attributes whose value differs from the queue's: an unchanged config changes
/// nothing, not even LastModifiedTimestamp.
fn differing(
    engine: &Engine,
    caller: &Caller,
    id: &QueueId,
    declared: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let names: Vec<String> = declared.keys().cloned().collect();
    // An unknown name makes this fail: then every attribute is set, and the engine refuses it.
    let current: BTreeMap<String, String> =
        engine.get_queue_attributes(caller, id, &names).unwrap_or_default().into_iter().collect();
    declared.iter().filter(|(k, v)| current.get(*k) != Some(*v)).map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// The first attribute that the engine refuses on its own, if one is.
async fn culprit(
    engine: &Engine,
    caller: &Caller,
    id: &QueueId,
    attributes: &BTreeMap<String, String>,
) -> Option<String> {
    for (name, value) in attributes {
        let one = BTreeMap::from([(name.clone(), value.clone())]);
        if engine.set_queue_attributes(caller, id, &one).await.is_err() {
            return Some(format!("attribute {name}"));
        }
    }
    None
}

fn attribute_names(attributes: &BTreeMap<String, String>) -> String {
    let names: Vec<&str> = attributes.keys().map(String::as_str).collect();
    format!("attributes {}", names.join(", "))
}
